//! Shaped onion links (privacy mode, `oarn_worker_net::shaped`): what the records, delays and
//! cover traffic cost. Both ends of one Unix socket pair are shaped, as two privacy-mode
//! nodes shape their link; the baseline, in the same run, is the bare socket pair.
//!
//! - throughput of 16 MiB with the default delays (0 to 50 ms per record), and of 512 KiB
//!   with cover traffic at the default 25 Hz (8 records per tick caps a link at about
//!   100 KB/s each way);
//! - latency of one 100-byte message, median of 20.
//!
//! `cargo bench -p oarn-worker-net --bench shaping`. Tor's own cost is in `bench/privacy`.

use std::time::{Duration, Instant};

use oarn_worker_net::{shape, shaped};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::either::Either;

const SIZE: usize = 16 << 20;
const COVER_SIZE: usize = 512 << 10;
const ROUNDS: usize = 3;
const PINGS: usize = 20;

fn defaults(cover_hz: u32) -> shape::Config {
    shape::Config {
        min_delay: Duration::ZERO,
        max_delay: Duration::from_millis(50),
        cover_hz,
    }
}

/// Both ends of a socket pair, shaped with `config` or bare.
fn link(
    config: Option<shape::Config>,
) -> (
    impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
    impl AsyncRead + AsyncWrite + Unpin + Send + 'static,
) {
    let (a, b) = tokio::net::UnixStream::pair().expect("socket pair");
    match config {
        Some(c) => (Either::Right(shaped::wrap(a, c)), Either::Right(shaped::wrap(b, c))),
        None => (Either::Left(a), Either::Left(b)),
    }
}

/// Seconds to move `size` bytes from one end to the other, until the reader sees the end.
async fn throughput(config: Option<shape::Config>, size: usize) -> f64 {
    let (mut tx, mut rx) = link(config);
    let start = Instant::now();
    let writer = tokio::spawn(async move {
        tx.write_all(&vec![7u8; size]).await.expect("write");
        tx.shutdown().await.expect("shutdown");
        tx
    });
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0;
    loop {
        let n = rx.read(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        got += n;
    }
    assert_eq!(got, size);
    let _ = writer.await;
    start.elapsed().as_secs_f64()
}

/// Median milliseconds from writing a 100-byte message to reading all of it.
async fn latency(config: Option<shape::Config>) -> f64 {
    let (mut tx, mut rx) = link(config);
    let mut samples = Vec::new();
    let mut buf = [0u8; 100];
    for _ in 0..PINGS {
        let start = Instant::now();
        tx.write_all(&[1u8; 100]).await.expect("write");
        rx.read_exact(&mut buf).await.expect("read");
        samples.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn best(times: Vec<f64>) -> f64 {
    times.into_iter().fold(f64::INFINITY, f64::min)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mb = |bytes: usize, secs: f64| bytes as f64 / secs / 1e6;
    let mut bare = Vec::new();
    let mut shaped = Vec::new();
    for _ in 0..ROUNDS {
        bare.push(throughput(None, SIZE).await);
        shaped.push(throughput(Some(defaults(0)), SIZE).await);
    }
    let (bare, shaped) = (best(bare), best(shaped));
    println!(
        "16 MiB: bare {:.1} MB/s, shaped (delays 0-50 ms) {:.1} MB/s: {:.2}x the bare time",
        mb(SIZE, bare),
        mb(SIZE, shaped),
        shaped / bare
    );
    let bare_small = best(vec![throughput(None, COVER_SIZE).await]);
    let cover = throughput(Some(defaults(25)), COVER_SIZE).await;
    println!(
        "512 KiB with cover at 25 Hz: {:.3} MB/s (cap {:.3} MB/s): {:.0}x the bare time",
        mb(COVER_SIZE, cover),
        25.0 * (shape::BATCH * shape::PAYLOAD) as f64 / 1e6,
        cover / bare_small
    );
    let (l_bare, l_shaped) = (latency(None).await, latency(Some(defaults(0))).await);
    println!("100-byte message, median of {PINGS}: bare {l_bare:.3} ms, shaped {l_shaped:.1} ms");
}
