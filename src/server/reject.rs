//! Closing a connection we will not serve, so that the peer reads why: the refusal paths of the
//! connection task (limits, sniffing, TLS) and of the PROXY protocol reader share it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::rpc;

/// How long a rejected peer is given to read our explanation before the socket is dropped, and
/// how much of its input is drained meanwhile (closing with unread input makes the kernel send a
/// reset, which can destroy the explanation before the peer reads it). The byte bound must
/// cover the rest of a refused oversized message: a peer still writing it when we close gets
/// `EPIPE` and reports that instead of our `Abort` (pycapnp does). Time bounds the cost.
pub(super) const REJECT_LINGER: Duration = Duration::from_secs(1);
const REJECT_DRAIN_BYTES: usize = 16 * 1024 * 1024;

/// Closes a connection we will not serve. With a `reason`, first sends the peer a Cap'n Proto
/// `Abort` message carrying it, which a plain RPC client reports as the error of its calls.
pub(super) async fn reject<S>(mut stream: S, reason: Option<(&str, capnp::ErrorKind)>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    if let Some((reason, kind)) = reason {
        let bytes = rpc::abort_message(reason, kind);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
    linger(stream).await;
}

/// Shuts our sending side and reads (discarding) what the peer still sends, for a bounded time
/// and amount, so that closing does not turn into a reset that destroys our last message.
pub(super) async fn linger<S>(mut stream: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let _ = stream.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < REJECT_DRAIN_BYTES {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(REJECT_LINGER, drain).await;
}
