//! Worker supervision driven over in-memory pipes: a fake worker (an async task speaking the
//! worker side of the protocol on `tokio::io::duplex` pipes) behind the same `Launcher` the
//! real binaries use, misbehaving in one way per test.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use oarn_protocol::channel;
use oarn_protocol::envelope::{Down, Info, Up};
use oarn_protocol::frame::DEFAULT_MAX_FRAME;
use oarn_protocol::handshake::{Hello, Role, WorkerKind};
use oarn_protocol::infer::{self, Generate, Generated, GetInfo, Stop};
use oarn_protocol::sandbox::SandboxReport;
use oarn_supervise::proc_status::Observed;
use oarn_supervise::process::{BoxFuture, Child, Launcher, Process};
use oarn_supervise::{CallError, Handle, Settings, State, Supervisor};
use tokio::io::DuplexStream;
use tokio::sync::{mpsc, oneshot};

/// How the fake worker misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Misbehaviour {
    /// It does not: it answers everything.
    None,
    /// Its first process exits with status 3 right after the handshake.
    CrashFirst,
    /// Its first process answers `GetInfo` with a reply to a request never sent.
    UnknownIdFirst,
    /// Its first process answers `GetInfo` with a generation.
    WrongKindFirst,
    /// Its first process stops answering pings.
    DeafFirst,
}

/// What the fake workers saw, across processes.
#[derive(Debug, Default)]
struct Seen {
    launches: AtomicU32,
    cancels: Mutex<Vec<u64>>,
}

struct Fake {
    misbehaviour: Misbehaviour,
    seen: Arc<Seen>,
}

struct FakeChild {
    exit: Option<oneshot::Receiver<i32>>,
    task: tokio::task::JoinHandle<()>,
    status: Option<ExitStatus>,
}

impl Child for FakeChild {
    fn wait(&mut self) -> BoxFuture<'_, std::io::Result<ExitStatus>> {
        Box::pin(async move {
            if let Some(s) = self.status {
                return Ok(s);
            }
            let status = match self.exit.as_mut() {
                Some(rx) => match rx.await {
                    Ok(code) => ExitStatus::from_raw(code << 8),
                    Err(_) => ExitStatus::from_raw(9),
                },
                None => ExitStatus::from_raw(9),
            };
            self.exit = None;
            self.status = Some(status);
            Ok(status)
        })
    }

    fn start_kill(&mut self) {
        self.task.abort();
    }
}

impl Launcher for Fake {
    fn describe(&self) -> String {
        "fake worker".into()
    }

    fn launch(&self) -> std::io::Result<Process> {
        let n = self.seen.launches.fetch_add(1, Ordering::SeqCst);
        let misbehaviour = if n == 0 { self.misbehaviour } else { Misbehaviour::None };
        let (sup_in, worker_in) = tokio::io::duplex(1 << 16);
        let (worker_out, sup_out) = tokio::io::duplex(1 << 16);
        let (_err_w, err_r) = tokio::io::duplex(64);
        let (exit_tx, exit_rx) = oneshot::channel();
        let seen = self.seen.clone();
        let task = tokio::spawn(async move {
            let code = worker(misbehaviour, worker_in, worker_out, seen).await;
            let _ = exit_tx.send(code);
        });
        Ok(Process {
            pid: 1000 + n,
            stdin: Box::pin(sup_in),
            stdout: Box::pin(sup_out),
            stderr: Box::pin(err_r),
            child: Box::new(FakeChild {
                exit: Some(exit_rx),
                task,
                status: None,
            }),
        })
    }

    fn observe(&self, _pid: u32) -> std::io::Result<Observed> {
        // The fake claims no sandbox layer, so there is nothing to contradict.
        Ok(Observed::default())
    }
}

