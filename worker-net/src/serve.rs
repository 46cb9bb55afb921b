//! The network worker serving the supervisor: [`Request::Run`] starts the swarm and is
//! deferred to a thread that streams the swarm's events for as long as the worker lives;
//! [`Request::Download`] is deferred to a thread of its own, streaming progress; every other
//! request is a command to the running swarm, answered within a bounded wait, the slow ones
//! (DHT queries, Bitswap fetches) from a thread of their own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use oarn_protocol::envelope::{ErrorKind, ErrorReply, Info, RequestId};
use oarn_protocol::net::{
    self, Accept, Add, Advertise, Announce, Claims, Collect, Dial, Fetch, GetRecord, Limits, Notify, Pin, Protocol,
    PutRecord, Reachable, Reply, Request, Run, Validators,
};
use oarn_protocol::serve::{Context, Handler, Responder};

use crate::behaviour::DHT_QUERY_TIMEOUT;
use crate::blocks::Store;
use crate::node::{self, Command};
use crate::pins::Pins;

fn invalid(e: impl std::fmt::Display) -> ErrorReply {
    ErrorReply::new(ErrorKind::InvalidRequest, e.to_string())
}

/// The path of `file` in the staging directory; only a plain file name is accepted.
fn staged(staging: &Path, file: &str) -> Result<PathBuf, ErrorReply> {
    if crate::download::plain_name(file) {
        Ok(staging.join(file))
    } else {
        Err(invalid(format!("{file:?} is not a plain file name")))
    }
}

/// Longest wait for the operator's IPFS daemon to take a file.
const KUBO_WAIT: Duration = Duration::from_secs(600);

/// Longest wait for a quick command.
const QUICK: Duration = Duration::from_secs(5);

/// Answers the supervisor's requests.
#[derive(Debug)]
pub struct Worker {
    /// The worker's own store (`{home}/ipfs`): identity, and later blocks.
    store: PathBuf,
    /// The node's home: `{home}/update` keeps what the release check trusted.
    home: PathBuf,
    /// The download staging directory (`{home}/downloads`).
    downloads: PathBuf,
    swarm: Option<node::Handle>,
    /// The block store's size limit from the swarm's settings (0: none).
    cache_limit: u64,
    /// The operator's own IPFS daemon, used instead of the store (empty: none).
    kubo_api: String,
    /// Trustless gateways for blocks peers do not send.
    gateways: Vec<String>,
}

impl Worker {
    pub fn new(home: &Path) -> Self {
        Self {
            store: home.join("ipfs"),
            home: home.to_path_buf(),
            downloads: home.join("downloads"),
            swarm: None,
            cache_limit: 0,
            kubo_api: String::new(),
            gateways: Vec::new(),
        }
    }

    fn run(&mut self, settings: oarn_protocol::net::Settings, responder: Responder<Protocol>) {
        // A swarm whose thread ended (a failure it could not survive) may be started anew.
        if self.swarm.as_ref().is_some_and(|s| !s.stopped()) {
            let _ = responder.finish(Err(ErrorReply::new(ErrorKind::Busy, "the swarm is already running")));
            return;
        }
        self.cache_limit = settings.ipfs_cache_bytes;
        self.kubo_api = settings.kubo_api.clone();
        self.gateways = settings.gateways.clone();
        let api = settings.ipfs_api.clone();
        match node::start(&self.store, settings) {
            Ok((handle, events)) => {
                if !api.is_empty() {
                    match self.serve_api(&api, handle.clone()) {
                        Ok(bound) => {
                            tracing::info!(%bound, "the IPFS API listens");
                            let _ = responder.emit(oarn_protocol::net::Event::Api(bound.to_string()));
                        }
                        Err(e) => tracing::error!("the IPFS API could not start on {api}: {e}"),
                    }
                }
                self.swarm = Some(handle);
                let spawned = std::thread::Builder::new().name("events".into()).spawn(move || {
                    for event in events {
                        if responder.emit(event).is_err() {
                            return;
                        }
                    }
                    let _ = responder.finish(Ok(Reply::Stopped(())));
                });
                if let Err(e) = spawned {
                    tracing::error!("cannot start the event thread: {e}");
                }
            }
            Err(e) => {
                tracing::error!("the swarm did not start: {e}");
                let _ = responder.finish(Err(e));
            }
        }
    }

