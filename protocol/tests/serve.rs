//! The worker serve loop over real pipes: a deferred request streams events and answers later
//! from another thread while the loop answers the requests after it, and a deferred request
//! that is dropped unanswered still gets a reply.

use std::sync::mpsc;

use oarn_protocol::envelope::{Down, ErrorKind, ErrorReply, RequestId, Up};
use oarn_protocol::frame::{DEFAULT_MAX_FRAME, Reader, Writer};
use oarn_protocol::handshake::{Hello, Role};
use oarn_protocol::net::{self, Event, Protocol, Reply, Request, Status};
use oarn_protocol::sandbox::SandboxReport;
use oarn_protocol::serve::{self, Context, Ended, Handler};

/// Defers `Run` to a thread that emits one event, then waits for `finish` before replying;
/// defers `Info` and drops it unanswered; answers `Status` at once.
struct Deferring {
    finish: Option<mpsc::Receiver<()>>,
}

impl Handler<Protocol> for Deferring {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::Run(_) => {
                let responder = cx.defer();
                let finish = self.finish.take().expect("one run");
                std::thread::spawn(move || {
                    responder.emit(Event::Started { peer_id: "me".into() }).unwrap();
                    finish.recv().unwrap();
                    responder.finish(Ok(Reply::Stopped(()))).unwrap();
                });
                Ok(Reply::Done(())) // not sent: the request was deferred
            }
            Request::GetInfo(_) => {
                drop(cx.defer());
                Ok(Reply::Done(()))
            }
            _ => Ok(Reply::Status(Status::default())),
        }
    }
}

#[test]
fn deferred_requests_answer_later_without_blocking_the_loop() {
    let (worker_in, mut to_worker) = std::io::pipe().unwrap();
    let (from_worker, worker_out) = std::io::pipe().unwrap();
    let (finish_tx, finish_rx) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let mut handler = Deferring {
            finish: Some(finish_rx),
        };
        serve::serve::<Protocol, _, _, _>(
            &mut handler,
            "test",
            SandboxReport::default(),
            worker_in,
            worker_out,
            DEFAULT_MAX_FRAME,
        )
    });
    let mut reader = Reader::new(from_worker, DEFAULT_MAX_FRAME);
    let mut writer = Writer::new(&mut to_worker, DEFAULT_MAX_FRAME);
    Hello::decode(
        reader.read_payload().unwrap(),
        Role::Worker(oarn_protocol::WorkerKind::Net),
    )
    .unwrap();
    writer
        .send(&Hello::new(Role::Supervisor, "test", SandboxReport::default()))
        .unwrap();

    let mut next = || -> net::FromWorker { reader.recv().unwrap() };
    writer
        .send::<net::ToWorker>(&Down::Request {
            id: 1,
            body: Request::Run(net::Run(net::Settings::default())),
        })
        .unwrap();
    assert_eq!(
        next(),
        Up::Event {
            id: 1,
            body: Event::Started { peer_id: "me".into() }
        }
    );
    // The run is still open; the loop answers the next request anyway.
    writer
        .send::<net::ToWorker>(&Down::Request {
            id: 2,
            body: Request::GetStatus(net::GetStatus),
        })
        .unwrap();
    assert_eq!(
        next(),
        Up::Reply {
            id: 2,
            body: Ok(Reply::Status(Status::default()))
        }
    );
    finish_tx.send(()).unwrap();
    assert_eq!(
        next(),
        Up::Reply {
            id: 1,
            body: Ok(Reply::Stopped(()))
        }
    );
    // Dropped without an answer: the caller still hears back, with an error.
    writer
        .send::<net::ToWorker>(&Down::Request {
            id: 3,
            body: Request::GetInfo(net::GetInfo),
        })
        .unwrap();
    match next() {
        Up::Reply { id: 3, body: Err(e) } => assert_eq!(e.kind, ErrorKind::Internal),
        other => panic!("unexpected {other:?}"),
    }
    writer.send::<net::ToWorker>(&Down::Shutdown { grace_ms: 0 }).unwrap();
    assert_eq!(worker.join().unwrap().unwrap(), Ended::Shutdown);
}

/// Defers every `Fetch` to a thread that waits until its own request is cancelled, then
/// answers with the file name it was given.
struct Cancellable;

impl Handler<Protocol> for Cancellable {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        let Request::Fetch(f) = request else {
            return Ok(Reply::Status(Status::default()));
        };
        let responder = cx.defer();
        std::thread::spawn(move || {
            while !responder.cancelled() {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let fetched = net::Fetched {
                cid: f.file,
                ..Default::default()
            };
            responder.finish(Ok(Reply::Fetched(fetched))).unwrap();
        });
        Ok(Reply::Done(()))
    }
}

/// Regression: the worker kept only the last cancelled id, so cancelling a second request
/// un-cancelled the first, and a cancel of one request could reach another.
#[test]
fn each_request_in_flight_is_cancelled_by_its_own_id_only() {
    let (worker_in, mut to_worker) = std::io::pipe().unwrap();
    let (from_worker, worker_out) = std::io::pipe().unwrap();
    let worker = std::thread::spawn(move || {
        serve::serve::<Protocol, _, _, _>(
            &mut Cancellable,
            "test",
            SandboxReport::default(),
            worker_in,
            worker_out,
            DEFAULT_MAX_FRAME,
        )
    });
    let mut reader = Reader::new(from_worker, DEFAULT_MAX_FRAME);
    let mut writer = Writer::new(&mut to_worker, DEFAULT_MAX_FRAME);
    reader.read_payload().unwrap();
    writer
        .send(&Hello::new(Role::Supervisor, "test", SandboxReport::default()))
        .unwrap();
    for id in 1..=3 {
        let body = Request::Fetch(net::Fetch {
            cid: String::new(),
            file: format!("f{id}"),
            timeout_secs: 1,
        });
        writer.send::<net::ToWorker>(&Down::Request { id, body }).unwrap();
    }
    // Two cancels in a row: both requests end, and only they do.
    writer.send::<net::ToWorker>(&Down::Cancel { id: 1 }).unwrap();
    writer.send::<net::ToWorker>(&Down::Cancel { id: 3 }).unwrap();
    let mut ends = Vec::new();
    for _ in 0..2 {
        match reader.recv::<net::FromWorker>().unwrap() {
            Up::Reply {
                id,
                body: Ok(Reply::Fetched(f)),
            } => {
                assert_eq!(f.cid, format!("f{id}"));
                ends.push(id);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    ends.sort();
    assert_eq!(ends, [1, 3]);
    // A cancel for an id already answered reaches nobody; 2 runs until its own.
    writer.send::<net::ToWorker>(&Down::Cancel { id: 1 }).unwrap();
    writer.send::<net::ToWorker>(&Down::Cancel { id: 2 }).unwrap();
    match reader.recv::<net::FromWorker>().unwrap() {
        Up::Reply {
            id,
            body: Ok(Reply::Fetched(f)),
        } => assert_eq!((id, f.cid.as_str()), (2, "f2")),
        other => panic!("unexpected {other:?}"),
    }
    writer.send::<net::ToWorker>(&Down::Shutdown { grace_ms: 0 }).unwrap();
    assert_eq!(worker.join().unwrap().unwrap(), Ended::Shutdown);
}
