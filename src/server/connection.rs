//! One server connection: recognise what the peer speaks, do the TLS handshake if configured,
//! then run an `RpcSystem` until the peer leaves or the server shuts down.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capnp_rpc::twoparty::VatId;
use capnp_rpc::{Disconnector, RpcSystem};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

use super::job::{Accepted, Incoming, Job};
use super::reject::{linger, reject, REJECT_LINGER};
use super::sniff::{self, Rewind};
use super::{ConnectionInfo, Factory, Options, Phase, Shared, SHUTDOWN_DISCONNECT_GRACE};
use crate::instrument::{End, Watch};
use crate::{rpc, transport};

/// Logs a peer's misbehaviour at a bounded rate (see [`super::ratelimit`]); every one is
/// counted in [`super::ServerStats::peer_errors`].
macro_rules! peer_warn {
    ($shared:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $shared.peer_errors.admit() {
            warn!(suppressed, $($arg)+);
        }
    };
}

/// What a worker gives every connection it serves: the server's options, bootstrap factory
/// and shared state, and the worker's own load counter. Made once per worker.
pub(super) struct Context {
    pub(super) worker: usize,
    pub(super) options: Arc<Options>,
    pub(super) factory: Factory,
    pub(super) shared: Arc<Shared>,
    pub(super) load: Arc<AtomicUsize>,
}

/// One connection's state from the worker's hand-over to the end of its RPC system (the shape
/// of mini-redis's `Handler`): each step below reads what it needs from here instead of taking
/// it as parameters.
struct Handler {
    ctx: Rc<Context>,
    info: ConnectionInfo,
    watch: Rc<Watch>,
    phase: watch::Receiver<Phase>,
    started: Instant,
    /// A second handle on a TCP socket, to linger after an error (see `linger`).
    spare: Option<std::net::TcpStream>,
    _bookkeeping: Bookkeeping,
}

/// Serves one connection from the acceptor until it ends, idles out or the server shuts down,
/// then logs a one-line summary.
pub(super) async fn serve(job: Job, ctx: Rc<Context>) {
    let info = ConnectionInfo::new(job.id, job.peer(), ctx.worker);
    let watch = Watch::new(info.counters.clone(), ctx.options.redact.clone());
    watch.questions.set_limits(ctx.options.flow_limits());
    let mut handler = Handler {
        _bookkeeping: Bookkeeping {
            shared: ctx.shared.clone(),
            load: ctx.load.clone(),
            id: job.id,
        },
        phase: ctx.shared.phase.subscribe(),
        ctx,
        info,
        watch,
        started: Instant::now(),
        spare: None,
    };
    let network = match job.stream {
        Accepted::Tcp(stream, peer) => handler.establish_tcp(stream, peer).await,
        #[cfg(unix)]
        Accepted::Unix(stream) => handler.establish_unix(stream),
    };
    if let Some(network) = network {
        handler.run(network).await;
    }
}

impl Handler {
    /// A TCP connection: the PROXY header if configured, then the first bytes and, on a TLS
    /// server, the handshake. `None` means the connection was refused or shutdown began.
    async fn establish_tcp(
        &mut self,
        stream: std::net::TcpStream,
        peer: std::net::SocketAddr,
    ) -> Option<transport::BoxedNetwork> {
        self.spare = stream.try_clone().ok();
        let stream = match stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
        {
            Ok(stream) => stream,
            Err(e) => {
                warn!(error = %e, "cannot register the connection with the worker");
                return None;
            }
        };
        rpc::tune_socket(&stream);
        #[cfg(feature = "proxy-protocol")]
        let stream = match &self.ctx.options.proxy_protocol {
            Some(config) => {
                let timeout = self.ctx.options.handshake_timeout;
                let shared = &self.ctx.shared;
                let accepted = super::proxy_protocol::accept(stream, peer, config, timeout, shared);
                let (stream, client) = accepted.await?;
                self.info.set_proxied(client);
                stream
            }
            None => stream,
        };
        #[cfg(not(feature = "proxy-protocol"))]
        let _ = peer;
        let mut phase = self.phase.clone();
        let network = tokio::select! {
            network = self.establish(stream) => network,
            _ = phase.wait_for(|p| *p != Phase::Running) => return None,
        };
        if network.is_none() {
            self.ctx
                .shared
                .totals
                .refused(super::totals::Refusal::Handshake);
        }
        network
    }

