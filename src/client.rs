//! Connecting to a server and getting its bootstrap capability.

use std::net::SocketAddr;
use std::time::Duration;

use capnp::capability::FromClientHook;
use capnp::message::ReaderOptions;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::RpcSystem;
use futures::FutureExt;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::error::ConnectError;
use crate::rpc;

/// How long [`connect`] waits for the TCP connection before giving up. Generous for a LAN, short
/// enough that a wrong address fails while a person is still watching.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// An open RPC connection to a server.
///
/// The connection's `RpcSystem` runs as a local task; it lives until [`Connection::close`] or
/// until the value is dropped. Either way, calls still in flight then fail with
/// `Disconnected` and capabilities obtained through the connection stop working.
pub struct Connection {
    bootstrap: capnp::capability::Client,
    /// Both are `Some` until [`Connection::close`] or `Drop` takes them.
    disconnector: Option<capnp_rpc::Disconnector<capnp_rpc::twoparty::VatId>>,
    task: Option<JoinHandle<Result<(), capnp::Error>>>,
    peer: SocketAddr,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish()
    }
}

/// Connects to `addr` (`host:port`) over TCP with [`DEFAULT_CONNECT_TIMEOUT`].
///
/// Must be called inside a [`tokio::task::LocalSet`]: capnp-rpc is `!Send`, so the connection's
/// task is spawned with `spawn_local`.
///
/// # Errors
/// [`ConnectError`] when `addr` does not resolve, refuses or times out.
///
/// # Panics
/// Outside a `LocalSet` (tokio's `spawn_local` panics there).
pub async fn connect(addr: &str) -> Result<Connection, ConnectError> {
    connect_with_timeout(addr, DEFAULT_CONNECT_TIMEOUT).await
}

/// [`connect`] with a connect timeout of your choosing.
///
/// # Errors
/// As [`connect`].
///
/// # Panics
/// As [`connect`].
pub async fn connect_with_timeout(
    addr: &str,
    timeout: Duration,
) -> Result<Connection, ConnectError> {
    let stream = tokio::time::timeout(timeout, open_tcp(addr))
        .await
        .map_err(|_| ConnectError::Timeout {
            addr: addr.to_string(),
            timeout,
        })??;
    let peer = match stream.peer_addr() {
        Ok(peer) => peer,
        Err(source) => {
            return Err(ConnectError::Connect {
                addr: unspecified(),
                source,
            })
        }
    };
    if let Err(e) = stream.set_nodelay(true) {
        debug!(error = %e, "cannot set TCP_NODELAY");
    }
    let (reader, writer) = stream.into_split();
    let network = rpc::network(reader, writer, Side::Client, ReaderOptions::new());
    let mut system = RpcSystem::new(network, None);
    let bootstrap: capnp::capability::Client = system.bootstrap(Side::Server);
    let disconnector = system.get_disconnector();
    let task = tokio::task::spawn_local(system);
    Ok(Connection {
        bootstrap,
        disconnector: Some(disconnector),
        task: Some(task),
        peer,
    })
}

async fn open_tcp(addr: &str) -> Result<TcpStream, ConnectError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr)
        .await
        .map_err(|source| ConnectError::Resolve {
            addr: addr.to_string(),
            source,
        })?
        .collect();
    let mut last = None;
    for candidate in addrs {
        match TcpStream::connect(candidate).await {
            Ok(stream) => return Ok(stream),
            Err(source) => {
                last = Some(ConnectError::Connect {
                    addr: candidate,
                    source,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| ConnectError::Resolve {
        addr: addr.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses found"),
    }))
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

impl Connection {
    /// The server's bootstrap capability as the typed client `T`, e.g.
    /// `conn.bootstrap::<calculator::Client>()`. Each call returns a new reference to the same
    /// capability; nothing goes over the wire until it is used.
    pub fn bootstrap<T: FromClientHook>(&self) -> T {
        T::new(self.bootstrap.hook.add_ref())
    }

    /// The server's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// Closes the connection gracefully: tells the RPC system to disconnect and waits until it
    /// has. Calls still in flight fail with `Disconnected`.
    ///
    /// # Errors
    /// The error the connection ended with, if it ended with one before the close.
    pub async fn close(mut self) -> Result<(), capnp::Error> {
        if let Some(disconnector) = self.disconnector.take() {
            if let Err(e) = disconnector.await {
                debug!(error = %e, "disconnect reported an error");
            }
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result,
            Err(e) => {
                warn!(error = %e, "connection task ended abnormally");
                Err(capnp::Error::disconnected(format!(
                    "connection task failed: {e}"
                )))
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        // The first poll of the disconnector disconnects the connection state at once: every
        // call in flight fails with `Disconnected` and every capability obtained through the
        // connection becomes broken. The `RpcSystem` task keeps running just long enough to
        // shut the socket down, then ends by itself. (Aborting the task instead would leave
        // calls in flight pending forever.)
        if let Some(disconnector) = self.disconnector.take() {
            let _ = disconnector.now_or_never();
        }
    }
}
