//! The accept loop: one `RpcSystem` per TCP connection, all on one thread's `LocalSet`.
//!
//! capnp-rpc is `!Send`: every capability is an `Rc`. So a server is a `LocalSet` that accepts
//! connections and spawns one local task per connection; the bootstrap factory is called on that
//! thread for each new connection. [`serve`] runs such a loop on the caller's runtime until a
//! shutdown future resolves; [`spawn`] runs it on a thread of its own and hands back a
//! [`ServerHandle`].

use std::future::Future;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use capnp::message::ReaderOptions;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::RpcSystem;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinSet, LocalSet};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::error::ServeError;
use crate::rpc;

/// How long the accept loop pauses after a failed `accept` (e.g. `EMFILE`, out of file
/// descriptors) before trying again. Long enough not to spin on a persistent error, short enough
/// that a transient one costs little; the same figure tokio's and mini-redis's loops use.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How long a connection may take to close gracefully at shutdown before it is dropped.
pub const SHUTDOWN_DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// What the bootstrap factory knows about the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    id: u64,
    peer: SocketAddr,
}

impl ConnectionInfo {
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

/// Serves capnp-rpc on every connection accepted from `listener` until `shutdown` resolves, then
/// stops accepting, closes every connection and returns.
///
/// `bootstrap` is called once per connection, on this task's thread, and returns the capability
/// the peer gets as its bootstrap interface (e.g. `capnp_rpc::new_client(impl).client`).
///
/// A peer that disconnects, stalls or sends garbage affects only its own connection: the error
/// is logged and the loop goes on. Errors from `accept` itself are logged and retried after
/// [`ACCEPT_ERROR_BACKOFF`].
///
/// # Errors
/// None at present once the listener is bound; the `Result` is kept for limits that can fail.
pub async fn serve<F, S>(listener: TcpListener, bootstrap: F, shutdown: S) -> Result<(), ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client,
    S: Future<Output = ()>,
{
    LocalSet::new()
        .run_until(accept_loop(listener, bootstrap, shutdown))
        .await
}

async fn accept_loop<F, S>(
    listener: TcpListener,
    bootstrap: F,
    shutdown: S,
) -> Result<(), ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client,
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
                    let info = ConnectionInfo { id: next_id, peer };
                    let span = info_span!("conn", conn_id = info.id, %peer);
                    let client = bootstrap(&info);
                    let stop = stop_rx.clone();
                    connections.spawn_local(serve_connection(stream, client, stop).instrument(span));
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

async fn serve_connection(
    stream: TcpStream,
    bootstrap: capnp::capability::Client,
    mut stop: watch::Receiver<bool>,
) {
    info!("connection open");
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let network = rpc::network(reader, writer, Side::Server, ReaderOptions::new());
    let mut system = RpcSystem::new(network, Some(bootstrap));

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
/// This is how the `demo`, the examples and the tests run a server in-process.
///
/// # Errors
/// [`ServeError::Bind`] when the listener cannot be made non-blocking or its address read,
/// [`ServeError::Runtime`] when the thread or runtime cannot be created.
pub fn spawn<F>(listener: std::net::TcpListener, bootstrap: F) -> Result<ServerHandle, ServeError>
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
                serve(listener, bootstrap, async move {
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
