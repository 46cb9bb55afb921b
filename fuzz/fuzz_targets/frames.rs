//! Feeds arbitrary bytes to every decoder a supervisor or worker runs on input from the other
//! side. None may panic, and whatever decodes must encode back to a frame that decodes equal.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oarn_protocol::frame::{self, HEADER_LEN, Reader};
use oarn_protocol::handshake::{Hello, Role, WorkerKind};
use oarn_protocol::{chain, infer, net};

fn round_trip<T>(payload: &[u8])
where
    T: for<'de> wincode::SchemaRead<'de, frame::Wire, Dst = T>
        + wincode::SchemaWrite<frame::Wire, Src = T>
        + PartialEq
        + std::fmt::Debug,
{
    if let Ok(msg) = frame::decode::<T>(payload) {
        let again = frame::encode(&msg, frame::DEFAULT_MAX_FRAME).expect("a decoded message encodes");
        assert_eq!(
            frame::decode::<T>(&again[HEADER_LEN..]).expect("and decodes again"),
            msg
        );
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<infer::ToWorker>(data);
    round_trip::<infer::FromWorker>(data);
    round_trip::<net::FromWorker>(data);
    round_trip::<chain::FromWorker>(data);
    let _ = Hello::decode(data, Role::Supervisor);
    let _ = Hello::decode(data, Role::Worker(WorkerKind::Chain));
    // A stream of frames under a small limit: headers, truncation, oversize.
    let mut reader = Reader::new(data, 4096);
    while let Ok(payload) = reader.read_payload() {
        let _ = frame::decode::<infer::FromWorker>(payload);
    }
});
