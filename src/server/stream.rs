//! Serving one connection over any byte stream: no socket, no TLS, no acceptor. For fuzzing a
//! whole server connection in memory (`fuzz/fuzz_targets/server_connection.rs`) and for
//! in-memory tests; not a stable API.

use std::sync::Arc;

use capnp_rpc::RpcSystem;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Options;
use crate::instrument::Watch;
use crate::transport;

/// Runs one server connection over `stream` with `options`' limits (message size, flow limit,
/// read timeout, error redaction, stream window) and `bootstrap`, until the peer leaves or breaks the
/// protocol. Must run inside a `tokio::task::LocalSet`.
///
/// # Errors
/// The RPC system's error when the connection fails.
#[doc(hidden)]
pub async fn serve_stream<S>(
    stream: S,
    options: &Options,
    bootstrap: capnp::capability::Client,
) -> Result<(), capnp::Error>
where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let watch = Watch::new(Arc::default(), options.redact.clone());
    watch.questions.set_limits(options.flow_limits());
    let (reader, writer) = tokio::io::split(stream);
    let network = transport::network(reader, writer, options.network_config(), watch);
    RpcSystem::new(network, Some(bootstrap)).await
}
