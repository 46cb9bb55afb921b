//! `oarn-worker-anon`: in privacy mode the only process of the node that reaches the internet.
//!
//! It runs a Tor client ([arti](https://arti.torproject.org)) and serves SOCKS5 on a Unix
//! socket to the net and chain workers, which run in an empty network namespace and can reach
//! nothing else. arti runs in its own sandboxed process because it parses what relays and
//! directory authorities send, and because it may exit on its own (an obsolete consensus).
//!
//! - [`tor`]: the client's configuration (the operator's arti file, our directories) and its
//!   bootstrap, reported as it goes.
//! - [`socks`]: the SOCKS5 server: one Tor stream per request, isolated by its credentials.
//! - [`onion`]: the node's onion service, whose streams go to the net worker.
//! - [`serve`]: the supervisor's requests (status).

pub mod onion;
pub mod serve;
pub mod socks;
pub mod tor;
