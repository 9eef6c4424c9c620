//! The accept loop: one `RpcSystem` per TCP connection, all on one thread's `LocalSet`.
//!
//! capnp-rpc is `!Send`: every capability is an `Rc`. So a server is a `LocalSet` that accepts
//! connections and spawns one local task per connection; the bootstrap factory is called on that
//! thread for each new connection. [`serve`] runs such a loop on the caller's runtime until a
//! shutdown future resolves; [`spawn`] runs it on a thread of its own and hands back a
//! [`ServerHandle`].

mod connection;

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::thread;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinSet, LocalSet};
use tracing::{info, info_span, warn, Instrument};

use crate::error::ServeError;

/// How long the accept loop pauses after a failed `accept` (e.g. `EMFILE`, out of file
/// descriptors) before trying again. Long enough not to spin on a persistent error, short enough
/// that a transient one costs little; the same figure tokio's and mini-redis's loops use.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How long a connection may take to close gracefully at shutdown before it is dropped.
pub const SHUTDOWN_DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// Default for [`Options::handshake_timeout`]: a TLS handshake takes one or two round trips, so
/// ten seconds is generous on any network while still freeing the slot of a peer that went
/// silent.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a server treats its connections. The default: plain TCP, handshake timeout
/// [`DEFAULT_HANDSHAKE_TIMEOUT`].
#[derive(Debug, Clone)]
pub struct Options {
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ServerTls>,
    handshake_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            #[cfg(feature = "tls")]
            tls: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
        }
    }
}

impl Options {
    /// Plain TCP with the default limits.
    pub fn new() -> Self {
        Self::default()
    }

    /// Serves TLS with this configuration; plain Cap'n Proto clients are told so (in an RPC
    /// `Abort` message) and disconnected. Default: plain TCP.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long a TLS handshake may take before the connection is closed. Default:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }
}

/// What the bootstrap factory knows about the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    id: u64,
    peer: SocketAddr,
    tls: bool,
    #[cfg(feature = "tls")]
    peer_certificate: Option<crate::tls::PeerCertificate>,
}

impl ConnectionInfo {
    fn new(id: u64, peer: SocketAddr) -> Self {
        ConnectionInfo {
            id,
            peer,
            tls: false,
            #[cfg(feature = "tls")]
            peer_certificate: None,
        }
    }

    #[cfg(feature = "tls")]
    fn set_tls(&mut self, peer_certificate: Option<crate::tls::PeerCertificate>) {
        self.tls = true;
        self.peer_certificate = peer_certificate;
    }

    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The client certificate TLS verified, if the server asks for one and the client sent it.
    /// A service can decide from its subject or fingerprint what this peer may do.
    #[cfg(feature = "tls")]
    pub fn peer_certificate(&self) -> Option<&crate::tls::PeerCertificate> {
        self.peer_certificate.as_ref()
    }

