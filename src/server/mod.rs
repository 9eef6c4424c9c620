//! The server runtime: an acceptor thread hands connections to N worker threads, each a
//! current-thread tokio runtime with a `LocalSet` running one `RpcSystem` per connection.
//!
//! capnp-rpc is `!Send`: every capability is an `Rc`. So all RPC state of a connection lives on
//! the worker that owns it, and the bootstrap factory (`Send + Sync`) is called there, once per
//! connection, after the TLS handshake if any.
//!
//! ```text
//! acceptor thread ──accept──► limit check ──std socket──► least-loaded worker k
//!                                                          (current_thread runtime + LocalSet)
//!                                                          └─ TLS handshake? ─► VatNetwork
//!                                                             └─ RpcSystem(bootstrap from factory)
//! ```
//!
//! Start one with [`Server::bind`] (an address: `HOST:PORT` or `unix:PATH`) or
//! [`Server::start`] (a listener you bound yourself); configure it with [`Options`]; stop it
//! with [`ServerHandle::shutdown`].

mod acceptor;
#[cfg(feature = "admin")]
mod admin;
mod cidr;
mod connection;
mod handle;
mod job;
#[cfg(feature = "admin")]
mod metrics;
mod options;
#[cfg(feature = "proxy-protocol")]
mod proxy_protocol;
mod ratelimit;
mod reject;
mod sniff;
mod stream;
mod totals;
#[cfg(unix)]
mod unix;
mod worker;

use acceptor::{Acceptor, Listener};

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::info;

pub use cidr::{Cidr, CidrError};
pub use handle::{ServerHandle, ShutdownTrigger};
use options::SHUTDOWN_DISCONNECT_GRACE;
pub use options::{
    Options, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_LISTEN_BACKLOG,
    DEFAULT_MAX_CALLS_IN_FLIGHT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT,
};
#[cfg(feature = "proxy-protocol")]
pub use proxy_protocol::{ProxyError, ProxyProtocol};
pub use ratelimit::{LogBudget, LOG_WINDOW};
#[doc(hidden)]
pub use stream::serve_stream;
pub use totals::RefusalStats;
#[cfg(unix)]
pub use unix::PeerCredentials;

use crate::addr::UNIX_PREFIX;
use crate::error::ServeError;
use crate::instrument::{ConnectionStats, Counters};

/// How long the accept loop pauses after a failed `accept` (e.g. `EMFILE`, out of file
/// descriptors) before trying again. Long enough not to spin on a persistent error, short enough
/// that a transient one costs little; the same figure tokio's and mini-redis's loops use.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Refusals (over the connection limit) that may be in progress at once, each telling its peer
/// why and lingering up to a second; beyond this a refused connection is reset at once, so a
/// flood of connections cannot make the acceptor hold more sockets or do more TLS handshakes
/// than this.
const MAX_REFUSALS_IN_PROGRESS: usize = 64;

/// The bootstrap factory, shared by every worker.
pub(crate) type Factory = Arc<dyn Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync>;

/// What the bootstrap factory knows about the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    id: u64,
    peer: Option<SocketAddr>,
    proxy: Option<SocketAddr>,
    worker: usize,
    tls: bool,
    #[cfg(feature = "tls")]
    peer_certificate: Option<crate::tls::PeerCertificate>,
    #[cfg(unix)]
    peer_credentials: Option<PeerCredentials>,
    unix: bool,
    counters: Arc<Counters>,
}

impl ConnectionInfo {
    fn new(id: u64, peer: Option<SocketAddr>, worker: usize) -> Self {
        ConnectionInfo {
            id,
            peer,
            proxy: None,
            worker,
            tls: false,
            #[cfg(feature = "tls")]
            peer_certificate: None,
            #[cfg(unix)]
            peer_credentials: None,
            unix: false,
            counters: Arc::default(),
        }
    }

    #[cfg(unix)]
    fn set_unix(&mut self, credentials: Option<PeerCredentials>) {
        self.unix = true;
        self.peer_credentials = credentials;
    }

    #[cfg(feature = "tls")]
    fn set_tls(&mut self, peer_certificate: Option<crate::tls::PeerCertificate>) {
        self.tls = true;
        self.peer_certificate = peer_certificate;
    }

    /// A number unique among this server's connections, counting from 1.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The remote address of the peer: behind a trusted proxy (the PROXY protocol), the
    /// client's address as the proxy's header gave it, else the socket's peer. `None` for a unix
    /// socket connection, which has no address: its peer is known by
    /// [`ConnectionInfo::peer_credentials`] instead.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Whether the connection came over a unix domain socket.
    pub fn is_unix(&self) -> bool {
        self.unix
    }

    /// For a unix socket connection, who the peer process is (uid, gid, pid), as the kernel
    /// reports it: a service can decide from it what this peer may do, as from a TLS client
    /// certificate. `None` for TCP.
    #[cfg(unix)]
    pub fn peer_credentials(&self) -> Option<PeerCredentials> {
        self.peer_credentials
    }

