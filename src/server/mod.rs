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
//! Start one with [`Server::bind`] or [`Server::start`] (or the shorthands [`spawn`],
//! [`spawn_with`]); configure it with [`Options`]; stop it with [`ServerHandle::shutdown`].

#[cfg(feature = "admin")]
mod admin;
mod connection;
mod job;
#[cfg(feature = "admin")]
mod metrics;
mod options;
mod proxy_protocol;
mod ratelimit;
mod sniff;
mod stream;
mod totals;
#[cfg(unix)]
mod unix;
mod worker;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

#[cfg(feature = "admin")]
pub use admin::ADMIN_REQUEST_TIMEOUT;
pub use options::{
    Options, DEFAULT_DRAIN_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_LISTEN_BACKLOG,
    DEFAULT_MAX_CALLS_IN_FLIGHT, DEFAULT_MAX_CONNECTIONS, DEFAULT_READ_TIMEOUT,
    SHUTDOWN_DISCONNECT_GRACE, UNFINISHED_PER_CALL_IN_FLIGHT,
};
pub use proxy_protocol::{Cidr, CidrError, ProxyError, ProxyProtocol, V1_MAX_BYTES, V2_MAX_BYTES};
pub use ratelimit::LOG_WINDOW;
#[doc(hidden)]
pub use stream::serve_stream;
pub use totals::RefusalStats;
#[cfg(unix)]
pub use unix::{PeerCredentials, UNIX_PREFIX};

use crate::error::ServeError;
use crate::instrument::{ConnectionStats, Counters};

/// How long the accept loop pauses after a failed `accept` (e.g. `EMFILE`, out of file
/// descriptors) before trying again. Long enough not to spin on a persistent error, short enough
/// that a transient one costs little; the same figure tokio's and mini-redis's loops use.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Refusals (over the connection limit) that may be in progress at once, each telling its peer
/// why and lingering up to a second; beyond this a refused connection is reset at once, so a
/// flood of connections cannot make the acceptor hold more sockets or do more TLS handshakes
/// than this.
pub const MAX_REFUSALS_IN_PROGRESS: usize = 64;

/// The bootstrap factory, shared by every worker.
pub(crate) type Factory = Arc<dyn Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync>;

