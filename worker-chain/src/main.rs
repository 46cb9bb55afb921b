//! `oarn-worker-chain`: the only process that holds key material: wallet, signing, contract calls.
//!
//! Started by the supervisor, which speaks the protocol of [`oarn_protocol::chain`] on this
//! process's stdin/stdout, or by `oarn wallet` for one interactive key operation
//! (`-- wallet <op>`).

use std::process::ExitCode;

use oarn_protocol::chain::Protocol;
use oarn_worker_chain::serve::Worker;

fn main() -> ExitCode {
    oarn_sandbox::worker::main_with_commands::<Protocol, _>(
        |launch| {
            if let Some(socket) = &launch.anon_socket {
                oarn_anon_dial::rotate_every(launch.rotation_secs);
                oarn_worker_chain::rpc::route_through(socket.clone());
            }
            Worker::new(&launch.home)
        },
        |launch| oarn_worker_chain::command::run(&launch.command, &launch.log_filter),
    )
}
