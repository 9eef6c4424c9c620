//! Interoperability with pycapnp, the Python bindings of the C++ reference implementation: RPC
//! both ways (plain TCP, TLS, mutual TLS) and serialization both ways.
//!
//! The peers are Python scripts of ours in `tests/interop/`, run with the interpreter named by
//! `WINDLASS_PYTHON` (a venv with `pycapnp`; `.ci/run` makes one). Without it every test here is
//! skipped with a printed reason, so `cargo test` passes on a machine without Python; with
//! `WINDLASS_REQUIRE_INTEROP=1` (as in CI) a skip is a failure. See `docs/interop.md`.

#[path = "interop/harness.rs"]
mod harness;
#[path = "interop/rpc.rs"]
mod rpc;
#[path = "interop/serialization.rs"]
mod serialization;
