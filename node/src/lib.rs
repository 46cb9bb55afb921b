//! `oarn-node`: the running node (`oarn start`, or `oarn local start`): the daemon, its state,
//! the local API server, and the drivers that keep its workers busy. The `oarn` command links
//! it too, to run the daemon in the foreground and for work of one command that goes through
//! the same code (a local generation without a daemon, a model pull).
//!
//! - [`daemon`]: start-up, signals, reload, shutdown.
//! - [`api`]: the local API's methods and server.
//! - [`discovery`], [`p2p`], [`records`]: the drivers of the chain and network workers.
//! - [`state`]: the running node's state, shared by the API and the drivers.
//! - [`local`]: generations, through the node or a worker of one's own.
//! - [`install`], [`pull`]: installing model files, from disk or from the network.
//! - [`chain`], [`passphrase`]: the chain through the chain worker's frames, and the
//!   passphrase that unlocks its key.
//! - [`wallet`]: interactive key operations in the chain worker, and the files they keep.
//! - [`pidfile`], [`logging`], [`logs`]: the daemon's pid file and log, and reading it back.
//! - [`hardware`]: what this machine offers for inference.
//! - [`doctor`]: `oarn doctor`'s checks of whether the node can earn, each with its fix.
//! - [`tasks`]: the task pipeline's journal (the state machine is crate `oarn-tasks`).
//! - [`update`]: `oarn update`: verified releases, installed side by side with consent.
//! - [`metrics`], [`http`]: the node's figures for Prometheus, and the HTTP listener that
//!   serves them and the read-only JSON API.

pub mod api;
pub mod chain;
pub mod daemon;
pub mod discovery;
pub mod doctor;
pub mod hardware;
pub mod http;
pub mod install;
pub mod local;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod p2p;
pub mod passphrase;
pub mod pidfile;
pub mod pull;
pub mod records;
pub mod state;
pub mod tasks;
pub mod update;
pub mod wallet;
