//! A shaped link ([`crate::shape`]) on a real stream: the swarm reads and writes one end of
//! an in-memory pipe, and one task moves the bytes between the pipe's other end and the raw
//! stream, as fixed-size records on the sender's schedule. Bounded by the pipe's buffer and
//! the sender's queue; when either direction fails, both close.

use std::io;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::time::Instant;

use crate::shape::{self, RECORD, Sender};

/// Bytes the pipe between the swarm and the link buffers each way.
const PIPE: usize = 64 * 1024;

/// Shapes `raw` with `config`: the returned stream is what the swarm uses.
pub fn wrap<S>(raw: S, config: shape::Config) -> DuplexStream
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    wrap_with(raw, Sender::new(config, Instant::now()))
}

/// [`wrap`] with a given sender (tests fix its randomness).
pub fn wrap_with<S>(raw: S, sender: Sender) -> DuplexStream
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (app, inner) = tokio::io::duplex(PIPE);
    tokio::spawn(async move {
        let (raw_r, raw_w) = tokio::io::split(raw);
        let (inner_r, inner_w) = tokio::io::split(inner);
        // On the first error both directions are dropped: the swarm's end then reads EOF
        // and its writes fail, and the raw stream closes.
        if let Err(e) = tokio::try_join!(inbound(raw_r, inner_w), outbound(inner_r, raw_w, sender)) {
            tracing::debug!(error = %e, "shaped link closed");
        }
    });
    app
}

/// Records from the peer, their payloads to the swarm; cover records dropped.
async fn inbound(mut raw: impl AsyncRead + Unpin, mut app: impl AsyncWrite + Unpin) -> io::Result<()> {
    let mut record = [0u8; RECORD];
    loop {
        match raw.read_exact(&mut record).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let payload = shape::decode(&record).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if !payload.is_empty() {
            app.write_all(payload).await?;
        }
    }
    app.shutdown().await
}