    /// The address of the proxy the connection came through (the PROXY protocol, feature
    /// `proxy-protocol`), `None` for a direct connection.
    pub fn proxy(&self) -> Option<SocketAddr> {
        self.proxy
    }

    #[cfg(feature = "proxy-protocol")]
    fn set_proxied(&mut self, client: SocketAddr) {
        if Some(client) != self.peer {
            self.proxy = self.peer;
            self.peer = Some(client);
        }
    }

    /// The index of the worker thread that owns the connection.
    pub fn worker(&self) -> usize {
        self.worker
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

    /// The connection's traffic so far.
    pub fn stats(&self) -> ConnectionStats {
        self.counters.snapshot()
    }
}

/// Server-wide totals; see [`ServerHandle::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections accepted and handed to a worker.
    pub accepted: u64,
    /// Connections refused at once because [`Options::with_max_connections`] was reached.
    pub rejected: u64,
    /// Connections open now (including TLS handshakes in progress).
    pub active: u64,
    /// Connections that have ended.
    pub closed: u64,
    /// Connections closed for the peer's misbehaviour: silent past the handshake or idle
    /// timeout, the wrong protocol, a failed TLS handshake, a broken or over-limit message.
    /// Each is counted here; the log shows them at a bounded rate (one line per kind per second, then a summary).
    pub peer_errors: u64,
}

/// One open connection, as [`ServerHandle::connections`] reports it.
#[derive(Debug, Clone)]
pub struct ConnectionSnapshot {
    /// See [`ConnectionInfo::id`].
    pub id: u64,
    /// See [`ConnectionInfo::peer`] (`None` for a unix socket connection).
    pub peer: Option<SocketAddr>,
    /// See [`ConnectionInfo::worker`].
    pub worker: usize,
    /// Traffic so far.
    pub stats: ConnectionStats,
}

/// The phase every thread of a server watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Stop accepting; let calls in flight finish until the deadline, then disconnect.
    Draining(Instant),
}

/// State shared by the handle, the acceptor and the workers.
pub(crate) struct Shared {
    pub(crate) phase: watch::Sender<Phase>,
    accepted: AtomicU64,
    rejected: AtomicU64,
    closed: AtomicU64,
    active: AtomicUsize,
    registry: Mutex<Vec<(ConnectionInfo, Arc<Counters>)>>,
    /// Taken while `closed` changes the counters and by [`ServerHandle::wait_idle`] while it
    /// checks them, so the notification below cannot fall between its check and its wait.
    idle_lock: Mutex<()>,
    /// Notified when the last active connection is counted closed.
    idle: Condvar,
    /// Refusals by reason, ended connections' traffic, readiness.
    pub(crate) totals: totals::Totals,
    /// Log budgets: refusals (over the connection limit) and misbehaving peers.
    refusals: ratelimit::LogBudget,
    peer_errors: ratelimit::LogBudget,
    /// Refusals in progress (see [`MAX_REFUSALS_IN_PROGRESS`]).
    refusing: AtomicUsize,
    /// More metrics for `/metrics` ([`Options::with_metrics_collector`]).
    #[cfg(feature = "admin")]
    collectors: Vec<metrics::SharedCollector>,
}

impl Shared {
    pub(crate) fn opened(&self, info: &ConnectionInfo) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.push((info.clone(), info.counters.clone()));
        }
    }

    pub(crate) fn closed(&self, id: u64) {
        if let Ok(mut registry) = self.registry.lock() {
            if let Some(index) = registry.iter().position(|(info, _)| info.id == id) {
                let (_, counters) = registry.swap_remove(index);
                self.totals
                    .retire(&counters.snapshot(), &counters.calls.snapshot());
            }
        }
        // A poisoned lock only means a waiter panicked; the counters must move regardless.
        let _guard = self.idle_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.fetch_add(1, Relaxed);
        if self.active.fetch_sub(1, Relaxed) == 1 {
            self.idle.notify_all();
        }
    }
}

/// Entry points; see the module docs.
#[derive(Debug)]
pub struct Server;