/// The worker side: handshake, then pings, `GetInfo` and slow generations (a token every
/// 20 ms) that a `Cancel` ends.
async fn worker(m: Misbehaviour, input: DuplexStream, output: DuplexStream, seen: Arc<Seen>) -> i32 {
    let mut r = channel::Reader::new(input, DEFAULT_MAX_FRAME);
    let mut w = channel::Writer::new(output, DEFAULT_MAX_FRAME);
    let hello = Hello::new(Role::Worker(WorkerKind::Infer), "fake", SandboxReport::default());
    if w.send(&hello).await.is_err() {
        return 1;
    }
    match r.read_payload().await {
        Ok(p) if Hello::decode(p, Role::Supervisor).is_ok() => {}
        _ => return 1,
    }
    if m == Misbehaviour::CrashFirst {
        return 3;
    }
    let mut generating: Option<(u64, u32, String)> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            msg = r.recv::<infer::ToWorker>() => {
                let reply = match msg {
                    Err(_) | Ok(Down::Shutdown { .. }) => return 0,
                    Ok(Down::Ping { .. }) if m == Misbehaviour::DeafFirst => continue,
                    Ok(Down::Ping { nonce }) => Up::Pong { nonce },
                    Ok(Down::Cancel { id }) => {
                        seen.cancels.lock().unwrap().push(id);
                        match generating.take() {
                            Some((g, _, text)) if g == id => done(id, text, Stop::Cancelled),
                            other => {
                                generating = other;
                                continue;
                            }
                        }
                    }
                    Ok(Down::Request { id, body: infer::Request::Generate(g) }) => {
                        generating = Some((id, g.max_tokens, String::new()));
                        continue;
                    }
                    Ok(Down::Request { id, .. }) => match m {
                        Misbehaviour::UnknownIdFirst => Up::Reply { id: id + 4242, body: Ok(infer::Reply::Info(Info::default())) },
                        Misbehaviour::WrongKindFirst => done(id, String::new(), Stop::EndOfText),
                        _ => Up::Reply { id, body: Ok(infer::Reply::Info(Info { capabilities: vec!["fake".into()], in_flight: 0 })) },
                    },
                };
                if w.send(&reply).await.is_err() {
                    return 1;
                }
            }
            _ = tick.tick(), if generating.is_some() => {
                let (id, left, mut text) = generating.take().expect("generating");
                let sent = if left == 0 {
                    w.send(&done(id, text, Stop::MaxTokens)).await
                } else {
                    text.push('x');
                    generating = Some((id, left - 1, text));
                    w.send(&infer::FromWorker::Event { id, body: infer::Event::Token("x".into()) }).await
                };
                if sent.is_err() {
                    return 1;
                }
            }
        }
    }
}

fn done(id: u64, text: String, stop: Stop) -> infer::FromWorker {
    let generated = Generated {
        text,
        text_keccak: [0; 32],
        stop,
        prompt_tokens: 1,
        generated_tokens: 0,
        load_us: 0,
        prompt_us: 0,
        generate_us: 0,
        first_token_us: 0,
        fingerprint: "fake".into(),
    };
    Up::Reply {
        id,
        body: Ok(infer::Reply::Generated(generated)),
    }
}

fn settings() -> Settings {
    Settings {
        ping_interval: Duration::from_millis(50),
        ping_timeout: Duration::from_millis(300),
        shutdown_grace: Duration::from_millis(200),
        strict: false,
    }
}

fn start(m: Misbehaviour) -> (Supervisor, Handle<infer::Protocol>, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let launcher: Arc<dyn Launcher> = Arc::new(Fake {
        misbehaviour: m,
        seen: seen.clone(),
    });
    let supervisor = Supervisor::start_with(settings(), [(WorkerKind::Infer, launcher)]);
    let handle = supervisor.workers().infer.clone().expect("infer worker");
    (supervisor, handle, seen)
}

/// Waits for the worker to run again after `restarts` restarts.
async fn running_after(handle: &Handle<infer::Protocol>, restarts: u32) -> oarn_supervise::WorkerStatus {
    tokio::time::timeout(
        Duration::from_secs(10),
        handle.wait_for(|s| s.state == State::Running && s.restarts >= restarts),
    )
    .await
    .expect("running again")
}

