//! The accept loop, on a thread of its own: accept, refuse over the connection limit (at a
//! bounded rate of log lines and of refusals in progress), hand the rest to the least-loaded
//! worker; for TCP listeners and unix sockets alike.

use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

use super::job::Incoming;
use super::*;
use crate::addr::ShowPeer;

/// Takes a refusal's slot among [`MAX_REFUSALS_IN_PROGRESS`] and gives it back when dropped.
struct RefusalSlot(Arc<Shared>);

impl Drop for RefusalSlot {
    fn drop(&mut self) {
        self.0.refusing.fetch_sub(1, Relaxed);
    }
}

impl Acceptor {
    /// Refuses a connection over the limit: counted always, logged at a bounded rate, told why
    /// while few refusals are in progress, closed at once otherwise. TCP and unix alike.
    fn refuse(&self, incoming: Incoming, id: u64) {
        self.shared.rejected.fetch_add(1, Relaxed);
        let limit = self.options.max_connections;
        if let Some(suppressed) = self.shared.refusals.admit() {
            let peer = ShowPeer(incoming.peer());
            warn!(%peer, conn_id = id, limit, suppressed, "connection limit reached; refusing");
        }
        if self.shared.refusing.fetch_add(1, Relaxed) >= MAX_REFUSALS_IN_PROGRESS {
            self.shared.refusing.fetch_sub(1, Relaxed);
            connection::reset(incoming);
            return;
        }
        let slot = RefusalSlot(self.shared.clone());
        let reason = format!("server is at its connection limit ({limit}); try again later");
        let options = self.options.clone();
        tokio::spawn(async move {
            connection::refuse_overloaded(incoming, reason, options).await;
            drop(slot);
        });
    }
}

/// The accept loop, on a thread of its own.
pub(super) struct Acceptor {
    pub(super) options: Arc<Options>,
    pub(super) shared: Arc<Shared>,
    pub(super) workers: Vec<worker::WorkerRef>,
}

impl Acceptor {
    pub(super) fn run(self, listener: Listener, ready: std::sync::mpsc::Sender<()>) {
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
        let listener = match Registered::new(listener) {
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
                    Ok(incoming) => {
                        next_id += 1;
                        self.dispatch(incoming, next_id);
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

    /// Admits a connection (to the least-loaded worker) or refuses it over the limit.
    fn dispatch(&self, incoming: Incoming, id: u64) {
        let active = self.shared.active.load(Relaxed);
        if active >= self.options.max_connections {
            self.refuse(incoming, id);
            return;
        }
        let peer = ShowPeer(incoming.peer());
        match incoming.into_accepted() {
            Ok(stream) => self.hand_over(stream, id),
            Err(e) => warn!(%peer, error = %e, "cannot hand the connection to a worker"),
        }
    }

    /// Gives an admitted connection to the least-loaded worker.
    fn hand_over(&self, stream: job::Accepted, id: u64) {
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
        if worker.tx.send(job::Job { stream, id }).is_err() {
            // The worker is gone (it only exits at shutdown); undo the bookkeeping.
            worker.load.fetch_sub(1, Relaxed);
            self.shared.closed(id);
            warn!(worker = index, "worker is gone; connection dropped");
        }
    }
}

/// A listener registered with the acceptor's runtime.
enum Registered {
    Tcp(TcpListener),
    #[cfg(unix)]
    Unix(tokio::net::UnixListener),
}

impl Registered {
    fn new(listener: Listener) -> std::io::Result<Registered> {
        match listener {
            Listener::Tcp(listener) => TcpListener::from_std(listener).map(Registered::Tcp),
            #[cfg(unix)]
            Listener::Unix(listener, _) => {
                tokio::net::UnixListener::from_std(listener).map(Registered::Unix)
            }
        }
    }

    async fn accept(&self) -> std::io::Result<Incoming> {
        match self {
            Registered::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok(Incoming::Tcp(stream, peer))
            }
            #[cfg(unix)]
            Registered::Unix(listener) => Ok(Incoming::Unix(listener.accept().await?.0)),
        }
    }
}

/// What a server listens on.
pub(super) enum Listener {
    Tcp(std::net::TcpListener),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixListener, std::path::PathBuf),
}

#[cfg(unix)]
pub(super) type SocketFile = Option<unix::SocketFile>;
#[cfg(not(unix))]
pub(super) type SocketFile = ();

impl Listener {
    /// Sets the listen backlog, makes the listener non-blocking; returns its address and (unix)
    /// the file to remove later.
    pub(super) fn prepare(&self, backlog: u32) -> Result<(SocketAddr, SocketFile), ServeError> {
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
pub(super) fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}
