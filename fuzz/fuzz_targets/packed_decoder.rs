//! The packed decoder on arbitrary input, in arbitrary pieces: it must never panic or expand
//! packed input past the limits, and must agree with `capnp::serialize_packed` message for
//! message.
#![no_main]

use capnp::serialize_packed;
use libfuzzer_sys::fuzz_target;
use windlass::framing::PackedCodec;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut codec = PackedCodec::with_limits(common::limits());
    let (messages, error) = common::decode_all(&mut codec, data);
    let input = data.get(1..).unwrap_or_default();

    let options = common::limits().reader_options();
    let mut rest = input;
    let mut theirs = Vec::new();
    let their_error = loop {
        match serialize_packed::try_read_message(&mut rest, options) {
            Ok(Some(m)) => theirs.push(common::segments(&m.into_segments())),
            Ok(None) => break false,
            Err(_) => break true,
        }
    };
    let ours: Vec<_> = messages
        .iter()
        .map(|m| common::segments(m.get_segments()))
        .collect();
    assert_eq!(ours, theirs, "decoded messages differ from capnp's");
    assert_eq!(error.is_some(), their_error, "ours: {error:?}");
    for m in &messages {
        common::traverse(m);
    }
});
