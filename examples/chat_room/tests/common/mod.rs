//! Helpers shared by the chat room's integration tests.

use std::future::Future;

/// Runs `f` to completion on a current-thread runtime inside a `LocalSet` (capnp-rpc is `!Send`).
pub fn run_local<F: Future>(f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio::task::LocalSet::new().block_on(&runtime, f)
}