    /// Reads the first bytes (bounded by the handshake timeout and, for silence, the idle
    /// timeout), checks them and, on a TLS server, completes the handshake. `None` means the
    /// connection was refused (and why has been logged and, where possible, told to the peer).
    async fn establish(&mut self, mut stream: TcpStream) -> Option<transport::BoxedNetwork> {
        let ctx = self.ctx.clone();
        let deadline = Instant::now() + ctx.options.handshake_timeout;
        let timeout = ctx.options.sniff_timeout();
        let head = match tokio::time::timeout(timeout, sniff::read_head(&mut stream)).await {
            Err(_) => {
                peer_warn!(ctx.shared, ?timeout, "peer sent nothing in time; closing");
                return None;
            }
            Ok(Err(e)) => {
                peer_warn!(ctx.shared, error = %e, "reading the first bytes failed; closing");
                return None;
            }
            Ok(Ok(head)) if head.is_empty() => {
                debug!("peer closed before sending anything");
                return None;
            }
            Ok(Ok(head)) => head,
        };
        #[cfg(feature = "tls")]
        if let Some(tls) = &ctx.options.tls {
            return self
                .establish_tls(Rewind::new(head, stream), tls, deadline)
                .await;
        }
        let _ = deadline;
        if head.is_tls() {
            peer_warn!(ctx.shared, "peer started a TLS handshake on this plain-TCP port; closing (is the client using --tls?)");
            reject(stream, None).await;
            return None;
        }
        let (reader, writer) = stream.into_split();
        Some(self.network(Rewind::new(head, reader), writer))
    }

    #[cfg(feature = "tls")]
    async fn establish_tls(
        &mut self,
        stream: Rewind<TcpStream>,
        tls: &crate::tls::ServerTls,
        deadline: Instant,
    ) -> Option<transport::BoxedNetwork> {
        let shared = &self.ctx.shared;
        if !stream.head().is_tls() {
            peer_warn!(
                shared,
                "peer sent plain Cap'n Proto to this TLS port; closing (is the client missing --tls?)"
            );
            let reason = "this server requires TLS: connect with TLS (windlass-calc: --tls)";
            reject(stream, Some((reason, capnp::ErrorKind::Failed))).await;
            return None;
        }
        let timeout = self.ctx.options.handshake_timeout;
        let handshake = tls.acceptor().accept(stream);
        let stream = match tokio::time::timeout_at(deadline.into(), handshake).await {
            Err(_) => {
                peer_warn!(shared, ?timeout, "TLS handshake timed out; closing");
                return None;
            }
            Ok(Err(e)) => {
                peer_warn!(shared, error = %e, "TLS handshake failed; closing");
                return None;
            }
            Ok(Ok(stream)) => stream,
        };
        let (_, session) = stream.get_ref();
        self.info.set_tls(
            session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .map(|cert| crate::tls::PeerCertificate::from_der(cert)),
        );
        if let Some(cert) = self.info.peer_certificate() {
            info!(subject = cert.subject(), sha256 = %cert.fingerprint(), "client certificate verified");
        }
        let (reader, writer) = tokio::io::split(stream);
        Some(self.network(reader, writer))
    }

    /// A unix socket connection: no protocol sniffing and no TLS (see `server::unix`); the
    /// peer's credentials go to the bootstrap factory.
    #[cfg(unix)]
    fn establish_unix(
        &mut self,
        stream: std::os::unix::net::UnixStream,
    ) -> Option<transport::BoxedNetwork> {
        let stream = match stream
            .set_nonblocking(true)
            .and_then(|()| tokio::net::UnixStream::from_std(stream))
        {
            Ok(stream) => stream,
            Err(e) => {
                warn!(error = %e, "cannot register the connection with the worker");
                return None;
            }
        };
        let credentials = super::unix::credentials(&stream);
        if let Some(c) = credentials {
            info!(uid = c.uid, gid = c.gid, pid = ?c.pid, "unix peer");
        }
        self.info.set_unix(credentials);
        let (reader, writer) = stream.into_split();
        Some(self.network(reader, writer))
    }

