//! Traffic shaping on the links between privacy-mode nodes (their onion links), without I/O:
//! the byte stream travels as records of one size; each record waits an independent random
//! delay before it is sent; and with cover traffic a Poisson clock sends a fixed batch of
//! records on every tick, the queued ones first and cover records for the rest, so when and
//! how much a node sends says nothing of whether it has anything to send.
//!
//! A record is [`RECORD`] bytes: a big-endian `u16` payload length, the payload, zeros. A
//! length of 0 marks a cover record, which the receiver drops. [`crate::shaped`] runs this on
//! a real stream.

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

/// Bytes in a record: the payload of one Tor RELAY_DATA cell (509-byte cell body less the
/// 11-byte relay header), so each record fills one cell on the circuit.
pub const RECORD: usize = 498;
/// The length prefix.
const HEADER: usize = 2;
/// Most payload bytes in a record.
pub const PAYLOAD: usize = RECORD - HEADER;
/// Records per tick of the cover clock: with cover traffic a link carries at most
/// `rate × BATCH × PAYLOAD` bytes per second each way.
pub const BATCH: usize = 8;
/// Most records queued per link (about 250 KB); the link stops reading its swarm side
/// while the queue is full.
pub const MAX_QUEUED: usize = 512;
/// Highest cover clock rate accepted, per second.
pub const MAX_RATE_HZ: u32 = 1000;

/// How a link is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Config {
    /// Each record waits a delay drawn uniformly from `min_delay..=max_delay`.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Ticks per second of the cover clock (mean of a Poisson process); 0: no cover traffic,
    /// records are sent when their delay ends.
    pub cover_hz: u32,
}

impl From<oarn_protocol::net::Shape> for Config {
    fn from(s: oarn_protocol::net::Shape) -> Self {
        Self {
            min_delay: Duration::from_millis(s.min_delay_ms.into()),
            max_delay: Duration::from_millis(s.max_delay_ms.into()),
            cover_hz: s.cover_hz,
        }
    }
}

/// One record as it goes on the wire.
pub type Record = [u8; RECORD];

/// A record carrying `payload` (at most [`PAYLOAD`] bytes).
pub fn encode(payload: &[u8]) -> Record {
    debug_assert!(payload.len() <= PAYLOAD);
    let len = payload.len().min(PAYLOAD);
    let mut r = [0u8; RECORD];
    r[..HEADER].copy_from_slice(&(len as u16).to_be_bytes());
    r[HEADER..HEADER + len].copy_from_slice(&payload[..len]);
    r
}

/// A cover record: no payload.
pub fn cover() -> Record {
    [0u8; RECORD]
}

/// A record whose length prefix exceeds [`PAYLOAD`]: the peer does not speak this framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a shaped record claims {0} payload bytes; at most {PAYLOAD} fit")]
pub struct BadRecord(pub usize);

/// The payload of a received record; empty for a cover record.
pub fn decode(r: &Record) -> Result<&[u8], BadRecord> {
    let len = usize::from(u16::from_be_bytes([r[0], r[1]]));
    if len > PAYLOAD {
        return Err(BadRecord(len));
    }
    Ok(&r[HEADER..HEADER + len])
}

/// What a link sends and when: records queued with the time each may leave, and the cover
/// clock's next tick.
#[derive(Debug)]
pub struct Sender {
    config: Config,
    queue: VecDeque<(Instant, Record)>,
    /// When the last queued record may leave: records never overtake one another.
    last_due: Option<Instant>,
    next_tick: Option<Instant>,
    rng: StdRng,
}

impl Sender {
    /// A sender whose delays and cover clock draw from the operating system's randomness.
    pub fn new(config: Config, now: Instant) -> Self {
        Self::with_rng(config, now, StdRng::from_os_rng())
    }

    /// A sender whose draws are fixed by `seed` (tests).
    pub fn seeded(config: Config, now: Instant, seed: u64) -> Self {
        Self::with_rng(config, now, StdRng::seed_from_u64(seed))
    }

    fn with_rng(config: Config, now: Instant, rng: StdRng) -> Self {
        let config = Config {
            max_delay: config.max_delay.max(config.min_delay),
            cover_hz: config.cover_hz.min(MAX_RATE_HZ),
            ..config
        };
        let mut s = Self {
            config,
            queue: VecDeque::new(),
            last_due: None,
            next_tick: None,
            rng,
        };
        if config.cover_hz > 0 {
            s.next_tick = Some(now + s.gap());
        }
        s
    }

    /// How many payload bytes [`Sender::push`] takes now.
    pub fn room(&self) -> usize {
        MAX_QUEUED.saturating_sub(self.queue.len()) * PAYLOAD
    }

