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
