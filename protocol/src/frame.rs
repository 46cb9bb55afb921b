//! Frame codec: a `u32` little-endian length, then a bincode payload encoded with wincode.
//!
//! The length is checked against the channel's limit before any buffer grows, and payloads
//! decode under a preallocation limit equal to the largest frame, so neither a frame header nor
//! a length inside a payload can make the reader allocate more than one frame's worth.

use std::io::{self, Read, Write};

use wincode::config::Configuration;
use wincode::{SchemaRead, SchemaWrite};

/// Largest frame a channel accepts unless configured otherwise: 16 MiB.
pub const DEFAULT_MAX_FRAME: u32 = 16 << 20;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 4;

/// Preallocation limit for decoding: no sequence inside a payload may claim more than this.
const PREALLOCATION_LIMIT: usize = DEFAULT_MAX_FRAME as usize;

/// The wincode configuration of the wire: bincode's defaults plus the preallocation limit.
pub type Wire = Configuration<true, PREALLOCATION_LIMIT>;

/// The configuration value used to encode and decode every payload.
pub const WIRE: Wire = Wire::new();

/// Why a frame could not be read, decoded or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer announced a frame larger than this channel accepts.
    #[error("frame of {len} bytes exceeds this channel's limit of {max} bytes")]
    TooLarge { len: u64, max: u32 },
    /// The peer closed the channel between frames.
    #[error("the channel was closed by the other side")]
    Closed,
    /// The peer closed the channel in the middle of a frame.
    #[error("the channel was closed in the middle of a frame ({got} of {want} bytes read)")]
    Truncated { got: usize, want: usize },
    /// The payload is not a valid encoding of the expected message.
    #[error("malformed frame payload: {0}")]
    Decode(#[from] wincode::ReadError),
    /// A message could not be encoded.
    #[error("could not encode a message: {0}")]
    Encode(#[from] wincode::WriteError),
    /// Reading or writing the underlying pipe failed.
    #[error("pipe I/O failed: {0}")]
    Io(#[from] io::Error),
}

/// Validates a frame header against the limit and returns the payload length.
pub fn payload_len(header: [u8; HEADER_LEN], max: u32) -> Result<usize, FrameError> {
    let len = u32::from_le_bytes(header);
    if len > max {
        return Err(FrameError::TooLarge { len: len.into(), max });
    }
    Ok(len as usize)
}

/// Encodes `msg` as a complete frame (header and payload) into `out`, which is cleared first.
pub fn encode_into<T>(msg: &T, max: u32, out: &mut Vec<u8>) -> Result<(), FrameError>
where
    T: SchemaWrite<Wire, Src = T>,
{
    out.clear();
    let size = wincode::config::serialized_size(msg, WIRE)?;
    if size > u64::from(max) {
        return Err(FrameError::TooLarge { len: size, max });
    }
    out.reserve(HEADER_LEN + size as usize);
    out.extend_from_slice(&(size as u32).to_le_bytes());
    wincode::config::serialize_into(&mut *out, msg, WIRE)?;
    Ok(())
}

/// Encodes `msg` as a complete frame.
pub fn encode<T>(msg: &T, max: u32) -> Result<Vec<u8>, FrameError>
where
    T: SchemaWrite<Wire, Src = T>,
{
    let mut out = Vec::new();
    encode_into(msg, max, &mut out)?;
    Ok(out)
}

/// Decodes one payload (without its header); trailing bytes are an error.
pub fn decode<'de, T>(payload: &'de [u8]) -> Result<T, FrameError>
where
    T: SchemaRead<'de, Wire, Dst = T>,
{
    Ok(wincode::config::deserialize_exact(payload, WIRE)?)
}

/// Reads `buf.len()` bytes, telling a clean close before the first byte from a truncation.
pub(crate) fn fill<R: Read>(r: &mut R, buf: &mut [u8], at_boundary: bool) -> Result<(), FrameError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 && at_boundary => return Err(FrameError::Closed),
            Ok(0) => {
                return Err(FrameError::Truncated { got, want: buf.len() });
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Blocking frame reader; reuses one buffer across frames.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    max: u32,
    buf: Vec<u8>,
}

impl<R: Read> Reader<R> {
    /// A reader that refuses frames larger than `max` bytes.
    pub fn new(inner: R, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    /// Reads the next frame and returns its payload.
    pub fn read_payload(&mut self) -> Result<&[u8], FrameError> {
        let mut header = [0u8; HEADER_LEN];
        fill(&mut self.inner, &mut header, true)?;
        let len = payload_len(header, self.max)?;
        self.buf.resize(len, 0);
        fill(&mut self.inner, &mut self.buf, false)?;
        Ok(&self.buf)
    }

    /// Reads and decodes the next frame.
    pub fn recv<T>(&mut self) -> Result<T, FrameError>
    where
        T: for<'de> SchemaRead<'de, Wire, Dst = T>,
    {
        let payload = self.read_payload()?;
        decode(payload)
    }
}

/// Blocking frame writer; reuses one buffer across frames and flushes after each.
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    max: u32,
    buf: Vec<u8>,
}

impl<W: Write> Writer<W> {
    /// A writer that refuses to send frames larger than `max` bytes.
    pub fn new(inner: W, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    /// Encodes and sends one message as a frame.
    pub fn send<T>(&mut self, msg: &T) -> Result<(), FrameError>
    where
        T: SchemaWrite<Wire, Src = T>,
    {
        encode_into(msg, self.max, &mut self.buf)?;
        self.flush_buf()
    }

    /// Sends one message encoded by `encode` (e.g. [`crate::envelope::Protocol::encode_up`]).
    pub fn send_with(
        &mut self,
        encode: impl FnOnce(u32, &mut Vec<u8>) -> Result<(), FrameError>,
    ) -> Result<(), FrameError> {
        encode(self.max, &mut self.buf)?;
        self.flush_buf()
    }

    fn flush_buf(&mut self) -> Result<(), FrameError> {
        self.inner.write_all(&self.buf)?;
        self.inner.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Down, Up};
    use crate::infer;

    type ToInfer = Down<infer::Request>;

    #[test]
    fn header_over_limit_is_refused_before_reading_payload() {
        let mut bytes = (DEFAULT_MAX_FRAME + 1).to_le_bytes().to_vec();
        bytes.extend_from_slice(&[0; 16]);
        let mut r = Reader::new(&bytes[..], DEFAULT_MAX_FRAME);
        let err = r.read_payload().unwrap_err();
        assert!(matches!(err, FrameError::TooLarge { len, .. } if len == u64::from(DEFAULT_MAX_FRAME) + 1));
        assert!(r.buf.capacity() < 1024, "no buffer was grown for a refused frame");
    }

    #[test]
    fn clean_close_and_truncation_are_told_apart() {
        let mut r = Reader::new(&[][..], 64);
        assert!(matches!(r.read_payload(), Err(FrameError::Closed)));
        let mut r = Reader::new(&[3, 0][..], 64);
        assert!(matches!(
            r.read_payload(),
            Err(FrameError::Truncated { got: 2, want: 4 })
        ));
        let mut r = Reader::new(&[8, 0, 0, 0, 1, 2][..], 64);
        assert!(matches!(
            r.read_payload(),
            Err(FrameError::Truncated { got: 2, want: 8 })
        ));
    }

    #[test]
    fn trailing_bytes_unknown_tags_and_huge_lengths_are_decode_errors() {
        let mut frame = encode(&ToInfer::Ping { nonce: 9 }, 64).unwrap();
        frame.push(0);
        assert!(matches!(
            decode::<ToInfer>(&frame[HEADER_LEN..]),
            Err(FrameError::Decode(_))
        ));
        assert!(matches!(decode::<ToInfer>(&[99, 0, 0, 0]), Err(FrameError::Decode(_))));
        // Reply with an error whose message claims u64::MAX bytes.
        let mut huge = vec![1, 0, 0, 0];
        huge.extend_from_slice(&7u64.to_le_bytes());
        huge.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        huge.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            decode::<Up<infer::Reply, infer::Event>>(&huge),
            Err(FrameError::Decode(_))
        ));
    }

    #[test]
    fn writer_refuses_frames_over_its_limit() {
        let mut sink = Vec::new();
        let mut w = Writer::new(&mut sink, 8);
        let big = ToInfer::Request {
            id: 1,
            body: infer::Request::GetInfo(infer::GetInfo),
        };
        assert!(
            w.send(&ToInfer::Ping { nonce: 1 }).is_err(),
            "12-byte payload over an 8-byte limit"
        );
        let mut w = Writer::new(&mut sink, 64);
        w.send(&big).unwrap();
        assert_eq!(
            u32::from_le_bytes(sink[..4].try_into().unwrap()) as usize,
            sink.len() - 4
        );
    }
}
