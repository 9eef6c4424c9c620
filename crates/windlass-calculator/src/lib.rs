//! The Calculator reference service, wire-compatible with the calculator sample of the Cap'n
//! Proto project (C++ and pycapnp).
//!
//! - [`new_client`] makes the server-side capability (what a server hands out as bootstrap).
//! - [`parse`] turns infix text into an [`Expr`]; [`evaluate`] sends it in one round trip.
//! - [`function`] wraps a closure as a client-side `Function` the server can call back.
//! - [`ops`] is the arithmetic and its checks, free of RPC.
//!
//! The generated types live in [`calculator_capnp`] (from `schemas/calculator.capnp`, file ID
//! `@0x85150b117366d14b`, the same IDs and ordinals as the C++ and pycapnp samples);
//! `calculator::Client` is re-exported here as [`Calculator`].
//!
//! This crate is the windlass workspace's reference service: the binary (`windlass-calc`), the
//! benchmarks, the examples and the interoperability tests use it. A service of your own does
//! not need it; `docs/your-own-service.md` shows the same shape for your schema.

#![forbid(unsafe_code)]

mod client;
pub mod ops;
mod parse;
mod server;

pub use client::{build_expression, evaluate, evaluate_with, function, Operators};
pub use ops::EvalError;
pub use parse::{parse, Expr, ParseError, MAX_DEPTH, MAX_TREE_DEPTH};
pub use server::new_client;

pub use crate::calculator_capnp::calculator::Client as Calculator;
pub use crate::calculator_capnp::calculator::Operator;

/// The serialized `CodeGeneratorRequest` of `schemas/calculator.capnp` (every node: interfaces,
/// methods, structs, enums), written by windlass-build beside the generated code: what a
/// run-time mapping such as windlass-web's reads to serve the Calculator by its schema.
pub const SCHEMA_REQUEST: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/schema_request.bin"));

/// Rust code generated from `schemas/calculator.capnp` by `capnpc` (see `build.rs`); never
/// edited by hand.
#[allow(
    missing_docs,
    unreachable_pub,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used
)]
pub mod calculator_capnp {
    include!(concat!(env!("OUT_DIR"), "/calculator_capnp.rs"));
}