/// Bytes from the swarm, as records when the sender says; at the swarm's end of stream the
/// queue is sent out on the same schedule, then the raw stream is shut for writing.
async fn outbound(
    mut app: impl AsyncRead + Unpin,
    mut raw: impl AsyncWrite + Unpin,
    mut sender: Sender,
) -> io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut open = true;
    let mut out = Vec::new();
    loop {
        if !open && sender.idle() {
            break;
        }
        let room = sender.room().min(buf.len());
        let wake = sender.wake_at();
        tokio::select! {
            read = app.read(&mut buf[..room]), if open && room > 0 => match read {
                // The clock keeps its pace until the queue is empty: flushing it at once would
                // show how much was queued.
                Ok(0) | Err(_) => open = false,
                Ok(n) => sender.push(&buf[..n], Instant::now()),
            },
            () = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {}
            else => break,
        }
        sender.due(Instant::now(), &mut out);
        if !out.is_empty() {
            // One write per batch: its records leave together.
            raw.write_all(&out.concat()).await?;
            out.clear();
        }
    }
    raw.shutdown().await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::shape::{Config, PAYLOAD};

    fn config(max_ms: u64, cover_hz: u32) -> Config {
        Config {
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(max_ms),
            cover_hz,
        }
    }

    #[tokio::test]
    async fn bytes_cross_a_shaped_link_both_ways_as_fixed_size_records() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        // One end shaped, the other read raw: everything on the wire is whole records.
        let mut app = wrap(a, config(5, 0));
        let (mut raw_r, mut raw_w) = b.into_split();
        let message: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        app.write_all(&message).await.unwrap();
        app.shutdown().await.unwrap();
        let mut wire = Vec::new();
        raw_r.read_to_end(&mut wire).await.unwrap();
        assert_eq!(wire.len() % RECORD, 0, "{} bytes on the wire", wire.len());
        assert_eq!(wire.len() / RECORD, message.len().div_ceil(PAYLOAD));
        let got: Vec<u8> = wire
            .chunks(RECORD)
            .flat_map(|r| shape::decode(r.try_into().unwrap()).unwrap().to_vec())
            .collect();
        assert_eq!(got, message);
        // And the other way: records in, bytes out, cover dropped.
        raw_w.write_all(&shape::cover()).await.unwrap();
        raw_w.write_all(&shape::encode(b"reply")).await.unwrap();
        raw_w.shutdown().await.unwrap();
        let mut reply = Vec::new();
        app.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"reply");
    }

    /// The two-sample Kolmogorov-Smirnov test: the p-value of "both samples come from one
    /// distribution" (asymptotic, as in Numerical Recipes' `kstwo`). Fifteen lines written
    /// here rather than a statistics crate for one test.
    fn ks_p_value(mut a: Vec<f64>, mut b: Vec<f64>) -> f64 {
        a.sort_by(f64::total_cmp);
        b.sort_by(f64::total_cmp);
        let (n, m) = (a.len() as f64, b.len() as f64);
        let (mut i, mut j, mut d) = (0, 0, 0f64);
        while i < a.len() && j < b.len() {
            let x = a[i].min(b[j]);
            while i < a.len() && a[i] <= x {
                i += 1;
            }
            while j < b.len() && b[j] <= x {
                j += 1;
            }
            d = d.max((i as f64 / n - j as f64 / m).abs());
        }
        let en = (n * m / (n + m)).sqrt();
        let lambda = (en + 0.12 + 0.11 / en) * d;
        let q: f64 = (1..=100)
            .map(|k| {
                let k = f64::from(k);
                2.0 * if k % 2.0 == 1.0 { 1.0 } else { -1.0 } * (-2.0 * k * k * lambda * lambda).exp()
            })
            .sum();
        q.clamp(0.0, 1.0)
    }

    /// Gaps in milliseconds between the `count` batches of `batch` records the raw end
    /// receives after `warmup` batches, while `load` writes to the shaped end.
    async fn gaps(sender: Sender, batch: usize, count: usize, load: Load) -> Vec<f64> {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let mut app = wrap_with(a, sender);
        let (mut raw, _keep) = b.into_split();
        tokio::spawn(async move {
            let chunk = vec![9u8; 4096];
            loop {
                let r = match load {
                    Load::Busy => app.write_all(&chunk).await,
                    Load::Light => {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        app.write_all(b"ping").await
                    }
                };
                if r.is_err() {
                    break;
                }
            }
        });
        let mut buf = vec![0u8; batch * RECORD];
        let mut last = None;
        let mut out = Vec::new();
        for _ in 0..count + 5 {
            raw.read_exact(&mut buf).await.unwrap();
            let now = Instant::now();
            if let Some(prev) = last.replace(now) {
                out.push((now - prev).as_secs_f64() * 1000.0);
            }
        }
        out.split_off(4)
    }

    #[derive(Clone, Copy)]
    enum Load {
        Busy,
        Light,
    }

    #[tokio::test(start_paused = true)]
    async fn with_cover_traffic_a_busy_link_cannot_be_told_from_a_light_one() {
        // The runtime's clock is paused, so the gaps are the shaper's schedule and not the
        // test machine's load; the negative control shows the test sees a difference when
        // there is one.
        let cover = Config {
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(5),
            cover_hz: 200,
        };
        let now = Instant::now();
        let light = gaps(Sender::seeded(cover, now, 11), shape::BATCH, 400, Load::Light).await;
        let busy = gaps(Sender::seeded(cover, now, 12), shape::BATCH, 400, Load::Busy).await;
        let p = ks_p_value(light, busy);
        assert!(p > 0.01, "with cover, light and busy gaps differ: p = {p}");

        let bare = Config { cover_hz: 0, ..cover };
        let light = gaps(Sender::seeded(bare, now, 13), 1, 200, Load::Light).await;
        let busy = gaps(Sender::seeded(bare, now, 14), 1, 200, Load::Busy).await;
        let p = ks_p_value(light, busy);
        assert!(p < 0.01, "without cover the test must see the difference: p = {p}");
    }

    /// Closing a link with cover traffic flushed its whole queue at once, a burst that showed
    /// how much had been queued: the clock now keeps its pace until the queue is empty.
    #[tokio::test(start_paused = true)]
    async fn closing_a_link_with_cover_traffic_sends_no_burst() {
        let (a, b) = tokio::net::UnixStream::pair().unwrap();
        let cover = Config {
            cover_hz: 100,
            ..config(0, 0)
        };
        let mut app = wrap_with(a, Sender::seeded(cover, Instant::now(), 21));
        let (mut raw, _keep) = b.into_split();
        let data = vec![5u8; 40 * PAYLOAD];
        tokio::spawn(async move {
            app.write_all(&data).await.unwrap();
            app.shutdown().await.unwrap();
            app
        });
        let mut wire = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut writes = Vec::new();
        loop {
            let n = raw.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            writes.push(n);
            wire.extend_from_slice(&buf[..n]);
        }
        let carried: usize = wire
            .chunks(RECORD)
            .map(|r| shape::decode(r.try_into().unwrap()).unwrap().len())
            .sum();
        assert_eq!(carried, 40 * PAYLOAD);
        assert!(
            writes.iter().all(|&n| n == shape::BATCH * RECORD),
            "every tick sends one batch, the last ones too: {writes:?}"
        );
    }

    #[tokio::test]
    async fn a_peer_that_does_not_frame_records_is_cut_off() {
        let (a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let mut app = wrap(a, config(0, 0));
        // A plain multistream-select header is no record: its first two bytes claim 4911 bytes.
        let mut junk = b"\x13/multistream/1.0.0\n".to_vec();
        junk.resize(RECORD, b'x');
        b.write_all(&junk).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), app.read(&mut buf))
            .await
            .unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    }
}
