//! The frame codec over tokio's `AsyncRead`/`AsyncWrite`, for the supervisor side of a pipe.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use wincode::{SchemaRead, SchemaWrite};

use crate::frame::{self, FrameError, HEADER_LEN, Wire};

/// Async frame reader; reuses one buffer across frames.
#[derive(Debug)]
pub struct Reader<R> {
    inner: R,
    max: u32,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    /// A reader that refuses frames larger than `max` bytes.
    pub fn new(inner: R, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    async fn fill(&mut self, header: &mut [u8; HEADER_LEN]) -> Result<(), FrameError> {
        let mut got = 0;
        while got < HEADER_LEN {
            match self.inner.read(&mut header[got..]).await? {
                0 if got == 0 => return Err(FrameError::Closed),
                0 => {
                    return Err(FrameError::Truncated { got, want: HEADER_LEN });
                }
                n => got += n,
            }
        }
        Ok(())
    }

    /// Reads the next frame and returns its payload.
    pub async fn read_payload(&mut self) -> Result<&[u8], FrameError> {
        let mut header = [0u8; HEADER_LEN];
        self.fill(&mut header).await?;
        let len = frame::payload_len(header, self.max)?;
        self.buf.resize(len, 0);
        let mut got = 0;
        while got < len {
            match self.inner.read(&mut self.buf[got..]).await? {
                0 => return Err(FrameError::Truncated { got, want: len }),
                n => got += n,
            }
        }
        Ok(&self.buf)
    }

    /// Reads and decodes the next frame.
    pub async fn recv<T>(&mut self) -> Result<T, FrameError>
    where
        T: for<'de> SchemaRead<'de, Wire, Dst = T>,
    {
        let payload = self.read_payload().await?;
        frame::decode(payload)
    }
}

/// Async frame writer; reuses one buffer across frames and flushes after each.
#[derive(Debug)]
pub struct Writer<W> {
    inner: W,
    max: u32,
    buf: Vec<u8>,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    /// A writer that refuses to send frames larger than `max` bytes.
    pub fn new(inner: W, max: u32) -> Self {
        Self {
            inner,
            max,
            buf: Vec::new(),
        }
    }

    /// Encodes and sends one message as a frame.
    pub async fn send<T>(&mut self, msg: &T) -> Result<(), FrameError>
    where
        T: SchemaWrite<Wire, Src = T>,
    {
        frame::encode_into(msg, self.max, &mut self.buf)?;
        self.send_raw_frame().await
    }

    /// Sends one message encoded by `encode` (e.g. [`crate::envelope::Protocol::encode_down`]).
    pub async fn send_with(
        &mut self,
        encode: impl FnOnce(u32, &mut Vec<u8>) -> Result<(), FrameError>,
    ) -> Result<(), FrameError> {
        encode(self.max, &mut self.buf)?;
        self.send_raw_frame().await
    }

    async fn send_raw_frame(&mut self) -> Result<(), FrameError> {
        self.inner.write_all(&self.buf).await?;
        self.inner.flush().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::Down;
    use crate::infer;

    #[tokio::test]
    async fn round_trip_over_a_duplex_pipe() {
        let (a, b) = tokio::io::duplex(64);
        let mut w = Writer::new(a, 1 << 20);
        let mut r = Reader::new(b, 1 << 20);
        let msg = infer::ToWorker::Request {
            id: 42,
            body: infer::Request::GetInfo(infer::GetInfo),
        };
        let sent = msg.clone();
        let task = tokio::spawn(async move { w.send(&sent).await.unwrap() });
        assert_eq!(r.recv::<infer::ToWorker>().await.unwrap(), msg);
        task.await.unwrap();
        assert!(matches!(
            r.recv::<Down<infer::Request>>().await,
            Err(FrameError::Closed)
        ));
    }

    #[tokio::test]
    async fn oversized_header_is_refused() {
        let (mut a, b) = tokio::io::duplex(64);
        a.write_all(&u32::MAX.to_le_bytes()).await.unwrap();
        let mut r = Reader::new(b, 1024);
        assert!(matches!(r.read_payload().await, Err(FrameError::TooLarge { .. })));
    }
}
