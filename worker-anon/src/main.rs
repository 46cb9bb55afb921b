//! `oarn-worker-anon`: the node's Tor client in privacy mode, started by the supervisor, which
//! speaks the protocol of [`oarn_protocol::anon`] on this process's stdin/stdout.

use std::process::ExitCode;

use oarn_protocol::anon::Protocol;
use oarn_worker_anon::serve::Worker;

fn main() -> ExitCode {
    // The Tor client's configuration is made before the sandbox closes: Landlock then grants
    // only this worker's own directory.
    oarn_sandbox::worker::main_prepared::<Protocol, _, _>(
        |launch| oarn_worker_anon::tor::prepare(&launch.home, launch.tor_config.as_deref()),
        Worker::new,
    )
}
