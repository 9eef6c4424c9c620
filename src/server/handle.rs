//! The handle of a running server: its address, counters, readiness and shutdown.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tracing::warn;

use super::*;

/// A running server. Dropping the handle shuts the server down (as [`ServerHandle::shutdown`]).
pub struct ServerHandle {
    pub(super) local_addr: SocketAddr,
    /// For a unix socket server: its socket file, removed once every thread has stopped.
    #[cfg(unix)]
    pub(super) socket_file: Option<unix::SocketFile>,
    pub(super) shared: Arc<Shared>,
    pub(super) drain_timeout: Duration,
    pub(super) threads: Vec<thread::JoinHandle<()>>,
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(super) workers: usize,
    /// Stopped after the server threads, so `/healthz` answers through the drain.
    #[cfg(feature = "admin")]
    pub(super) admin: Option<admin::Admin>,
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
