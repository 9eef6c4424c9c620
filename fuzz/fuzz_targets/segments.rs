//! `from_segments` on arbitrary frames (the input split at chosen points): it must never panic
//! or exceed its limits, and an accepted message must give back the same frames.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    // First byte: the frame length in words (0 means 1), the rest cut into frames of it.
    let Some((&len, rest)) = data.split_first() else {
        return;
    };
    let len = (usize::from(len % 32) + 1) * 8;
    let frames: Vec<Bytes> = rest.chunks(len).map(Bytes::copy_from_slice).collect();
    let limits = common::limits();
    if let Ok(message) = windlass::framing::from_segments(frames.clone(), &limits) {
        common::traverse(&message);
        let back = windlass::framing::to_owned_segments(&message.into_segments());
        assert_eq!(back, frames);
    }
});
