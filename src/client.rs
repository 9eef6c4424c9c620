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

/// Connects to `addr` (`host:port`) over plain TCP with the default timeouts; shorthand for
/// `Connector::new(addr).connect()`.
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
    Connector::new(addr).connect().await
}

/// How long a TLS handshake may take after the TCP connection is up.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens connections to one server: address, timeouts and (feature `tls`) TLS.
#[derive(Debug, Clone)]
pub struct Connector {
    addr: String,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientTls>,
}

impl Connector {
    /// A connector for `addr` (`host:port`, e.g. `localhost:4000` or `[::1]:4000`): plain TCP,
    /// [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new(addr: impl Into<String>) -> Self {
        Connector {
            addr: addr.into(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// How long resolving and connecting may take. Default: [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the TLS handshake may take. Default: [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Speaks TLS with this configuration. The name verified is the host of the address unless
    /// the configuration overrides it. Default: plain TCP.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Connects, completes the TLS handshake if configured, and starts the RPC system.
    ///
    /// Must be called inside a [`tokio::task::LocalSet`].
    ///
    /// # Errors
    /// [`ConnectError`] saying what failed and, where it can tell, what to do about it.
    ///
    /// # Panics
    /// Outside a `LocalSet` (tokio's `spawn_local` panics there).
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        let addr = self.addr.as_str();
        let timeout = self.connect_timeout;
        let stream = tokio::time::timeout(timeout, open_tcp(addr))
            .await
            .map_err(|_| ConnectError::Timeout {
                addr: addr.to_string(),
                timeout,
            })??;
        let peer = stream.peer_addr().map_err(|source| ConnectError::Connect {
            addr: unspecified(),
            source,
        })?;
        if let Err(e) = stream.set_nodelay(true) {
            debug!(error = %e, "cannot set TCP_NODELAY");
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let stream =
                crate::client_tls::handshake(stream, tls, addr, self.handshake_timeout).await?;
            let (reader, writer) = tokio::io::split(stream);
            let reader = crate::client_tls::Hinted(reader);
            return Ok(start(
                rpc::network(reader, writer, Side::Client, ReaderOptions::new()),
                peer,
            ));
        }
        let (reader, writer) = stream.into_split();
        Ok(start(
            rpc::network(reader, writer, Side::Client, ReaderOptions::new()),
            peer,
        ))
    }
}

fn start(network: rpc::Network, peer: SocketAddr) -> Connection {
    let mut system = RpcSystem::new(network, None);
    let bootstrap: capnp::capability::Client = system.bootstrap(Side::Server);
    let disconnector = system.get_disconnector();
    let task = tokio::task::spawn_local(system);
    Connection {
        bootstrap,
        disconnector: Some(disconnector),
        task: Some(task),
        peer,
    }
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