    /// The server side's RPC network over the connection's two halves, with the options'
    /// limits and stream window.
    fn network<R, W>(&self, reader: R, writer: W) -> transport::BoxedNetwork
    where
        R: tokio::io::AsyncRead + Unpin + 'static,
        W: tokio::io::AsyncWrite + Unpin + 'static,
    {
        let config = self.ctx.options.network_config();
        transport::network(reader, writer, config, self.watch.clone())
    }

    /// Runs an established connection's RPC system until it ends, then logs a summary.
    async fn run(mut self, network: transport::BoxedNetwork) {
        let ctx = self.ctx.clone();
        ctx.shared.opened(&self.info);
        info!(
            tls = self.info.is_tls(),
            unix = self.info.is_unix(),
            "connection open"
        );
        let system = RpcSystem::new(network, Some((ctx.factory)(&self.info)));
        let disconnector = system.get_disconnector();
        // The RPC system runs as a task of its own, so its many wake-ups (every message) poll
        // only it; this task wakes for the connection's end, the idle timer and shutdown.
        let mut rpc = RpcTask(Some(tokio::task::spawn_local(system.in_current_span())));
        let reason = self.wait(&mut rpc, disconnector).await;
        let failed = matches!(self.watch.end(), Some(End::Failed(_)));
        // The RPC system (and with it the connection's stream halves) is gone after this.
        rpc.stop().await;
        if failed {
            // capnp-rpc has sent the peer an Abort saying what went wrong (e.g. a message over
            // the size limit) but the peer's unread bytes are still in our receive buffer:
            // closing now would send a reset that can destroy the Abort before the peer reads it.
            if let Some(spare) = self.spare.take().and_then(|s| TcpStream::from_std(s).ok()) {
                linger(spare).await;
            }
        }
        let stats = self.info.stats();
        info!(
            reason = %reason,
            duration_ms = self.started.elapsed().as_millis() as u64,
            messages_in = stats.messages_in,
            messages_out = stats.messages_out,
            bytes_in = stats.bytes_in,
            bytes_out = stats.bytes_out,
            calls_in = stats.calls_in,
            calls_out = stats.calls_out,
            writes = stats.writes,
            "connection closed"
        );
    }

    /// Waits until the connection ends, idles out or the server shuts down (then disconnects),
    /// and says why it ended.
    async fn wait(&mut self, rpc: &mut RpcTask, disconnector: Disconnector<VatId>) -> String {
        let watch = &self.watch;
        let idle_timeout = self.ctx.options.idle_timeout;
        tokio::select! {
            result = rpc.finished() => match (result, watch.end()) {
                (Err(e), _) | (Ok(()), Some(End::Failed(e))) => {
                    peer_warn!(self.ctx.shared, error = %e, "connection failed");
                    format!("error: {e}")
                }
                (Ok(()), _) => "closed by peer".to_string(),
            },
            () = idle(watch, idle_timeout) => {
                info!(timeout = ?idle_timeout, "idle timeout; closing");
                disconnect(rpc, disconnector).await;
                "idle timeout".to_string()
            }
            deadline = draining(&mut self.phase) => {
                let in_flight = watch.in_flight();
                tokio::select! {
                    _ = rpc.finished() => return "closed by peer during shutdown".to_string(),
                    () = watch.drained() => {}
                    () = tokio::time::sleep_until(deadline.into()) => {
                        warn!(in_flight = watch.in_flight(), "drain deadline passed; disconnecting");
                    }
                }
                disconnect(rpc, disconnector).await;
                format!("server shutdown ({in_flight} call(s) were in flight)")
            }
        }
    }
}

/// Keeps the server's and the worker's counts right however the connection task ends.
struct Bookkeeping {
    shared: Arc<Shared>,
    load: Arc<AtomicUsize>,
    id: u64,
}

impl Drop for Bookkeeping {
    fn drop(&mut self) {
        self.load.fetch_sub(1, Relaxed);
        self.shared.closed(self.id);
    }
}

/// The task running a connection's RPC system; aborted if the connection task is dropped (e.g.
/// when the worker's runtime shuts down), so the system never outlives it.
struct RpcTask(Option<JoinHandle<Result<(), capnp::Error>>>);

impl RpcTask {
    /// Resolves with the RPC system's result when it finishes (never again after that; a panic
    /// in it — a bug in a capability, say — is a failure of this connection only).
    async fn finished(&mut self) -> Result<(), capnp::Error> {
        let Some(handle) = &mut self.0 else {
            return std::future::pending().await;
        };
        let result = handle.await;
        self.0 = None;
        result.unwrap_or_else(|e| Err(capnp::Error::failed(format!("the RPC task failed: {e}"))))
    }

