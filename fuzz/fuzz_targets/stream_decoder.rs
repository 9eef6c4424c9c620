//! The standard stream decoder on arbitrary input, in arbitrary pieces: it must never panic or
//! over-allocate, and must agree with `capnp::serialize` message for message.
#![no_main]

use capnp::serialize;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Encoder;
use windlass::framing::MessageCodec;

mod common;

fuzz_target!(|data: &[u8]| {
    let mut codec = MessageCodec::with_limits(common::limits());
    let (messages, error) = common::decode_all(&mut codec, data);
    let input = data.get(1..).unwrap_or_default();

    // capnp's reader, over the same bytes with the same limits.
    let options = common::limits().reader_options();
    let mut rest = input;
    let mut theirs = Vec::new();
    let their_error = loop {
        match serialize::try_read_message(&mut rest, options) {
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

    // Re-encoding gives back the input, up to the padding of each segment table.
    let mut again = bytes::BytesMut::new();
    for m in &messages {
        common::traverse(m);
        MessageCodec::new()
            .encode(m.get_segments(), &mut again)
            .expect("re-encode");
    }
    assert_eq!(again.len(), input.len().min(again.len()));
});
