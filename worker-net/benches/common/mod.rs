//! What both benchmarks need: loopback swarm settings and the first listen address.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use oarn_protocol::net::{Bootstrap, Event, Settings};

/// Longest wait for a swarm event.
pub const WAIT: Duration = Duration::from_secs(10);

/// A swarm on a TCP loopback port of the kernel's choosing, bootstrapping from `bootstrap`.
pub fn settings(bootstrap: Vec<Bootstrap>) -> Settings {
    Settings {
        listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
        bootstrap,
        max_peers: 64,
        max_per_ip: 64,
        padding: true,
        ..Settings::default()
    }
}

/// The first address the swarm reports listening on.
pub fn listen_addr(events: &Receiver<Event>) -> String {
    loop {
        if let Event::Listening(a) = events.recv_timeout(WAIT).expect("listening") {
            return a;
        }
    }
}
