//! The Calculator's expression parser on arbitrary text: it must never panic nor recurse past
//! `MAX_TREE_DEPTH` (a stack overflow aborts the fuzzer), and printing what it accepts must not
//! panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(expr) = windlass_calculator::parse(text) {
        let _ = format!("{expr}");
    }
});