impl Server {
    /// Binds `addr` and starts serving: `HOST:PORT` for TCP (e.g. `127.0.0.1:4000`, port 0 for
    /// any free port) or `unix:PATH` for a unix domain socket (a stale socket file left by a
    /// killed server is replaced; the file is removed when the server stops; TLS options are
    /// refused there, the file's permissions and the peer credentials do that job).
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the address does not parse or cannot be bound (for `unix:`
    /// also when the path is in use by a live server or is not a socket); otherwise as
    /// [`Server::start`].
    pub fn bind<F>(addr: &str, options: Options, bootstrap: F) -> Result<ServerHandle, ServeError>
    where
        F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync + 'static,
    {
        #[cfg(unix)]
        if let Some(path) = crate::addr::unix_path(addr) {
            #[cfg(feature = "tls")]
            if options.tls.is_some() {
                return Err(ServeError::Bind {
                    addr: addr.to_string(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        "TLS is not offered on a unix socket (its permissions and the peers' \
                         credentials authenticate); drop the TLS options or listen on TCP",
                    ),
                });
            }
            let listener = unix::bind(path)?;
            let listener = Listener::Unix(listener, path.to_path_buf());
            return Server::launch(listener, options, Arc::new(bootstrap));
        }
        Server::start(bind_tcp(addr)?, options, bootstrap)
    }

    /// Starts serving on a listener the caller owns (std or tokio): an acceptor thread and
    /// [`Options::with_workers`] worker threads. Returns once they are running.
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the listener cannot be prepared, [`ServeError::Runtime`] when a
    /// thread or runtime cannot be created.
    pub fn start<L, F>(
        listener: L,
        options: Options,
        bootstrap: F,
    ) -> Result<ServerHandle, ServeError>
    where
        L: IntoStdListener,
        F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync + 'static,
    {
        Server::launch(
            Listener::Tcp(listener.into_std()?),
            options,
            Arc::new(bootstrap),
        )
    }

    fn launch(
        listener: Listener,
        options: Options,
        factory: Factory,
    ) -> Result<ServerHandle, ServeError> {
        let (local_addr, socket_file) = listener.prepare(options.listen_backlog)?;
        let options = Arc::new(options);
        let (phase, _) = watch::channel(Phase::Running);
        let shared = Arc::new(Shared {
            phase,
            accepted: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            active: AtomicUsize::new(0),
            registry: Mutex::new(Vec::new()),
            idle_lock: Mutex::new(()),
            idle: Condvar::new(),
            totals: totals::Totals::default(),
            refusals: ratelimit::LogBudget::new(),
            peer_errors: ratelimit::LogBudget::new(),
            refusing: AtomicUsize::new(0),
            #[cfg(feature = "admin")]
            collectors: options.collectors.clone(),
        });
        let mut handle = ServerHandle {
            local_addr,
            #[cfg(unix)]
            socket_file,
            shared: shared.clone(),
            drain_timeout: options.drain_timeout,
            threads: Vec::new(),
            workers: options.workers.max(1),
            #[cfg(feature = "admin")]
            admin: None,
        };
        #[cfg(feature = "admin")]
        if let Some(addr) = options.admin {
            handle.admin = Some(admin::Admin::start(
                addr,
                shared.clone(),
                handle.workers,
                &options.thread_name,
            )?);
        }
        // On an early return the handle's Drop stops and joins what was started.
        // Every thread reports in once it runs, so `start` returns with the server serving.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
        let mut workers = Vec::new();
        for index in 0..options.workers.max(1) {
            let (tx, rx) = mpsc::unbounded_channel();
            let load = Arc::new(AtomicUsize::new(0));
            let thread = worker::spawn(
                index,
                rx,
                load.clone(),
                options.clone(),
                factory.clone(),
                shared.clone(),
                ready_tx.clone(),
            )?;
            handle.threads.push(thread);
            workers.push(worker::WorkerRef { tx, load });
        }
        let acceptor = Acceptor {
            options: options.clone(),
            shared,
            workers,
        };
        let thread = thread::Builder::new()
            .name(format!("{}-acceptor", options.thread_name))
            .spawn(move || acceptor.run(listener, ready_tx))
            .map_err(ServeError::Runtime)?;
        handle.threads.push(thread);
        for _ in 0..handle.threads.len() {
            // A thread that died before reporting in shows up as a closed channel.
            if ready_rx.recv().is_err() {
                return Err(ServeError::Panicked);
            }
        }
        info!(addr = %handle.endpoint(), workers = options.workers.max(1), "server started");
        Ok(handle)
    }
}

/// Listeners a server can start on: `std::net::TcpListener` or `tokio::net::TcpListener`.
pub trait IntoStdListener {
    /// Converts into a std listener.
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the conversion fails.
    fn into_std(self) -> Result<std::net::TcpListener, ServeError>;
}

impl IntoStdListener for std::net::TcpListener {
    fn into_std(self) -> Result<std::net::TcpListener, ServeError> {
        Ok(self)
    }
}

impl IntoStdListener for TcpListener {
    fn into_std(self) -> Result<std::net::TcpListener, ServeError> {
        TcpListener::into_std(self).map_err(|source| ServeError::Bind {
            addr: "tokio listener".into(),
            source,
        })
    }
}

/// Binds a TCP listener on `addr` (e.g. `127.0.0.1:0` for any free port).
fn bind_tcp(addr: &str) -> Result<std::net::TcpListener, ServeError> {
    std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind {
        addr: addr.to_string(),
        source,
    })
}
