//! Rust code generated from `schemas/*.capnp` by `capnpc` (see `build.rs`): the Calculator's
//! public schema, and the private bridge schema of [`crate::Shared`].
//!
//! The module is never edited by hand; change the schema and run `scripts/regen-schemas.sh`.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]

capnp::generated_code!(pub mod calculator_capnp);
capnp::generated_code!(pub(crate) mod shared_capnp);
