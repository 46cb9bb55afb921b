//! Arbitrary bytes as a gossip message on `oarn/tasks/v1`: parsing must refuse or accept
//! without panicking, and an accepted announcement must write back to a message that parses
//! to the same announcement, padded or not.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oarn_formats::announce;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = announce::parse(data) {
        for pad in [false, true] {
            let written = announce::write(&a, pad).expect("an accepted announcement writes");
            assert!(written.len() <= announce::MAX_LEN);
            assert_eq!(announce::parse(&written).expect("and parses again"), a);
        }
    }
});