/// What the bootstrap factory knows about the connection it serves.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    id: u64,
    peer: SocketAddr,
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
    fn new(id: u64, peer: SocketAddr, worker: usize) -> Self {
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

    /// The remote address of the peer: with [`Options::with_proxy_protocol`], the client's
    /// address as the trusted proxy's header gave it, else the socket's peer; the unspecified
    /// address (`0.0.0.0:0`) for a unix socket connection, whose peer is known by
    /// [`ConnectionInfo::peer_credentials`] instead.
    pub fn peer(&self) -> SocketAddr {
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

    /// The address of the proxy the connection came through ([`Options::with_proxy_protocol`]),
    /// `None` for a direct connection.
    pub fn proxy(&self) -> Option<SocketAddr> {
        self.proxy
    }

    fn set_proxied(&mut self, client: SocketAddr) {
        if client != self.peer {
            self.proxy = Some(self.peer);
            self.peer = client;
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
    /// Each is counted here; the log shows them at a bounded rate ([`LOG_WINDOW`]).
    pub peer_errors: u64,
}

/// One open connection, as [`ServerHandle::connections`] reports it.
#[derive(Debug, Clone)]
pub struct ConnectionSnapshot {
    /// See [`ConnectionInfo::id`].
    pub id: u64,
    /// See [`ConnectionInfo::peer`].
    pub peer: SocketAddr,
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

/// A running server. Dropping the handle shuts the server down (as [`ServerHandle::shutdown`]).
pub struct ServerHandle {
    local_addr: SocketAddr,
    /// For a unix socket server: its socket file, removed once every thread has stopped.
    #[cfg(unix)]
    socket_file: Option<unix::SocketFile>,
    shared: Arc<Shared>,
    drain_timeout: Duration,
    threads: Vec<thread::JoinHandle<()>>,
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    workers: usize,
    /// Stopped after the server threads, so `/healthz` answers through the drain.
    #[cfg(feature = "admin")]
    admin: Option<admin::Admin>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("local_addr", &self.local_addr)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Asks a server to shut down from anywhere (e.g. a signal handler) while another thread
/// [`wait`](ServerHandle::wait)s; cheap to clone.
#[derive(Clone)]
pub struct ShutdownTrigger {
    shared: Arc<Shared>,
    drain_timeout: Duration,
}

impl ShutdownTrigger {
    /// Starts a graceful shutdown: stop accepting, let calls in flight finish for up to the
    /// drain timeout, then disconnect everyone. Returns at once; later calls do nothing.
    pub fn shutdown(&self) {
        self.mark_unready();
        let deadline = Instant::now() + self.drain_timeout;
        self.shared.phase.send_if_modified(|phase| {
            if *phase == Phase::Running {
                *phase = Phase::Draining(deadline);
                true
            } else {
                false
            }
        });
    }
}

impl ShutdownTrigger {
    /// Reports the server not ready (the admin endpoint's `/readyz` answers 503) while it keeps
    /// accepting and serving: the first step of a graceful stop behind a load balancer, which
    /// then stops sending new connections before [`ShutdownTrigger::shutdown`] stops accepting.
    /// [`ShutdownTrigger::shutdown`] does this too. Cannot be undone.
    pub fn mark_unready(&self) {
        self.shared.totals.unready.store(true, Relaxed);
    }
}

impl ServerHandle {
    /// Whether the server reports itself ready: running, and neither
    /// [`ShutdownTrigger::mark_unready`] nor a shutdown has begun.
    pub fn is_ready(&self) -> bool {
        !self.shared.totals.unready.load(Relaxed) && *self.shared.phase.borrow() == Phase::Running
    }

    /// Connections refused before their RPC started, by reason.
    pub fn refusals(&self) -> RefusalStats {
        self.shared.totals.refusals()
    }

    /// The server's metrics in the Prometheus text format, as the admin endpoint's `/metrics`
    /// serves them (names and labels: `docs/deploy.md`).
    #[cfg(feature = "admin")]
    pub fn render_metrics(&self) -> String {
        metrics::render(&self.shared, self.workers)
    }

    /// The address the admin endpoint listens on ([`Options::with_admin`]), with the real port
    /// when bound to port 0.
    #[cfg(feature = "admin")]
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin.as_ref().map(admin::Admin::local_addr)
    }

    /// The address the server listens on (with the real port when bound to port 0); the
    /// unspecified address for a unix socket server (see [`ServerHandle::endpoint`]).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// What a client connects to: `HOST:PORT` for TCP, `unix:PATH` for a unix socket (the form
    /// [`crate::Connector::new`] and `windlass-calc eval --connect` take).
    pub fn endpoint(&self) -> String {
        #[cfg(unix)]
        if let Some(file) = &self.socket_file {
            return format!("{UNIX_PREFIX}{}", file.0.display());
        }
        self.local_addr.to_string()
    }

    /// Server-wide totals.
    ///
    /// The counts lag the clients: a client's `close().await` returns once *its* side is done,
    /// while the server counts the connection closed when its worker has seen the end of the
    /// stream and dropped the connection, a moment later. So `active` can still include a
    /// client that has already closed; use [`ServerHandle::wait_idle`] to wait for the count.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            accepted: self.shared.accepted.load(Relaxed),
            rejected: self.shared.rejected.load(Relaxed),
            active: self.shared.active.load(Relaxed) as u64,
            closed: self.shared.closed.load(Relaxed),
            peer_errors: self.shared.peer_errors.total(),
        }
    }

    /// Blocks until no connection is active (as [`ServerStats::active`] counts them) or `timeout`
    /// has passed; returns whether the server is idle. Wakes as soon as the last connection is
    /// counted closed (no polling), so tests and tools can wait for the server to catch up with
    /// clients that have closed, instead of sleeping. Returns at once when already idle.
    ///
    /// Blocking: call it outside async code (or from `spawn_blocking`).
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .shared
            .idle_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        loop {
            if self.shared.active.load(Relaxed) == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            guard = match self.shared.idle.wait_timeout(guard, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Every open connection with its counters.
    pub fn connections(&self) -> Vec<ConnectionSnapshot> {
        let Ok(registry) = self.shared.registry.lock() else {
            return Vec::new();
        };
        registry
            .iter()
            .map(|(info, counters)| ConnectionSnapshot {
                id: info.id,
                peer: info.peer,
                worker: info.worker,
                stats: counters.snapshot(),
            })
            .collect()
    }

    /// A trigger that starts the shutdown from elsewhere.
    pub fn shutdown_trigger(&self) -> ShutdownTrigger {
        ShutdownTrigger {
            shared: self.shared.clone(),
            drain_timeout: self.drain_timeout,
        }
    }

    /// Shuts down gracefully and waits for it: stop accepting, let calls in flight finish until
    /// the drain timeout ([`Options::with_drain_timeout`]), then disconnect every connection and
    /// join the acceptor and every worker. When it returns, no thread or task of the server is
    /// left running.
    ///
    /// # Errors
    /// [`ServeError::Panicked`] if a server thread panicked.
    pub fn shutdown(self) -> Result<(), ServeError> {
        self.shutdown_trigger().shutdown();
        self.wait()
    }

    /// Waits until the server has stopped (after a [`ShutdownTrigger::shutdown`] from
    /// elsewhere) and joins its threads.
    ///
    /// # Errors
    /// [`ServeError::Panicked`] if a server thread panicked.
    pub fn wait(mut self) -> Result<(), ServeError> {
        self.join()
    }

    fn join(&mut self) -> Result<(), ServeError> {
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                result = Err(ServeError::Panicked);
            }
        }
        #[cfg(feature = "admin")]
        if let Some(admin) = self.admin.take() {
            admin.stop();
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        #[cfg(feature = "admin")]
        let admin_running = self.admin.is_some();
        #[cfg(not(feature = "admin"))]
        let admin_running = false;
        if self.threads.is_empty() && !admin_running {
            return;
        }
        self.shutdown_trigger().shutdown();
        if let Err(e) = self.join() {
            warn!(error = %e, "server ended with an error");
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
    /// As [`bind`] and [`Server::start`]; for `unix:` also when the path is in use by a live
    /// server or is not a socket.
    pub fn bind<F>(addr: &str, options: Options, bootstrap: F) -> Result<ServerHandle, ServeError>
    where
        F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync + 'static,
    {
        #[cfg(unix)]
        if let Some(path) = unix::path_of(addr) {
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
        Server::start(bind(addr)?, options, bootstrap)
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
///
/// # Errors
/// [`ServeError::Bind`] when the address does not parse or cannot be bound.
pub fn bind(addr: &str) -> Result<std::net::TcpListener, ServeError> {
    std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind {
        addr: addr.to_string(),
        source,
    })
}

/// [`Server::start`] with default [`Options`]: plain TCP, one worker per core.
///
/// # Errors
/// As [`Server::start`].
pub fn spawn<F>(listener: std::net::TcpListener, bootstrap: F) -> Result<ServerHandle, ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync + 'static,
{
    Server::start(listener, Options::default(), bootstrap)
}

/// [`Server::start`] on a std listener.
///
/// # Errors
/// As [`Server::start`].
pub fn spawn_with<F>(
    listener: std::net::TcpListener,
    options: Options,
    bootstrap: F,
) -> Result<ServerHandle, ServeError>
where
    F: Fn(&ConnectionInfo) -> capnp::capability::Client + Send + Sync + 'static,
{
    Server::start(listener, options, bootstrap)
}

/// Takes a refusal's slot among [`MAX_REFUSALS_IN_PROGRESS`] and gives it back when dropped.
struct RefusalSlot(Arc<Shared>);

impl Drop for RefusalSlot {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Relaxed);
    }
}

impl Acceptor {
    /// Refuses a connection over the limit: counted always, logged at a bounded rate, told why
    /// while few refusals are in progress, reset otherwise.
    fn refuse(&self, stream: tokio::net::TcpStream, peer: SocketAddr, id: u64) {
        self.shared.rejected.fetch_add(1, Relaxed);
        let limit = self.options.max_connections;
        if let Some(suppressed) = self.shared.refusals.admit() {
            warn!(%peer, conn_id = id, limit, suppressed, "connection limit reached; refusing");
        }
        if self.shared.refusing.fetch_add(1, Relaxed) >= MAX_REFUSALS_IN_PROGRESS {
            self.shared.refusing.fetch_sub(1, Relaxed);
            connection::reset(stream);
            return;
        }
        let slot = RefusalSlot(self.shared.clone());
        let reason = format!("server is at its connection limit ({limit}); try again later");
        let options = self.options.clone();
        tokio::spawn(async move {
            connection::refuse_overloaded(stream, reason, options).await;
            drop(slot);
        });
    }
}

/// The accept loop, on a thread of its own.
struct Acceptor {
    options: Arc<Options>,
    shared: Arc<Shared>,
    workers: Vec<worker::WorkerRef>,
}

impl Acceptor {
    fn run(self, listener: Listener, ready: std::sync::mpsc::Sender<()>) {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                warn!(error = %e, "cannot start the acceptor runtime; not accepting");
                return;
            }
        };
        runtime.block_on(self.accept_loop(listener, ready));
    }

    async fn accept_loop(self, listener: Listener, ready: std::sync::mpsc::Sender<()>) {
        let listener = match listener {
            Listener::Tcp(listener) => TcpListener::from_std(listener),
            #[cfg(unix)]
            Listener::Unix(listener, _) => {
                return self.accept_unix(listener, ready).await;
            }
        };
        let listener = match listener {
            Ok(listener) => listener,
            Err(e) => {
                warn!(error = %e, "cannot register the listener; not accepting");
                return;
            }
        };
        let _ = ready.send(());
        let mut phase = self.shared.phase.subscribe();
        let mut next_id = 0u64;
        let mut tick = tokio::time::interval(ratelimit::LOG_WINDOW);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = phase.wait_for(|p| *p != Phase::Running) => break,
                _ = tick.tick() => self.log_summaries(),
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        next_id += 1;
                        self.dispatch(stream, peer, next_id);
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }
        info!("stopped accepting");
    }

    /// The accept loop of a unix socket server.
    #[cfg(unix)]
    async fn accept_unix(
        self,
        listener: std::os::unix::net::UnixListener,
        ready: std::sync::mpsc::Sender<()>,
    ) {
        let listener = match tokio::net::UnixListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                warn!(error = %e, "cannot register the listener; not accepting");
                return;
            }
        };
        let _ = ready.send(());
        let mut phase = self.shared.phase.subscribe();
        let mut next_id = 0u64;
        loop {
            tokio::select! {
                _ = phase.wait_for(|p| *p != Phase::Running) => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        next_id += 1;
                        self.dispatch_unix(stream, next_id);
                    }
                    Err(e) => {
                        warn!(error = %e, "accept failed; retrying");
                        tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                    }
                },
            }
        }
        info!("stopped accepting");
    }

    /// [`Acceptor::dispatch`] for a unix socket connection.
    #[cfg(unix)]
    fn dispatch_unix(&self, stream: tokio::net::UnixStream, id: u64) {
        if self.shared.active.load(Relaxed) >= self.options.max_connections {
            self.shared.rejected.fetch_add(1, Relaxed);
            let limit = self.options.max_connections;
            if let Some(suppressed) = self.shared.refusals.admit() {
                warn!(
                    conn_id = id,
                    limit, suppressed, "connection limit reached; refusing"
                );
            }
            if self.shared.refusing.fetch_add(1, Relaxed) >= MAX_REFUSALS_IN_PROGRESS {
                // Too many refusals in progress: a plain close costs nothing to wait for.
                self.shared.refusing.fetch_sub(1, Relaxed);
                return;
            }
            let slot = RefusalSlot(self.shared.clone());
            let reason = format!("server is at its connection limit ({limit}); try again later");
            tokio::spawn(async move {
                connection::refuse_overloaded_unix(stream, reason).await;
                drop(slot);
            });
            return;
        }
        match stream.into_std() {
            Ok(stream) => self.hand_over(job::Accepted::Unix(stream), unspecified(), id),
            Err(e) => warn!(error = %e, "cannot hand the connection to a worker"),
        }
    }

    /// Logs how many refusals and peer errors went unlogged in the last window, if any.
    fn log_summaries(&self) {
        if let Some(n) = self.shared.refusals.summary() {
            warn!(
                suppressed = n,
                "{n} more connection(s) refused at the connection limit"
            );
        }
        if let Some(n) = self.shared.peer_errors.summary() {
            warn!(
                suppressed = n,
                "{n} more connection(s) closed for peer errors"
            );
        }
    }

    fn dispatch(&self, stream: tokio::net::TcpStream, peer: SocketAddr, id: u64) {
        let active = self.shared.active.load(Relaxed);
        if active >= self.options.max_connections {
            self.refuse(stream, peer, id);
            return;
        }
        match stream.into_std() {
            Ok(stream) => self.hand_over(job::Accepted::Tcp(stream), peer, id),
            Err(e) => warn!(%peer, error = %e, "cannot hand the connection to a worker"),
        }
    }

    /// Gives an admitted connection to the least-loaded worker.
    fn hand_over(&self, stream: job::Accepted, peer: SocketAddr, id: u64) {
        let Some((index, worker)) = self
            .workers
            .iter()
            .enumerate()
            .min_by_key(|(_, w)| w.load.load(Relaxed))
        else {
            return;
        };
        self.shared.active.fetch_add(1, Relaxed);
        self.shared.accepted.fetch_add(1, Relaxed);
        worker.load.fetch_add(1, Relaxed);
        if worker.tx.send(job::Job { stream, peer, id }).is_err() {
            // The worker is gone (it only exits at shutdown); undo the bookkeeping.
            worker.load.fetch_sub(1, Relaxed);
            self.shared.closed(id);
            warn!(worker = index, "worker is gone; connection dropped");
        }
    }
}

