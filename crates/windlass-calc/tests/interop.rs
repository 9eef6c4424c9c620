//! Interoperability with pycapnp, the Python bindings of the C++ reference implementation: RPC
//! both ways (plain TCP, TLS, mutual TLS), serialization both ways, and (feature `zmq`) the
//! ZeroMQ segment transport against pyzmq.
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
#[cfg(feature = "zmq")]
#[path = "interop/zmq.rs"]
mod zmq;

/// The ZeroMQ tests need `--features zmq`; without it, say so (and fail where interop is
/// required, so CI cannot silently drop them).
#[cfg(not(feature = "zmq"))]
#[test]
fn zeromq_segment_transport_needs_the_zmq_feature() {
    if harness::python("ZeroMQ segment transport <-> pyzmq").is_some() {
        assert!(
            std::env::var(harness::REQUIRE_VAR).map_or(true, |v| v != "1"),
            "{}=1: run with --features zmq so the ZeroMQ interop tests are built",
            harness::REQUIRE_VAR
        );
        let line = "SKIPPED ZeroMQ segment transport <-> pyzmq: build with --features zmq\n";
        let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    }
}
