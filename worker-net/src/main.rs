//! `oarn-worker-net`: the node's peer-to-peer side: libp2p, IPFS, downloads.
//!
//! Started only by the supervisor, which speaks the protocol of [`oarn_protocol::net`] on
//! this process's stdin/stdout.

use std::process::ExitCode;

use oarn_protocol::net::Protocol;
use oarn_worker_net::serve::Worker;

fn main() -> ExitCode {
    oarn_sandbox::worker::main::<Protocol, _>(|launch| {
        if let Some(socket) = &launch.anon_socket {
            oarn_anon_dial::rotate_every(launch.rotation_secs);
            oarn_worker_net::swarm::route_through(socket.clone(), oarn_anon_dial::inbound_socket(&launch.home));
        }
        Worker::new(&launch.home)
    })
}