/// What a server listens on.
enum Listener {
    Tcp(std::net::TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, std::path::PathBuf),
}

#[cfg(unix)]
type SocketFile = Option<unix::SocketFile>;
#[cfg(not(unix))]
type SocketFile = ();

impl Listener {
    /// Sets the listen backlog, makes the listener non-blocking; returns its address and (unix)
    /// the file to remove later.
    fn prepare(&self, backlog: u32) -> Result<(SocketAddr, SocketFile), ServeError> {
        // Listening again on a listening socket sets its backlog (Linux, the BSDs).
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        match self {
            Listener::Tcp(listener) => {
                let local_addr = listener.local_addr().map_err(|source| ServeError::Bind {
                    addr: "listener".into(),
                    source,
                })?;
                socket2::SockRef::from(listener)
                    .listen(backlog)
                    .and_then(|()| listener.set_nonblocking(true))
                    .map_err(|source| ServeError::Bind {
                        addr: local_addr.to_string(),
                        source,
                    })?;
                #[cfg(unix)]
                return Ok((local_addr, None));
                #[cfg(not(unix))]
                return Ok((local_addr, ()));
            }
            #[cfg(unix)]
            Listener::Unix(listener, path) => {
                socket2::SockRef::from(listener)
                    .listen(backlog)
                    .and_then(|()| listener.set_nonblocking(true))
                    .map_err(|source| ServeError::Bind {
                        addr: format!("{UNIX_PREFIX}{}", path.display()),
                        source,
                    })?;
                Ok((unspecified(), Some(unix::SocketFile(path.clone()))))
            }
        }
    }
}

/// The address reported for peers and servers that have none (unix sockets).
fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
