//! The code capnpc generated from `chat_room.capnp` (compiled by this package's build.rs with windlass-build),
//! included at the crate root as `chat_room_capnp` by the example and the tests that use it.
// (capnpc's output does not meet this crate's lints.)
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::all,
    clippy::unwrap_used
)]

include!(concat!(env!("OUT_DIR"), "/chat_room_capnp.rs"));