    /// A number unique among this server's connections, counting from 1.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The remote address of the peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

/// Binds a TCP listener on `addr` (e.g. `127.0.0.1:0` for any free port).
///
/// # Errors
/// [`ServeError::Bind`] when the address does not parse or cannot be bound.
pub fn bind(addr: &str) -> Result<std::net::TcpListener, ServeError> {
    std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// Serves capnp-rpc over plain TCP on every connection accepted from `listener` until
/// `shutdown` resolves; [`serve_with`] with default [`Options`].
///
/// # Errors
/// As [`serve_with`].
pub async fn serve<F, S>(listener: TcpListener, bootstrap: F, shutdown: S) -> Result<(), ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + 'static,
    S: Future<Output = ()>,
{
    serve_with(listener, Options::default(), bootstrap, shutdown).await
}

/// Serves capnp-rpc on every connection accepted from `listener` until `shutdown` resolves, then
/// stops accepting, closes every connection and returns.
///
/// `bootstrap` is called once per connection, on this task's thread, after the TLS handshake if
/// any, and returns the capability the peer gets as its bootstrap interface (e.g.
/// `capnp_rpc::new_client(impl).client`).
///
/// A peer that disconnects, stalls or sends garbage affects only its own connection: the error
/// is logged and the loop goes on. Errors from `accept` itself are logged and retried after
/// [`ACCEPT_ERROR_BACKOFF`].
///
/// # Errors
/// None at present once the listener is bound; the `Result` is kept for limits that can fail.
pub async fn serve_with<F, S>(
    listener: TcpListener,
    options: Options,
    bootstrap: F,
    shutdown: S,
) -> Result<(), ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + 'static,
    S: Future<Output = ()>,
{
    LocalSet::new()
        .run_until(accept_loop(
            listener,
            Rc::new(options),
            Rc::new(bootstrap),
            shutdown,
        ))
        .await
}

async fn accept_loop<F, S>(
    listener: TcpListener,
    options: Rc<Options>,
    bootstrap: Rc<F>,
    shutdown: S,
) -> Result<(), ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + 'static,
    S: Future<Output = ()>,
{
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    next_id += 1;
                    let span = info_span!("conn", conn_id = next_id, %peer);
                    let task = connection::serve(
                        stream,
                        peer,
                        next_id,
                        options.clone(),
                        bootstrap.clone(),
                        stop_rx.clone(),
                    );
                    connections.spawn_local(task.instrument(span));
                }
                Err(e) => {
                    warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            // Reap finished connections so the set does not grow with every peer ever seen.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }

    drop(listener);
    info!(
        open = connections.len(),
        "shutting down: closing connections"
    );
    // Send errors only mean no connection is left to hear it.
    let _ = stop_tx.send(true);
    while connections.join_next().await.is_some() {}
    info!("server stopped");
    Ok(())
}

/// A server running on a thread of its own; see [`spawn`].
///
/// Dropping the handle shuts the server down and waits for its thread.
#[derive(Debug)]
pub struct ServerHandle {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<Result<(), ServeError>>>,
}

impl ServerHandle {
    /// The address the server listens on (with the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, closes every connection and waits for the server thread to finish.
    ///
    /// # Errors
    /// What the server loop returned, or [`ServeError::Panicked`].
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServeError::Panicked)?,
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop_and_join() {
            warn!(error = %e, "server ended with an error");
        }
    }
}

/// Runs [`serve`] on a new thread with a current-thread tokio runtime of its own.
///
/// # Errors
/// As [`spawn_with`].
pub fn spawn<F>(listener: std::net::TcpListener, bootstrap: F) -> Result<ServerHandle, ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + 'static,
{
    spawn_with(listener, Options::default(), bootstrap)
}

/// Runs [`serve_with`] on a new thread with a current-thread tokio runtime of its own.
///
/// This is how the `demo`, the examples and the tests run a server in-process.
///
/// # Errors
/// [`ServeError::Bind`] when the listener cannot be made non-blocking or its address read,
/// [`ServeError::Runtime`] when the thread or runtime cannot be created.
pub fn spawn_with<F>(
    listener: std::net::TcpListener,
    options: Options,
    bootstrap: F,
) -> Result<ServerHandle, ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + 'static,
{
    let bind_error = |source| ServeError::Bind {
        addr: format!("{listener:?}"),
        source,
    };
    let local_addr = listener.local_addr().map_err(bind_error)?;
    listener.set_nonblocking(true).map_err(bind_error)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let thread = thread::Builder::new()
        .name("windlass-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener =
                    TcpListener::from_std(listener).map_err(|source| ServeError::Bind {
                        addr: local_addr.to_string(),
                        source,
                    })?;
                // A dropped handle sender also means stop.
                serve_with(listener, options, bootstrap, async move {
                    let _ = stop_rx.await;
                })
                .await
            })
        })
        .map_err(ServeError::Runtime)?;
    Ok(ServerHandle {
        local_addr,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}