    /// Stops the RPC system if it is still running, and waits until it is dropped.
    async fn stop(&mut self) {
        if let Some(handle) = self.0.take() {
            handle.abort();
            let _ = handle.await;
        }
    }
}

impl Drop for RpcTask {
    fn drop(&mut self) {
        if let Some(handle) = &self.0 {
            handle.abort();
        }
    }
}

/// Resolves when the connection has been idle for `timeout` (never, without one).
async fn idle(watch: &Watch, timeout: Option<Duration>) {
    let Some(timeout) = timeout else {
        return std::future::pending().await;
    };
    loop {
        let due = watch.last_activity() + timeout;
        tokio::time::sleep_until(due.into()).await;
        if watch.in_flight() > 0 {
            // A call is being worked on: not idle. Look again a full period later.
            tokio::time::sleep(timeout).await;
        } else if watch.last_activity() + timeout <= Instant::now() {
            return;
        }
    }
}

/// Resolves with the drain deadline once the server starts shutting down.
async fn draining(phase: &mut watch::Receiver<Phase>) -> Instant {
    loop {
        if let Phase::Draining(deadline) = *phase.borrow_and_update() {
            return deadline;
        }
        if phase.changed().await.is_err() {
            // The handle is gone without a shutdown: treat it as one with no grace.
            return Instant::now();
        }
    }
}

/// Disconnects gracefully (flushing what is queued), but not for longer than
/// [`SHUTDOWN_DISCONNECT_GRACE`]; the caller aborts the RPC task if it is still running.
async fn disconnect(rpc: &mut RpcTask, disconnector: Disconnector<VatId>) {
    let graceful = futures::future::join(rpc.finished(), disconnector);
    if tokio::time::timeout(SHUTDOWN_DISCONNECT_GRACE, graceful)
        .await
        .is_err()
    {
        debug!("peer did not close in time; dropping the connection");
    }
}

/// Refuses a connection because the server is full: an `Overloaded` abort, then close. On a
/// TLS server the abort goes after a handshake (bounded by the handshake timeout), so the
/// client reads "the server is at its connection limit" instead of a TLS error; a peer
/// speaking plain Cap'n Proto to it is told in plain. A unix socket peer is local and reads the
/// abort at once.
pub(super) async fn refuse_overloaded(incoming: Incoming, reason: String, options: Arc<Options>) {
    let abort = Some((reason.as_str(), capnp::ErrorKind::Overloaded));
    let stream = match incoming {
        Incoming::Tcp(stream, _) => stream,
        #[cfg(unix)]
        Incoming::Unix(mut stream) => {
            let abort = rpc::abort_message(&reason, capnp::ErrorKind::Overloaded);
            let _ = tokio::time::timeout(REJECT_LINGER, stream.write_all(&abort)).await;
            let _ = stream.shutdown().await;
            return;
        }
    };
    #[cfg(feature = "tls")]
    if let Some(tls) = &options.tls {
        let mut stream = stream;
        let handshake = async {
            let head = sniff::read_head(&mut stream).await?;
            if !head.is_tls() {
                return Ok(Err(Rewind::new(head, stream)));
            }
            tls.acceptor()
                .accept(Rewind::new(head, stream))
                .await
                .map(Ok)
        };
        match tokio::time::timeout(options.handshake_timeout, handshake).await {
            Ok(Ok(Ok(tls_stream))) => reject(tls_stream, abort).await,
            Ok(Ok(Err(plain))) => reject(plain, abort).await,
            Ok(Err(e)) => debug!(error = %e, "refused peer's TLS handshake failed"),
            Err(_) => debug!("refused peer did not complete its TLS handshake in time"),
        }
        return;
    }
    let _ = &options;
    reject(stream, abort).await;
}

/// Closes a refused connection at once: TCP with a reset (`SO_LINGER` 0), the cheapest
/// refusal, for when too many polite ones are in progress; a unix socket by closing it.
pub(super) fn reset(incoming: Incoming) {
    if let Incoming::Tcp(stream, _) = &incoming {
        let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
    }
    drop(incoming);
}
