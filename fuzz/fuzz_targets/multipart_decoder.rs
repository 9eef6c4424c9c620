//! The TCP multipart framing decoder plus `from_segments` on arbitrary input, in arbitrary
//! pieces: errors are fine, panics and unbounded buffering are bugs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use windlass::framing::{self, MultipartCodec};

mod common;

fuzz_target!(|data: &[u8]| {
    let mut codec = MultipartCodec::new(common::limits());
    let (messages, _) = common::decode_all(&mut codec, data);
    for frames in messages {
        let total: usize = frames.iter().map(|f| f.len()).sum();
        assert!(total <= common::TRAVERSAL_WORDS * 8);
        if let Ok(message) = framing::from_segments(frames, &common::limits()) {
            common::traverse(&message);
        }
    }
});
