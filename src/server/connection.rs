//! One server connection: recognise what the peer speaks, do the TLS handshake if configured,
//! then run an `RpcSystem` until the peer leaves or the server shuts down.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use capnp::message::ReaderOptions;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::RpcSystem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::{ConnectionInfo, Options, SHUTDOWN_DISCONNECT_GRACE};
use crate::rpc;

/// How long a rejected peer is given to read our explanation before the socket is dropped, and
/// how much of its input is drained meanwhile (closing with unread input makes the kernel send a
/// reset, which can destroy the explanation before the peer reads it).
const REJECT_LINGER: Duration = Duration::from_secs(1);
const REJECT_DRAIN_BYTES: usize = 64 * 1024;

/// Serves one accepted connection until it ends or `stop` turns true.
pub(super) async fn serve<F>(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    options: Rc<Options>,
    bootstrap: Rc<F>,
    mut stop: watch::Receiver<bool>,
) where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + 'static,
{
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let info = ConnectionInfo::new(id, peer);
    let establish = establish(stream, info, &options);
    let established = tokio::select! {
        established = establish => established,
        _ = stop.wait_for(|stop| *stop) => return,
    };
    let Some((network, info)) = established else {
        return;
    };
    info!(tls = info.is_tls(), "connection open");
    let mut system = RpcSystem::new(network, Some(bootstrap(&info)));
    tokio::select! {
        result = &mut system => match result {
            Ok(()) => info!("connection closed"),
            Err(e) => warn!(error = %e, "connection closed with an error"),
        },
        _ = stop.wait_for(|stop| *stop) => {
            let disconnect = system.get_disconnector();
            let graceful = futures::future::join(&mut system, disconnect);
            if tokio::time::timeout(SHUTDOWN_DISCONNECT_GRACE, graceful).await.is_err() {
                debug!("peer did not close in time; dropping the connection");
            }
            info!("connection closed by shutdown");
        }
    }
}

/// Checks the first bytes and, on a TLS server, completes the handshake. `None` means the
/// connection was refused (and why has been logged and, where possible, told to the peer).
async fn establish(
    stream: TcpStream,
    info: ConnectionInfo,
    options: &Options,
) -> Option<(rpc::Network, ConnectionInfo)> {
    #[cfg(feature = "tls")]
    if let Some(tls) = &options.tls {
        return establish_tls(stream, info, tls, options.handshake_timeout).await;
    }
    let _ = options;
    let mut head = [0u8; 3];
    // Waiting here costs nothing extra: the RPC system would wait for the same first bytes.
    let n = stream.peek(&mut head).await.unwrap_or(0);
    if rpc::looks_like_tls(&head[..n]) {
        warn!("peer started a TLS handshake on this plain-TCP port; closing (is the client using --tls?)");
        reject(stream, None).await;
        return None;
    }
    let (reader, writer) = stream.into_split();
    let network = rpc::network(reader, writer, Side::Server, ReaderOptions::new());
    Some((network, info))
}

#[cfg(feature = "tls")]
async fn establish_tls(
    stream: TcpStream,
    mut info: ConnectionInfo,
    tls: &crate::tls::ServerTls,
    timeout: Duration,
) -> Option<(rpc::Network, ConnectionInfo)> {
    let handshake = async {
        let mut head = [0u8; 3];
        let n = stream.peek(&mut head).await?;
        if n > 0 && !rpc::looks_like_tls(&head[..n]) {
            return Ok(Err(stream));
        }
        tls.acceptor().accept(stream).await.map(Ok)
    };
    let stream = match tokio::time::timeout(timeout, handshake).await {
        Err(_) => {
            warn!(?timeout, "TLS handshake timed out; closing");
            return None;
        }
        Ok(Err(e)) => {
            warn!(error = %e, "TLS handshake failed; closing");
            return None;
        }
        Ok(Ok(Err(plain))) => {
            warn!("peer sent plain Cap'n Proto to this TLS port; closing (is the client missing --tls?)");
            let reason = "this server requires TLS: connect with TLS (windlass-calc: --tls)";
            reject(plain, Some(reason)).await;
            return None;
        }
        Ok(Ok(Ok(stream))) => stream,
    };
    let (_, session) = stream.get_ref();
    info.set_tls(
        session
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|cert| crate::tls::PeerCertificate::from_der(cert)),
    );
    if let Some(cert) = info.peer_certificate() {
        info!(subject = cert.subject(), sha256 = %cert.fingerprint(), "client certificate verified");
    }
    let (reader, writer) = tokio::io::split(stream);
    let network = rpc::network(reader, writer, Side::Server, ReaderOptions::new());
    Some((network, info))
}

/// Closes a connection we will not serve. With a `reason`, first sends the peer a Cap'n Proto
/// `Abort` message carrying it, which a plain RPC client reports as the error of its calls.
async fn reject(mut stream: TcpStream, reason: Option<&str>) {
    if let Some(reason) = reason {
        let bytes = rpc::abort_message(reason);
        if stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
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
