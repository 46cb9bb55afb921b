//! The `oarn` node: configuration, the supervisor daemon and its local API.
//!
//! The `oarn` binary is a thin command-line front end over these modules.

pub mod api;
pub mod config;
pub mod daemon;
pub mod discovery;
pub mod generate;
pub mod hardware;
pub mod home;
pub mod local;
pub mod logging;
pub mod logs;
pub mod models;
pub mod ollama;
pub mod p2p;
pub mod pidfile;
pub mod records;
pub mod sandbox;
pub mod wallet;
pub mod workers;