    /// Sends a command that may take a while (a DHT query) from a thread of its own, so the
    /// request loop goes on answering.
    fn slow(
        &self,
        cx: &mut dyn Context<Protocol>,
        make: impl FnOnce(node::Answer) -> Command + Send + 'static,
        wait: Duration,
    ) -> Result<Reply, ErrorReply> {
        let swarm = self.swarm()?.clone();
        self.in_thread(cx, "slow-request", move |_| swarm.call(make, wait))
    }

    /// Answers the current request from a thread of its own with what `work` returns.
    fn in_thread(
        &self,
        cx: &mut dyn Context<Protocol>,
        name: &str,
        work: impl FnOnce(&Responder<Protocol>) -> Result<Reply, ErrorReply> + Send + 'static,
    ) -> Result<Reply, ErrorReply> {
        let responder = cx.defer();
        let spawned = std::thread::Builder::new().name(name.into()).spawn(move || {
            let reply = work(&responder);
            let _ = responder.finish(reply);
        });
        if let Err(e) = spawned {
            tracing::error!("cannot start a request thread: {e}");
        }
        Ok(Reply::Done(()))
    }

    /// Starts the Kubo-compatible API on `addr` on a thread of its own; returns where it
    /// listens.
    fn serve_api(&self, addr: &str, swarm: node::Handle) -> Result<std::net::SocketAddr, String> {
        let addr: std::net::SocketAddr = addr.parse().map_err(|e| format!("{addr:?} is not host:port: {e}"))?;
        let cx = crate::gateway::Context {
            swarm,
            store: self.blocks().map_err(|e| e.message)?,
            pins: self.pins().map_err(|e| e.message)?,
            staging: self.downloads.clone(),
            gateways: self.gateways.clone(),
            cache_limit: self.cache_limit,
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("ipfs-api".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                    Ok(r) => r,
                    Err(e) => {
                        let _ = tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let _ = tx.send(crate::gateway::start(addr, cx).await.map_err(|e| e.to_string()));
                    std::future::pending::<()>().await;
                });
            })
            .map_err(|e| e.to_string())?;
        rx.recv_timeout(QUICK)
            .map_err(|_| "it did not start in time".to_string())?
    }

    /// The pins of the block store.
    fn pins(&self) -> Result<Pins, ErrorReply> {
        Pins::open(&self.store).map_err(|e| ErrorReply::new(ErrorKind::Internal, e.to_string()))
    }

    /// The block store.
    fn blocks(&self) -> Result<Store, ErrorReply> {
        Store::open(&self.store).map_err(|e| ErrorReply::new(ErrorKind::Internal, e.to_string()))
    }

    fn swarm(&self) -> Result<&node::Handle, ErrorReply> {
        self.swarm
            .as_ref()
            .ok_or_else(|| ErrorReply::new(ErrorKind::NotFound, "the swarm is not running yet"))
    }
}