    /// True when nothing is queued.
    pub fn idle(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues `data` (at most [`Sender::room`] bytes) as records, each due after its own delay.
    pub fn push(&mut self, data: &[u8], now: Instant) {
        for chunk in data.chunks(PAYLOAD) {
            let due = (now + self.delay()).max(self.last_due.unwrap_or(now));
            self.last_due = Some(due);
            self.queue.push_back((due, encode(chunk)));
        }
    }

    /// When [`Sender::due`] next has something to send: the next tick with cover traffic,
    /// else the first record's time; `None` when there is nothing to wait for.
    pub fn wake_at(&self) -> Option<Instant> {
        match self.next_tick {
            Some(tick) => Some(tick),
            None => self.queue.front().map(|(due, _)| *due),
        }
    }

    /// Appends to `out` every record to send at `now`.
    pub fn due(&mut self, now: Instant, out: &mut Vec<Record>) {
        let Some(mut tick) = self.next_tick else {
            while let Some((due, _)) = self.queue.front()
                && *due <= now
            {
                out.extend(self.queue.pop_front().map(|(_, r)| r));
            }
            return;
        };
        // A clock that fell far behind (a stalled runtime) starts again from now rather than
        // sending a burst of missed ticks, which would stand out.
        if now.saturating_duration_since(tick) > Duration::from_secs(1) {
            tick = now;
        }
        while tick <= now {
            for _ in 0..BATCH {
                match self.queue.front() {
                    Some((due, _)) if *due <= now => out.extend(self.queue.pop_front().map(|(_, r)| r)),
                    _ => out.push(cover()),
                }
            }
            tick += self.gap();
        }
        self.next_tick = Some(tick);
    }

    /// A delay drawn uniformly from the configured range.
    fn delay(&mut self) -> Duration {
        let (lo, hi) = (self.config.min_delay, self.config.max_delay);
        if hi.is_zero() {
            return Duration::ZERO;
        }
        let micros = self.rng.random_range(lo.as_micros() as u64..=hi.as_micros() as u64);
        Duration::from_micros(micros)
    }

    /// The time to the next tick of a Poisson clock: exponential with the configured rate.
    fn gap(&mut self) -> Duration {
        let u: f64 = 1.0 - self.rng.random::<f64>(); // in (0, 1]
        Duration::from_secs_f64(-u.ln() / f64::from(self.config.cover_hz.max(1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min_ms: u64, max_ms: u64, cover_hz: u32) -> Config {
        Config {
            min_delay: Duration::from_millis(min_ms),
            max_delay: Duration::from_millis(max_ms),
            cover_hz,
        }
    }

    #[test]
    fn a_record_carries_its_payload_and_a_cover_record_none() {
        let r = encode(b"hello");
        assert_eq!(r.len(), RECORD);
        assert_eq!(decode(&r), Ok(&b"hello"[..]));
        assert_eq!(decode(&cover()), Ok(&b""[..]));
        let full = vec![7u8; PAYLOAD];
        assert_eq!(decode(&encode(&full)), Ok(&full[..]));
    }

    #[test]
    fn a_record_claiming_more_than_fits_is_refused() {
        let mut r = cover();
        r[..2].copy_from_slice(&(PAYLOAD as u16 + 1).to_be_bytes());
        assert_eq!(decode(&r), Err(BadRecord(PAYLOAD + 1)));
    }

    #[test]
    fn data_is_cut_into_records_that_leave_in_order_after_their_delays() {
        let t0 = Instant::now();
        let mut s = Sender::seeded(config(10, 50, 0), t0, 1);
        let data: Vec<u8> = (0..3 * PAYLOAD + 5).map(|i| i as u8).collect();
        s.push(&data, t0);
        let mut out = Vec::new();
        s.due(t0 + Duration::from_millis(9), &mut out);
        assert!(out.is_empty(), "no record leaves before the shortest delay");
        let first = s.wake_at().unwrap();
        assert!(first >= t0 + Duration::from_millis(10) && first <= t0 + Duration::from_millis(50));
        s.due(t0 + Duration::from_millis(50), &mut out);
        assert_eq!(out.len(), 4, "every record is due by the longest delay");
        let back: Vec<u8> = out.iter().flat_map(|r| decode(r).unwrap().to_vec()).collect();
        assert_eq!(back, data);
        assert!(s.idle() && s.wake_at().is_none());
    }

    #[test]
    fn with_cover_every_tick_sends_one_batch_busy_or_idle() {
        let t0 = Instant::now();
        let mut s = Sender::seeded(config(0, 0, 100), t0, 2);
        let mut out = Vec::new();
        let mut now = t0;
        let mut ticks = 0;
        while ticks < 50 {
            now = s.wake_at().unwrap();
            if ticks == 20 {
                s.push(&vec![1u8; 3 * PAYLOAD], now);
            }
            let before = out.len();
            s.due(now, &mut out);
            assert_eq!(out.len() - before, BATCH, "one batch per tick");
            ticks += 1;
        }
        let real = out.iter().filter(|r| !decode(r).unwrap().is_empty()).count();
        assert_eq!(real, 3, "the queued records went out among the cover");
        let mean = (now - t0).as_secs_f64() / 50.0;
        assert!((0.005..0.02).contains(&mean), "mean gap {mean} s for 100 Hz");
    }

    #[test]
    fn a_full_queue_takes_no_more() {
        let t0 = Instant::now();
        let mut s = Sender::seeded(config(0, 0, 0), t0, 3);
        assert_eq!(s.room(), MAX_QUEUED * PAYLOAD);
        s.push(&vec![0u8; MAX_QUEUED * PAYLOAD], t0);
        assert_eq!(s.room(), 0);
    }

    #[test]
    fn a_stalled_cover_clock_does_not_burst() {
        let t0 = Instant::now();
        let mut s = Sender::seeded(config(0, 0, 100), t0, 4);
        let mut out = Vec::new();
        s.due(t0 + Duration::from_secs(10), &mut out);
        assert_eq!(out.len(), BATCH, "one batch after a 10 s stall, not a thousand");
    }
}
