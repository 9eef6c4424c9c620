//! Rust code generated from `schemas/*.capnp` by `capnpc` (see `build.rs`).
//!
//! The modules are never edited by hand; change the schema and run `scripts/regen-schemas.sh`.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]

capnp::generated_code!(pub mod calculator_capnp);
capnp::generated_code!(pub mod addressbook_capnp);