impl Handler<Protocol> for Worker {
    fn handle(
        &mut self,
        _id: RequestId,
        request: Request,
        cx: &mut dyn Context<Protocol>,
    ) -> Result<Reply, ErrorReply> {
        match request {
            Request::GetInfo(_) => Ok(Reply::Info(Info {
                capabilities: ["gossipsub", "kademlia", "identify", "ping", "bitswap", "tcp", "quic"]
                    .map(String::from)
                    .to_vec(),
                in_flight: u32::from(self.swarm.is_some()),
            })),
            Request::Run(Run(settings)) => {
                let responder = cx.defer();
                self.run(settings, responder);
                Ok(Reply::Done(()))
            }
            Request::Download(d) => {
                let dir = self.downloads.clone();
                self.in_thread(cx, "download", move |responder| {
                    let progress = |p| {
                        let _ = responder.emit(oarn_protocol::net::Event::Progress(p));
                    };
                    crate::download::run(&dir, &d, progress, || responder.cancelled())
                        .map(Reply::Downloaded)
                        .map_err(|e| {
                            let kind = match e {
                                crate::download::DownloadError::Invalid(_) => ErrorKind::InvalidRequest,
                                crate::download::DownloadError::Cancelled(_) => ErrorKind::Cancelled,
                                _ => ErrorKind::Internal,
                            };
                            ErrorReply::new(kind, e.to_string())
                        })
                })
            }
            Request::Release(r) => {
                let (home, downloads) = (self.home.clone(), self.downloads.clone());
                self.in_thread(cx, "release", move |_| {
                    crate::release::run(&home, &downloads, &r)
                        .map(Reply::Releases)
                        .map_err(|e| {
                            let kind = match e {
                                crate::release::ReleaseError::Invalid(_) => ErrorKind::InvalidRequest,
                                crate::release::ReleaseError::Unknown(_) => ErrorKind::NotFound,
                                crate::release::ReleaseError::Update(oarn_update::Error::Fetch { .. }) => {
                                    ErrorKind::Internal
                                }
                                crate::release::ReleaseError::Update(_) => ErrorKind::Refused,
                            };
                            ErrorReply::new(kind, e.to_string())
                        })
                })
            }
            Request::Dial(Dial(peers)) => self.swarm()?.call(|a| Command::Dial(peers, a), QUICK),
            Request::Validators(Validators(v)) => self.swarm()?.call(|a| Command::Validators(v, a), QUICK),
            Request::Reachable(Reachable(addrs)) => self.swarm()?.call(|a| Command::Reachable(addrs, a), QUICK),
            Request::Advertise(Advertise {
                bootstrap,
                rpc_providers,
            }) => {
                let swarm = self.swarm()?.clone();
                self.in_thread(cx, "advertise", move |_| {
                    let records = [
                        (crate::records::BOOTSTRAP_KEY, crate::records::bootstrap(&bootstrap)),
                        (
                            crate::records::RPC_PROVIDERS_KEY,
                            crate::records::providers(&rpc_providers),
                        ),
                    ];
                    for (key, value) in records {
                        match swarm.call(|a| Command::PutRecord(key.into(), value, a), DHT_QUERY_TIMEOUT + QUICK) {
                            // Kept on this node, which answers peers that ask for it.
                            Ok(_) => {}
                            Err(e) if e.kind == ErrorKind::NotFound => {}
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(Reply::Done(()))
                })
            }
            Request::FindBootstrap(_) => {
                let swarm = self.swarm()?.clone();
                self.in_thread(cx, "find-bootstrap", move |_| {
                    let key = crate::records::BOOTSTRAP_KEY;
                    let bytes = match swarm.call(|a| Command::GetRecord(key.into(), a), DHT_QUERY_TIMEOUT + QUICK)? {
                        Reply::Record(Some(bytes)) => bytes,
                        _ => return Ok(Reply::Bootstrap(Vec::new())),
                    };
                    let peers = crate::records::read_bootstrap(&bytes)
                        .map_err(|e| invalid(format!("the DHT's {key} record: {e}")))?;
                    if !peers.is_empty() {
                        let list = peers.clone();
                        if let Err(e) = swarm.call(|a| Command::Dial(list, a), QUICK) {
                            tracing::warn!("cannot dial the peers of {key}: {}", e.message);
                        }
                    }
                    Ok(Reply::Bootstrap(peers))
                })
            }
            Request::Announce(Announce(a)) => self.swarm()?.call(|r| Command::Announce(a, r), QUICK),
            Request::Accept(Accept(models)) => self.swarm()?.call(|a| Command::Accept(models, a), QUICK),
            Request::Limits(Limits {
                max_peers,
                max_per_ip,
                upload_limit,
                download_limit,
            }) => self.swarm()?.call(
                |answer| Command::Limits {
                    max_peers,
                    max_per_ip,
                    upload: upload_limit,
                    download: download_limit,
                    answer,
                },
                QUICK,
            ),
            Request::GetStatus(_) => self.swarm()?.call(Command::Status, QUICK),
            Request::Add(Add { file }) if !self.kubo_api.is_empty() => {
                let (api, staging) = (self.kubo_api.clone(), self.downloads.clone());
                self.in_thread(cx, "add", move |_| {
                    let added = crate::kubo::add(&api, &staged(&staging, &file)?, KUBO_WAIT).map_err(invalid)?;
                    Ok(Reply::Added(net::Added {
                        cid: added.cid,
                        hash: added.hash,
                    }))
                })
            }
            Request::Fetch(Fetch {
                cid,
                file,
                timeout_secs,
            }) if !self.kubo_api.is_empty() => {
                let wait = Duration::from_secs(timeout_secs.clamp(1, 3600).into());
                let (api, staging) = (self.kubo_api.clone(), self.downloads.clone());
                self.in_thread(cx, "fetch", move |_| {
                    let (size, hash) = crate::kubo::cat(&api, &cid, &staged(&staging, &file)?, wait)
                        .map_err(|e| ErrorReply::new(ErrorKind::NotFound, e.to_string()))?;
                    Ok(Reply::Fetched(net::Fetched { cid, hash, size }))
                })
            }
            Request::Add(Add { file }) => {
                let (store, pins, staging, limit) =
                    (self.blocks()?, self.pins()?, self.downloads.clone(), self.cache_limit);
                self.in_thread(cx, "add", move |_| {
                    let added = crate::unixfs::add(&store, &staged(&staging, &file)?).map_err(invalid)?;
                    pins.pin(&store, &added.cid).map_err(invalid)?;
                    pins.trim(&store, limit);
                    Ok(Reply::Added(net::Added {
                        cid: added.cid.to_string(),
                        hash: added.hash,
                    }))
                })
            }
            Request::Pin(Pin { cid, pin }) => {
                let (store, pins) = (self.blocks()?, self.pins()?);
                let cid = crate::blocks::parse(&cid).map_err(invalid)?;
                if pin {
                    pins.pin(&store, &cid).map_err(invalid)?;
                } else if !pins.unpin(&cid).map_err(invalid)? {
                    return Err(ErrorReply::new(ErrorKind::NotFound, format!("{cid} is not pinned")));
                }
                Ok(Reply::Done(()))
            }
            Request::ListPins(_) => {
                let pins = self.pins()?.list().map_err(invalid)?;
                Ok(Reply::Pins(pins.iter().map(ToString::to_string).collect()))
            }
            Request::Collect(Collect { limit }) => {
                let (store, pins) = (self.blocks()?, self.pins()?);
                self.in_thread(cx, "collect", move |_| {
                    let done = pins
                        .collect(&store, limit, std::time::SystemTime::now())
                        .map_err(invalid)?;
                    Ok(Reply::Collected(net::Collected {
                        blocks: done.blocks,
                        bytes: done.bytes,
                        kept: done.kept,
                    }))
                })
            }
            Request::Fetch(Fetch {
                cid,
                file,
                timeout_secs,
            }) => {
                let wait = Duration::from_secs(timeout_secs.clamp(1, 3600).into());
                let (swarm, store, staging) = (self.swarm()?.clone(), self.blocks()?, self.downloads.clone());
                let job = crate::fetch::Job {
                    cid,
                    file,
                    wait,
                    gateways: self.gateways.clone(),
                };
                let (pins, limit) = (self.pins()?, self.cache_limit);
                self.in_thread(cx, "fetch", move |responder| {
                    let progress = |p| {
                        let _ = responder.emit(oarn_protocol::net::Event::Progress(p));
                    };
                    let fetched =
                        crate::fetch::run(&swarm, &store, &staging, &job, &progress, &|| responder.cancelled());
                    pins.trim(&store, limit);
                    fetched
                })
            }
            Request::PutRecord(PutRecord { key, value }) => {
                self.slow(cx, |a| Command::PutRecord(key, value, a), DHT_QUERY_TIMEOUT + QUICK)
            }
            Request::GetRecord(GetRecord { key }) => {
                self.slow(cx, |a| Command::GetRecord(key, a), DHT_QUERY_TIMEOUT + QUICK)
            }
            Request::Claims(Claims { task_id, record }) => {
                if task_id == 0 {
                    return Err(invalid("task id 0 does not exist; task ids start at 1"));
                }
                let make = move |answer| Command::Claims {
                    task_id,
                    record,
                    answer,
                };
                self.slow(cx, make, crate::behaviour::CLAIM_TIMEOUT + QUICK)
            }
            Request::Inspect(req) => {
                let from = if self.kubo_api.is_empty() {
                    crate::inspect::From::Swarm {
                        swarm: self.swarm()?.clone(),
                        store: self.blocks()?,
                        gateways: self.gateways.clone(),
                    }
                } else {
                    crate::inspect::From::Kubo(self.kubo_api.clone())
                };
                let staging = self.downloads.clone();
                self.in_thread(cx, "inspect", move |_| Ok(crate::inspect::run(&from, &staging, &req)))
            }
            Request::Notify(Notify {
                task_id,
                result_hash,
                cid,
                node,
                engine,
            }) => {
                let cid: cid::Cid = cid.parse().map_err(|e| invalid(format!("{cid:?} is not a CID: {e}")))?;
                let notice = crate::results::Notice::new(task_id, &result_hash, &cid).signed_by(node, &engine);
                notice.check().map_err(|e| invalid(e.to_string()))?;
                let make = move |answer| Command::Result(notice, answer);
                self.slow(cx, make, crate::behaviour::RESULT_TIMEOUT + QUICK)
            }
        }
    }
}
