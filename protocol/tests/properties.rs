//! Property tests: every message survives a round trip through the frame codec, and no byte
//! string makes the decoder panic or read past the frame.

use oarn_protocol::envelope::{Down, ErrorKind, ErrorReply, Info, Progress, Up};
use oarn_protocol::frame::{self, FrameError, HEADER_LEN, Reader};
use oarn_protocol::handshake::{Hello, Role, WorkerKind};
use oarn_protocol::sandbox::{Layer, LayerReport, LayerState, SandboxReport};
use oarn_protocol::{chain, infer, net};
use proptest::prelude::*;

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::InvalidRequest),
        Just(ErrorKind::Unsupported),
        Just(ErrorKind::Busy),
        Just(ErrorKind::NotFound),
        Just(ErrorKind::Cancelled),
        Just(ErrorKind::DeadlineExceeded),
        Just(ErrorKind::Internal),
    ]
}

fn down() -> impl Strategy<Value = infer::ToWorker> {
    prop_oneof![
        any::<u64>().prop_map(|nonce| Down::Ping { nonce }),
        any::<u64>().prop_map(|id| Down::Request {
            id,
            body: infer::Request::GetInfo(infer::GetInfo)
        }),
        any::<u64>().prop_map(|id| Down::Cancel { id }),
        any::<u32>().prop_map(|grace_ms| Down::Shutdown { grace_ms }),
    ]
}

fn up() -> impl Strategy<Value = net::FromWorker> {
    let info = (prop::collection::vec(".{0,24}", 0..4), any::<u32>()).prop_map(|(capabilities, in_flight)| Info {
        capabilities,
        in_flight,
    });
    let err = (error_kind(), ".{0,64}").prop_map(|(kind, message)| ErrorReply { kind, message });
    prop_oneof![
        any::<u64>().prop_map(|nonce| Up::Pong { nonce }),
        (any::<u64>(), info).prop_map(|(id, i)| Up::Reply {
            id,
            body: Ok(net::Reply::Info(i))
        }),
        (any::<u64>(), err).prop_map(|(id, e)| Up::Reply { id, body: Err(e) }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(id, done, total)| Up::Event {
            id,
            body: net::Event::Progress(Progress { done, total })
        }),
    ]
}

fn hello() -> impl Strategy<Value = Hello> {
    let role = prop_oneof![
        Just(Role::Supervisor),
        Just(Role::Worker(WorkerKind::Infer)),
        Just(Role::Worker(WorkerKind::Net)),
        Just(Role::Worker(WorkerKind::Chain)),
    ];
    let layer = (0..Layer::ALL.len(), ".{0,32}", 0..3u8).prop_map(|(i, reason, s)| LayerReport {
        layer: Layer::ALL[i],
        state: match s {
            0 => LayerState::Active,
            1 => LayerState::Unavailable { reason },
            _ => LayerState::NotApplied { reason },
        },
    });
    (role, ".{0,40}", "[0-9a-f]{0,64}", prop::collection::vec(layer, 0..10)).prop_map(
        |(role, build_id, profile_hash, layers)| Hello::new(role, build_id, SandboxReport { profile_hash, layers }),
    )
}

proptest! {
    #[test]
    fn down_round_trips(msg in down()) {
        let bytes = frame::encode(&msg, frame::DEFAULT_MAX_FRAME).unwrap();
        let mut r = Reader::new(&bytes[..], frame::DEFAULT_MAX_FRAME);
        prop_assert_eq!(r.recv::<infer::ToWorker>().unwrap(), msg);
        prop_assert!(matches!(r.recv::<infer::ToWorker>(), Err(FrameError::Closed)));
    }

    #[test]
    fn up_round_trips(msg in up()) {
        let bytes = frame::encode(&msg, frame::DEFAULT_MAX_FRAME).unwrap();
        prop_assert_eq!(frame::decode::<net::FromWorker>(&bytes[HEADER_LEN..]).unwrap(), msg);
    }

    #[test]
    fn hello_round_trips(h in hello()) {
        let bytes = frame::encode(&h, frame::DEFAULT_MAX_FRAME).unwrap();
        prop_assert_eq!(Hello::decode(&bytes[HEADER_LEN..], h.role).unwrap(), h);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = frame::decode::<chain::FromWorker>(&bytes);
        let _ = frame::decode::<chain::ToWorker>(&bytes);
        let _ = Hello::decode(&bytes, Role::Supervisor);
        let mut r = Reader::new(&bytes[..], 256);
        while r.read_payload().is_ok() {}
    }

    #[test]
    fn every_truncation_of_a_valid_frame_is_an_error(msg in up(), cut in any::<prop::sample::Index>()) {
        let bytes = frame::encode(&msg, frame::DEFAULT_MAX_FRAME).unwrap();
        let cut = cut.index(bytes.len());
        let mut r = Reader::new(&bytes[..cut], frame::DEFAULT_MAX_FRAME);
        prop_assert!(r.recv::<net::FromWorker>().is_err());
    }

    #[test]
    fn flipped_bytes_give_an_error_or_a_valid_message(msg in up(), at in any::<prop::sample::Index>(), xor in 1..=255u8) {
        let mut bytes = frame::encode(&msg, frame::DEFAULT_MAX_FRAME).unwrap();
        let i = HEADER_LEN + at.index(bytes.len() - HEADER_LEN);
        bytes[i] ^= xor;
        // Either outcome is fine; a panic or an allocation beyond the frame is not.
        let _ = frame::decode::<net::FromWorker>(&bytes[HEADER_LEN..]);
    }
}
