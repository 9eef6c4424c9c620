//! Rust code generated from `schemas/shared.capnp` by `capnpc` (see `build.rs`): the private
//! bridge schema of [`crate::Shared`].
//!
//! The module is never edited by hand; change the schema and run `scripts/regen-schemas.sh`.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]

capnp::generated_code!(pub(crate) mod shared_capnp);
