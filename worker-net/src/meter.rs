//! Every byte the node's protocols send and receive, counted per direction, under the
//! operator's upload and download rate limits (one token bucket per direction, shared by all
//! connections). It wraps each connection's stream muxer, so TCP (after Noise and Yamux) and
//! QUIC connections are counted and limited alike, and so are circuits this node relays for
//! others. The bytes are those of the protocol streams: encryption, muxer framing and packet
//! headers are not included. A stream that is over its direction's budget waits (its reads
//! or writes return `Pending` until the bucket refills), which backs up to the sender through
//! TCP's and QUIC's flow control.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use futures::{AsyncRead, AsyncWrite, Future};
use libp2p::core::muxing::{StreamMuxer, StreamMuxerBox, StreamMuxerEvent, SubstreamBox};

/// The smallest burst a limited direction allows, so one Yamux frame or Bitswap block never
/// waits on a bucket that can never hold it.
const MIN_BURST: u64 = 256 * 1024;

/// One direction: its byte count and its limit.
#[derive(Debug, Default)]
struct Direction {
    bytes: AtomicU64,
    /// Bytes per second; 0: no limit.
    limit: AtomicU64,
    bucket: Mutex<Bucket>,
}

/// Tokens are bytes; they go negative when a read or write takes more than there was, and
/// the next one waits until they are back above zero.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Default for Bucket {
    fn default() -> Self {
        Self {
            tokens: 0.0,
            at: Instant::now(),
        }
    }
}

impl Direction {
    /// Refills the bucket for the time since it was last looked at, and returns it.
    fn refill(&self, limit: u64) -> std::sync::MutexGuard<'_, Bucket> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let burst = limit.max(MIN_BURST) as f64;
        b.tokens = (b.tokens + now.duration_since(b.at).as_secs_f64() * limit as f64).min(burst);
        b.at = now;
        b
    }

    /// How long the next read or write must wait, if at all.
    fn delay(&self) -> Option<Duration> {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return None;
        }
        let b = self.refill(limit);
        (b.tokens < 0.0).then(|| Duration::from_secs_f64(-b.tokens / limit as f64))
    }

    /// Counts `n` bytes that went through, and takes them from the bucket.
    fn record(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let limit = self.limit.load(Ordering::Relaxed);
        if limit != 0 {
            self.refill(limit).tokens -= n as f64;
        }
    }

    fn set_limit(&self, limit: u64) {
        if self.limit.swap(limit, Ordering::Relaxed) != limit {
            // A new limit starts with a full burst, not with the old limit's debt.
            let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
            b.tokens = limit.max(MIN_BURST) as f64;
            b.at = Instant::now();
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    read: Direction,
    written: Direction,
}

/// The node's byte counts and rate limits; clones share them.
#[derive(Debug, Clone, Default)]
pub struct Meter(Arc<Inner>);

impl Meter {
    /// A meter with these limits, in bytes per second (0: no limit).
    pub fn new(upload: u64, download: u64) -> Self {
        let meter = Self::default();
        meter.set_limits(upload, download);
        meter
    }

    /// New limits, in bytes per second (0: no limit); they apply to open streams at once.
    pub fn set_limits(&self, upload: u64, download: u64) {
        self.0.written.set_limit(upload);
        self.0.read.set_limit(download);
    }

    /// Bytes received and sent on every stream so far.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.0.read.bytes.load(Ordering::Relaxed),
            self.0.written.bytes.load(Ordering::Relaxed),
        )
    }

    /// `muxer`, with each of its streams counted and limited by this meter.
    pub fn wrap(&self, muxer: StreamMuxerBox) -> StreamMuxerBox {
        StreamMuxerBox::new(Muxer {
            inner: muxer,
            meter: self.clone(),
        })
    }

    fn stream(&self, inner: SubstreamBox) -> Stream {
        Stream {
            inner,
            meter: self.clone(),
            read_wait: None,
            write_wait: None,
        }
    }
}

/// A connection whose streams are metered.
struct Muxer {
    inner: StreamMuxerBox,
    meter: Meter,
}

impl StreamMuxer for Muxer {
    type Substream = Stream;
    type Error = io::Error;

    fn poll_inbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, io::Error>> {
        let s = ready!(Pin::new(&mut self.inner).poll_inbound(cx))?;
        Poll::Ready(Ok(self.meter.stream(s)))
    }

    fn poll_outbound(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Stream, io::Error>> {
        let s = ready!(Pin::new(&mut self.inner).poll_outbound(cx))?;
        Poll::Ready(Ok(self.meter.stream(s)))
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<StreamMuxerEvent, io::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

/// A metered stream.
struct Stream {
    inner: SubstreamBox,
    meter: Meter,
    read_wait: Option<Pin<Box<tokio::time::Sleep>>>,
    write_wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Ready once `direction` has budget again; `wait` holds the timer meanwhile.
fn pace(direction: &Direction, wait: &mut Option<Pin<Box<tokio::time::Sleep>>>, cx: &mut Context<'_>) -> Poll<()> {
    loop {
        if let Some(sleep) = wait {
            ready!(sleep.as_mut().poll(cx));
            *wait = None;
        }
        match direction.delay() {
            None => return Poll::Ready(()),
            Some(d) => *wait = Some(Box::pin(tokio::time::sleep(d))),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(pace(&this.meter.0.read, &mut this.read_wait, cx));
        let n = ready!(Pin::new(&mut this.inner).poll_read(cx, buf))?;
        this.meter.0.read.record(n);
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        ready!(pace(&this.meter.0.written, &mut this.write_wait, cx));
        let n = ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.meter.0.written.record(n);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_limit_never_waits_and_counts_every_byte() {
        let m = Meter::new(0, 0);
        for _ in 0..10 {
            m.0.written.record(1 << 20);
            assert_eq!(m.0.written.delay(), None);
        }
        m.0.read.record(7);
        assert_eq!(m.totals(), (7, 10 << 20));
    }

    #[test]
    fn a_limited_direction_waits_for_its_debt_and_only_that_direction() {
        // 1 MiB/s up: the first burst is free, then 2 MiB beyond it is two seconds of debt.
        let m = Meter::new(1 << 20, 0);
        m.0.written.record(1 << 20);
        assert_eq!(m.0.written.delay(), None, "a full burst goes through at once");
        m.0.written.record(2 << 20);
        let d = m.0.written.delay().expect("over budget");
        assert!(d > Duration::from_millis(1900) && d <= Duration::from_secs(2), "{d:?}");
        assert_eq!(m.0.read.delay(), None);
    }

    #[test]
    fn lifting_a_limit_forgives_the_debt() {
        let m = Meter::new(1 << 20, 1 << 20);
        m.0.read.record(10 << 20);
        assert!(m.0.read.delay().is_some());
        m.set_limits(1 << 20, 0);
        assert_eq!(m.0.read.delay(), None);
        m.set_limits(1 << 20, 1 << 20);
        assert_eq!(m.0.read.delay(), None, "a new limit starts with a full burst");
    }
}
