//! Frame round trips and throughput between two real processes over real pipes: the bench
//! re-executes itself as a child that runs the real worker serve loop, and drives it from the
//! supervisor's async channel, as the daemon does.
//!
//! Targets (issue: foundation): small-frame round trip p50 ≤ 20 µs, 1 MiB frames ≥ 2 GB/s.
//! Besides criterion's estimates, a direct run prints, each next to the same measurement on
//! the same pipes without the protocol (raw bytes, no framing or encoding):
//! - p50/p90/p99 of 20,000 ping round trips (raw: an 8-byte echo);
//! - 1 MiB frames one at a time, each waiting for its reply (what a single 1 MiB request costs);
//! - 1 MiB frames streamed, replies read as they come (the channel's throughput: the writer
//!   is never idle waiting for the reader, as when a worker streams a result).

use std::process::Stdio;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use oarn_protocol::channel;
use oarn_protocol::envelope::{Call, Down, ErrorReply, Info, Protocol, RequestId, Up};
use oarn_protocol::frame::{self, DEFAULT_MAX_FRAME, FrameError};
use oarn_protocol::handshake::{Hello, Role, WorkerKind};
use oarn_protocol::pipe;
use oarn_protocol::sandbox::SandboxReport;
use oarn_protocol::serve::{self, Context, Handler};
use tokio::process::{Child, ChildStdin, ChildStdout};

const CHILD: &str = "OARN_BENCH_CHILD";
const MIB: usize = 1 << 20;

/// A protocol whose requests carry bulk bytes; the reply is their length.
struct Bulk;

impl Protocol for Bulk {
    const KIND: WorkerKind = WorkerKind::Infer;
    type Request = Vec<u8>;
    type Reply = u64;
    type Event = u8;
    type GetInfo = NoInfo;

    fn encode_down(msg: &Down<Vec<u8>>, max: u32, out: &mut Vec<u8>) -> Result<(), FrameError> {
        frame::encode_into(msg, max, out)
    }
    fn decode_down(payload: &[u8]) -> Result<Down<Vec<u8>>, FrameError> {
        frame::decode(payload)
    }
    fn encode_up(msg: &Up<u64, u8>, max: u32, out: &mut Vec<u8>) -> Result<(), FrameError> {
        frame::encode_into(msg, max, out)
    }
    fn decode_up(payload: &[u8]) -> Result<Up<u64, u8>, FrameError> {
        frame::decode(payload)
    }
}

/// Bulk answers no `Info`: the bench never asks.
#[derive(Default)]
struct NoInfo;

impl Call for NoInfo {
    type Protocol = Bulk;
    type Reply = Info;
    fn request(self) -> Vec<u8> {
        Vec::new()
    }
    fn accepts(_: &u64) -> bool {
        false
    }
    fn reply(_: u64) -> Option<Info> {
        None
    }
}

struct Len;

impl Handler<Bulk> for Len {
    fn handle(&mut self, _: RequestId, body: Vec<u8>, _: &mut dyn Context<Bulk>) -> Result<u64, ErrorReply> {
        Ok(body.len() as u64)
    }
}

/// Baseline child: reads raw `size`-byte chunks and acknowledges each with 8 bytes, no framing.
fn raw_child(size: usize) {
    use std::io::{Read, Write};
    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let mut buf = vec![0u8; size];
    while stdin.read_exact(&mut buf).is_ok() {
        stdout.write_all(&(size as u64).to_le_bytes()).unwrap();
        stdout.flush().unwrap();
    }
}

/// This benchmark re-executed as a child in `mode`, with 1 MiB pipe buffers as the supervisor
/// gives its workers.
fn spawn_child(mode: &str) -> (Child, ChildStdin, ChildStdout) {
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .env(CHILD, mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (stdin, stdout) = (child.stdin.take().unwrap(), child.stdout.take().unwrap());
    assert!(pipe::grow(&stdin) && pipe::grow(&stdout), "as the supervisor does");
    (child, stdin, stdout)
}

/// The same pipes and processes without the protocol: what the hardware allows.
struct RawPeer {
    _child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    data: Vec<u8>,
}

impl RawPeer {
    /// A child that acknowledges every `size` bytes.
    async fn spawn(size: usize) -> Self {
        let (child, stdin, stdout) = spawn_child(if size == MIB { "raw-mib" } else { "raw-8" });
        Self {
            _child: child,
            stdin,
            stdout,
            data: vec![7u8; size],
        }
    }

    async fn once(&mut self) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut ack = [0u8; 8];
        self.stdin.write_all(&self.data).await.unwrap();
        self.stdout.read_exact(&mut ack).await.unwrap();
    }

    /// `n` chunks written back to back while their acknowledgements are read.
    async fn stream(&mut self, n: usize) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (stdin, stdout, data) = (&mut self.stdin, &mut self.stdout, &self.data);
        let write = async {
            for _ in 0..n {
                stdin.write_all(data).await.unwrap();
            }
        };
        let read = async {
            let mut ack = [0u8; 8];
            for _ in 0..n {
                stdout.read_exact(&mut ack).await.unwrap();
            }
        };
        tokio::join!(write, read);
    }
}

/// The worker side, in the child process.
fn child() {
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    serve::serve::<Bulk, _, _, _>(
        &mut Len,
        "bench",
        SandboxReport::default(),
        stdin,
        stdout,
        DEFAULT_MAX_FRAME,
    )
    .unwrap();
}

/// The supervisor side: a connected child.
struct Peer {
    _child: Child,
    w: channel::Writer<ChildStdin>,
    r: channel::Reader<ChildStdout>,
    next: u64,
}

