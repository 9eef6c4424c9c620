//! The Calculator reference service, wire-compatible with the calculator sample of the Cap'n
//! Proto project (C++ and pycapnp).
//!
//! - [`new_client`] makes the server-side capability (what a server hands out as bootstrap).
//! - [`parse`] turns infix text into an [`Expr`]; [`evaluate`] sends it in one round trip.
//! - [`function`] wraps a closure as a client-side `Function` the server can call back.
//! - [`ops`] is the arithmetic and its checks, free of RPC.
//!
//! The generated types live in [`crate::schemas::calculator_capnp`]; `calculator::Client` is
//! re-exported here as [`Calculator`].

mod client;
pub mod ops;
mod parse;
mod server;

pub use client::{build_expression, evaluate, evaluate_with, function, Operators};
pub use ops::EvalError;
pub use parse::{parse, Expr, ParseError, MAX_DEPTH, MAX_TREE_DEPTH};
pub use server::new_client;

pub use crate::schemas::calculator_capnp::calculator::Client as Calculator;
pub use crate::schemas::calculator_capnp::calculator::Operator;