#[tokio::test]
async fn a_crashed_worker_is_restarted_and_answers_again() {
    let (supervisor, handle, seen) = start(Misbehaviour::CrashFirst);
    let status = running_after(&handle, 1).await;
    assert_eq!(status.restarts, 1);
    assert_eq!(status.last_exit.as_deref(), Some("exited with status 3"));
    let info = handle.call(GetInfo).await.expect("the new process answers");
    assert_eq!(info.capabilities, ["fake"]);
    assert_eq!(seen.launches.load(Ordering::SeqCst), 2);
    supervisor.shutdown().await;
    assert_eq!(handle.status().state, State::Stopped);
}

#[tokio::test]
async fn a_reply_to_a_request_never_sent_kills_the_worker() {
    let (supervisor, handle, _) = start(Misbehaviour::UnknownIdFirst);
    running_after(&handle, 0).await;
    assert!(matches!(handle.call(GetInfo).await, Err(CallError::Lost(_))));
    let status = running_after(&handle, 1).await;
    assert!(status.last_exit.unwrap().contains("unknown request"));
    assert!(handle.call(GetInfo).await.is_ok());
    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_reply_of_the_wrong_kind_kills_the_worker() {
    let (supervisor, handle, _) = start(Misbehaviour::WrongKindFirst);
    running_after(&handle, 0).await;
    assert!(matches!(handle.call(GetInfo).await, Err(CallError::Lost(_))));
    let status = running_after(&handle, 1).await;
    let why = status.last_exit.unwrap();
    assert!(why.contains("wrong kind (Generated)"), "{why}");
    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_worker_that_stops_answering_pings_is_killed_and_restarted() {
    let (supervisor, handle, _) = start(Misbehaviour::DeafFirst);
    let status = running_after(&handle, 1).await;
    assert!(status.last_exit.unwrap().starts_with("hung: no answer to a ping"));
    supervisor.shutdown().await;
}

#[tokio::test]
async fn cancelling_a_call_cancels_its_request_in_the_worker_and_keeps_the_answer() {
    let (supervisor, handle, seen) = start(Misbehaviour::None);
    running_after(&handle, 0).await;
    let (events, mut rx) = mpsc::channel(64);
    let (cancel, cancelled) = oneshot::channel::<()>();
    let call = tokio::spawn({
        let handle = handle.clone();
        async move {
            let g = Generate::new("m", "p", 1000);
            handle
                .stream_cancellable(g, Some(events), async {
                    let _ = cancelled.await;
                })
                .await
        }
    });
    // Three tokens in, cancel.
    for _ in 0..3 {
        rx.recv().await.expect("a token");
    }
    cancel.send(()).unwrap();
    let generated = call.await.unwrap().expect("the cancelled request is still answered");
    assert_eq!(generated.stop, Stop::Cancelled);
    assert!(generated.text.len() >= 3);
    assert_eq!(seen.cancels.lock().unwrap().len(), 1);
    // Several requests at once: each is cancelled by its own id.
    let a = tokio::spawn({
        let handle = handle.clone();
        async move { handle.call(Generate::new("m", "p", 1000)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    a.abort();
    let ok = handle
        .call(Generate::new("m", "p", 2))
        .await
        .expect("a short one finishes");
    assert_eq!(ok.stop, Stop::MaxTokens);
    tokio::time::timeout(Duration::from_secs(5), async {
        while seen.cancels.lock().unwrap().len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("dropping the call cancelled its request");
    let cancels = seen.cancels.lock().unwrap().clone();
    assert_ne!(cancels[0], cancels[1], "each cancel names its own request");
    supervisor.shutdown().await;
}

#[tokio::test]
async fn a_caller_that_does_not_read_its_events_has_its_request_cancelled_not_its_events_dropped() {
    let (supervisor, handle, seen) = start(Misbehaviour::None);
    running_after(&handle, 0).await;
    let (events, _unread) = mpsc::channel(1);
    let outcome = handle.stream(Generate::new("m", "p", 10_000), events).await;
    assert!(matches!(outcome, Err(CallError::Overrun(_))), "{outcome:?}");
    assert_eq!(seen.cancels.lock().unwrap().len(), 1);
    assert_eq!(handle.status().restarts, 0, "the worker itself did nothing wrong");
    supervisor.shutdown().await;
}
