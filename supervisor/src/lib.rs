//! The `oarn` node: configuration, the supervisor daemon and its local API.
//!
//! The `oarn` binary is a thin command-line front end over these modules.

pub mod config;
