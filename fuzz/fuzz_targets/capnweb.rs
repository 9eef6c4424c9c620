//! Cap'n Web on arbitrary text: the message parser (`windlass_web::protocol`) and the schema
//! mapping (`windlass_web::fuzzing`, feature `fuzzing`) against the Calculator's schema.
//!
//! The first byte chooses; the rest is the text (UTF-8 or nothing happens):
//! - even: one message, then an HTTP batch body. What parses must write back as text that
//!   parses to the same text again, and its JSON tree must read back as the same message;
//! - odd: a value mapped onto struct number `byte / 2` (params, results and every struct they
//!   reach): written and read back twice, the second read equal to the first.
//!
//! Neither may panic or overflow the stack (nesting is checked before any recursion).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use windlass_web::fuzzing::Mapper;
use windlass_web::protocol::{parse_batch, write_batch, Limits, Message};
use windlass_web::{CapId, Value};

fn mapper() -> &'static Mapper {
    static MAPPER: OnceLock<Mapper> = OnceLock::new();
    MAPPER.get_or_init(|| {
        let interfaces = ["Calculator", "Calculator.Value", "Calculator.Function"];
        Mapper::new(windlass_calculator::SCHEMA_REQUEST, &interfaces).expect("the Calculator")
    })
}

/// Small limits half the time, so that their edges are explored too.
fn limits(small: bool) -> Limits {
    if small {
        Limits {
            max_depth: 8,
            max_message_bytes: 512,
            max_array_len: 8,
            max_batch_messages: 4,
            ..Limits::default()
        }
    } else {
        Limits::default()
    }
}

fn messages(text: &str, limits: &Limits) {
    // Written text may be longer than what was read (`\b` comes back as `\u0008`), so it is
    // read back without the size limit; every other limit is structural and must still hold.
    let unsized_limits = Limits {
        max_message_bytes: usize::MAX,
        ..limits.clone()
    };
    let reread = &unsized_limits;
    if let Ok(message) = Message::parse(text, limits) {
        let written = message.to_text();
        let again = Message::parse(&written, reread)
            .unwrap_or_else(|e| panic!("{written:?} does not parse back: {e}"));
        assert_eq!(written, again.to_text(), "text round trip of {text:?}");
        let tree = Message::from_json(&message.to_json(), reread)
            .unwrap_or_else(|e| panic!("the JSON tree of {written:?} does not read back: {e}"));
        assert_eq!(written, tree.to_text(), "tree round trip of {text:?}");
    }
    if let Ok(batch) = parse_batch(text, limits) {
        let written = write_batch(&batch);
        let again = parse_batch(&written, reread)
            .unwrap_or_else(|e| panic!("batch {written:?} does not parse back: {e}"));
        assert_eq!(written, write_batch(&again), "batch round trip of {text:?}");
    }
}

/// Capability handles are per write; only where they are matters.
fn erase_caps(value: &mut Value) {
    match value {
        Value::Cap(cap) => *cap = CapId(0),
        Value::Array(items) => items.iter_mut().for_each(erase_caps),
        Value::Object(fields) => fields.iter_mut().for_each(|(_, v)| erase_caps(v)),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if choice % 2 == 0 {
        messages(text, &limits(choice & 2 != 0));
        return;
    }
    if let Ok(mut round_trip) = mapper().map_json(usize::from(choice / 2), text) {
        erase_caps(&mut round_trip.first);
        erase_caps(&mut round_trip.second);
        // Debug text: NaN is a value like any other here.
        let (first, second) = (
            format!("{:?}", round_trip.first),
            format!("{:?}", round_trip.second),
        );
        assert_eq!(first, second, "mapping is not a fixed point for {text:?}");
    }
});