impl Peer {
    async fn spawn() -> Self {
        let (child, stdin, stdout) = spawn_child("serve");
        let mut w = channel::Writer::new(stdin, DEFAULT_MAX_FRAME);
        let mut r = channel::Reader::new(stdout, DEFAULT_MAX_FRAME);
        Hello::decode(r.read_payload().await.unwrap(), Role::Worker(WorkerKind::Infer)).unwrap();
        w.send(&Hello::new(Role::Supervisor, "bench", SandboxReport::default()))
            .await
            .unwrap();
        Self {
            _child: child,
            w,
            r,
            next: 0,
        }
    }

    async fn ping(&mut self) {
        self.next += 1;
        let nonce = self.next;
        self.w
            .send_with(|max, out| Bulk::encode_down(&Down::Ping { nonce }, max, out))
            .await
            .unwrap();
        let up = Bulk::decode_up(self.r.read_payload().await.unwrap()).unwrap();
        assert_eq!(up, Up::Pong { nonce });
    }

    async fn bulk(&mut self, body: &Down<Vec<u8>>) {
        self.w
            .send_with(|max, out| Bulk::encode_down(body, max, out))
            .await
            .unwrap();
        Self::replied(&mut self.r).await;
    }

    async fn replied(r: &mut channel::Reader<ChildStdout>) {
        match Bulk::decode_up(r.read_payload().await.unwrap()).unwrap() {
            Up::Reply { body: Ok(n), .. } => assert_eq!(n as usize, MIB),
            other => panic!("{other:?}"),
        }
    }

    /// `n` requests sent back to back while their replies are read.
    async fn stream(&mut self, body: &Down<Vec<u8>>, n: usize) {
        let (w, r) = (&mut self.w, &mut self.r);
        let write = async {
            for _ in 0..n {
                w.send_with(|max, out| Bulk::encode_down(body, max, out)).await.unwrap();
            }
        };
        let read = async {
            for _ in 0..n {
                Self::replied(r).await;
            }
        };
        tokio::join!(write, read);
    }
}

/// Median of `rounds` timings of `n` MiB moved by `ours` and by `raw`, alternating so noise
/// from the machine hits both alike; in GB/s.
async fn alternate(n: usize, mut ours: impl AsyncFnMut(), mut raw: impl AsyncFnMut()) -> (f64, f64) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..9 {
        let t = Instant::now();
        ours().await;
        a.push((n * MIB) as f64 / t.elapsed().as_secs_f64() / 1e9);
        let t = Instant::now();
        raw().await;
        b.push((n * MIB) as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    (median(a), median(b))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// p50, p90 and p99 of 20,000 timings of `once`, after 2,000 to warm up.
async fn round_trips(mut once: impl AsyncFnMut()) -> [Duration; 3] {
    for _ in 0..2_000 {
        once().await;
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let t = Instant::now();
        once().await;
        samples.push(t.elapsed());
    }
    samples.sort();
    [0.5, 0.9, 0.99].map(|q| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)])
}

fn percentiles(rt: &tokio::runtime::Runtime) {
    rt.block_on(async {
        let mut peer = Peer::spawn().await;
        let mut echo = RawPeer::spawn(8).await;
        let [p50, p90, p99] = round_trips(async || peer.ping().await).await;
        let [r50, r90, r99] = round_trips(async || echo.once().await).await;
        println!(
            "ping round trip, 20000 samples: p50 {p50:.1?}  p90 {p90:.1?}  p99 {p99:.1?}; raw 8-byte echo on the same pipes: p50 {r50:.1?}  p90 {r90:.1?}  p99 {r99:.1?}; p50 ratio {:.2}",
            p50.as_secs_f64() / r50.as_secs_f64()
        );

        let msg = Down::Request { id: 1, body: vec![7u8; MIB] };
        let mut raw = RawPeer::spawn(MIB).await;
        let n = 100;
        let (ours, base) = alternate(
            n,
            async || {
                for _ in 0..n {
                    peer.bulk(&msg).await;
                }
            },
            async || {
                for _ in 0..n {
                    raw.once().await;
                }
            },
        )
        .await;
        println!(
            "1 MiB frames one at a time, median of 9 alternating rounds of {n}: {ours:.2} GB/s; raw 1 MiB writes on the same pipes: {base:.2} GB/s; ratio {:.2}",
            ours / base
        );
        let n = 400;
        let (ours, base) = alternate(n, async || peer.stream(&msg, n).await, async || raw.stream(n).await).await;
        println!(
            "1 MiB frames streamed, median of 9 alternating rounds of {n}: {ours:.2} GB/s; raw 1 MiB writes on the same pipes: {base:.2} GB/s; ratio {:.2}",
            ours / base
        );
    });
}

fn main() {
    // As the worker binaries and the daemon do.
    oarn_protocol::alloc::tune();
    match std::env::var(CHILD).as_deref() {
        Ok("raw-mib") => return raw_child(MIB),
        Ok("raw-8") => return raw_child(8),
        Ok(_) => return child(),
        Err(_) => {}
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut c = Criterion::default().configure_from_args();
    {
        let mut peer = rt.block_on(Peer::spawn());
        let mut g = c.benchmark_group("pipes");
        g.bench_function("ping_round_trip", |b| b.iter(|| rt.block_on(peer.ping())));
        let msg = Down::Request {
            id: 1,
            body: vec![7u8; MIB],
        };
        g.throughput(Throughput::Bytes(MIB as u64));
        g.bench_function("request_1mib", |b| b.iter(|| rt.block_on(peer.bulk(&msg))));
        g.finish();
    }
    c.final_summary();
    if !std::env::args().any(|a| a == "--list" || a == "--test") {
        percentiles(&rt);
    }
}
