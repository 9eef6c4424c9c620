//! One server connection: recognise what the peer speaks, do the TLS handshake if configured,
//! then run an `RpcSystem` until the peer leaves or the server shuts down.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::twoparty::VatId;
use capnp_rpc::{Disconnector, RpcSystem};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

use super::job::{Accepted, Job};
use super::proxy_protocol;
use super::reject::{linger, reject, REJECT_LINGER};
use super::sniff::{self, Rewind};
use super::{ConnectionInfo, Factory, Options, Phase, Shared, SHUTDOWN_DISCONNECT_GRACE};
use crate::instrument::{End, Watch};
use crate::rpc;

/// Logs a peer's misbehaviour at a bounded rate (see [`super::ratelimit`]); every one is
/// counted in [`super::ServerStats::peer_errors`].
macro_rules! peer_warn {
    ($shared:expr, $($arg:tt)+) => {
        if let Some(suppressed) = $shared.peer_errors.admit() {
            warn!(suppressed, $($arg)+);
        }
    };
}

/// Serves one connection from the acceptor until it ends, idles out or the server shuts down,
/// then logs a one-line summary.
pub(super) async fn serve(
    job: Job,
    worker: usize,
    options: Arc<Options>,
    factory: Factory,
    shared: Arc<Shared>,
    load: Arc<AtomicUsize>,
) {
    let _bookkeeping = Bookkeeping {
        shared: shared.clone(),
        load,
        id: job.id,
    };
    let started = Instant::now();
    let mut phase = shared.phase.subscribe();
    let mut info = ConnectionInfo::new(job.id, job.peer, worker);
    let watch = Watch::new(info.counters.clone(), options.redact.clone());
    watch.questions.set_limits(options.flow_limits());
    let stream = match job.stream {
        Accepted::Tcp(stream) => stream,
        #[cfg(unix)]
        Accepted::Unix(stream) => {
            let Some((network, info)) = establish_unix(stream, info, &options, watch.clone())
            else {
                return;
            };
            return run_connection(
                network, info, watch, &options, &factory, &shared, &mut phase, None, started,
            )
            .await;
        }
    };
    // A second handle on the socket, to linger after an error (see `linger`).
    let spare = stream.try_clone().ok();
    let stream = match stream
        .set_nonblocking(true)
        .and_then(|()| TcpStream::from_std(stream))
    {
        Ok(stream) => stream,
        Err(e) => {
            warn!(error = %e, "cannot register the connection with the worker");
            return;
        }
    };
    rpc::tune_socket(&stream);
    let stream = match &options.proxy_protocol {
        Some(config) => {
            let timeout = options.handshake_timeout;
            let accepted = proxy_protocol::accept(stream, job.peer, config, timeout, &shared);
            let Some((stream, client)) = accepted.await else {
                return;
            };
            info.set_proxied(client);
            stream
        }
        None => stream,
    };
    let established = tokio::select! {
        established = establish(stream, info, &options, watch.clone(), &shared) => established,
        _ = phase.wait_for(|p| *p != Phase::Running) => return,
    };
    let Some((network, info)) = established else {
        shared.totals.refused(super::totals::Refusal::Handshake);
        return;
    };
    run_connection(
        network, info, watch, &options, &factory, &shared, &mut phase, spare, started,
    )
    .await;
}

/// Runs an established connection's RPC system until it ends, then logs a summary.
#[allow(clippy::too_many_arguments)] // the connection's parts, each used once
async fn run_connection(
    network: rpc::Network,
    info: ConnectionInfo,
    watch: Rc<Watch>,
    options: &Options,
    factory: &Factory,
    shared: &Shared,
    phase: &mut watch::Receiver<Phase>,
    spare: Option<std::net::TcpStream>,
    started: Instant,
) {
    shared.opened(&info);
    info!(
        tls = info.is_tls(),
        unix = info.is_unix(),
        "connection open"
    );
    let system = RpcSystem::new(network, Some(factory(&info)));
    let disconnector = system.get_disconnector();
    // The RPC system runs as a task of its own, so its many wake-ups (every message) poll only
    // it; this task wakes for the connection's end, the idle timer and shutdown.
    let mut rpc = RpcTask(Some(tokio::task::spawn_local(system.in_current_span())));
    let reason = run(&mut rpc, disconnector, &watch, options, shared, phase).await;
    let failed = matches!(watch.end(), Some(End::Failed(_)));
    // The RPC system (and with it the connection's stream halves) is gone after this.
    rpc.stop().await;
    if failed {
        // capnp-rpc has sent the peer an Abort saying what went wrong (e.g. a message over the
        // size limit) but the peer's unread bytes are still in our receive buffer: closing now
        // would send a reset that can destroy the Abort before the peer reads it.
        if let Some(spare) = spare.and_then(|s| TcpStream::from_std(s).ok()) {
            linger(spare).await;
        }
    }
    let stats = info.stats();
    info!(
        reason = %reason,
        duration_ms = started.elapsed().as_millis() as u64,
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

/// A unix socket connection: no protocol sniffing and no TLS (see `server::unix`); the peer's
/// credentials go to the bootstrap factory.
#[cfg(unix)]
fn establish_unix(
    stream: std::os::unix::net::UnixStream,
    mut info: ConnectionInfo,
    options: &Options,
    watch: Rc<Watch>,
) -> Option<(rpc::Network, ConnectionInfo)> {
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
    info.set_unix(credentials);
    let (reader, writer) = stream.into_split();
    Some((network(reader, writer, options, watch), info))
}

/// Refuses a unix socket connection because the server is full: an `Overloaded` abort, then
/// close (the peer is local and reads it at once).
#[cfg(unix)]
pub(super) async fn refuse_overloaded_unix(mut stream: tokio::net::UnixStream, reason: String) {
    let abort = rpc::abort_message(&reason, capnp::ErrorKind::Overloaded);
    let _ = tokio::time::timeout(REJECT_LINGER, stream.write_all(&abort)).await;
    let _ = stream.shutdown().await;
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

/// Waits until the connection ends, idles out or the server shuts down (then disconnects), and
/// says why it ended.
async fn run(
    rpc: &mut RpcTask,
    disconnector: Disconnector<VatId>,
    watch: &Watch,
    options: &Options,
    shared: &Shared,
    phase: &mut watch::Receiver<Phase>,
) -> String {
    tokio::select! {
        result = rpc.finished() => match (result, watch.end()) {
            (Err(e), _) | (Ok(()), Some(End::Failed(e))) => {
                peer_warn!(shared, error = %e, "connection failed");
                format!("error: {e}")
            }
            (Ok(()), _) => "closed by peer".to_string(),
        },
        () = idle(watch, options.idle_timeout) => {
            info!(timeout = ?options.idle_timeout, "idle timeout; closing");
            disconnect(rpc, disconnector).await;
            "idle timeout".to_string()
        }
        deadline = draining(phase) => {
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

/// The server side's RPC network over a connection's two halves, with the options' limits and
/// stream window.
pub(super) fn network<R, W>(
    reader: R,
    writer: W,
    options: &Options,
    watch: Rc<Watch>,
) -> rpc::Network
where
    R: tokio::io::AsyncRead + Unpin + 'static,
    W: tokio::io::AsyncWrite + Unpin + 'static,
{
    rpc::network_with_window(
        reader,
        writer,
        Side::Server,
        options.reader_options,
        watch,
        options.stream_window,
    )
}

/// Refuses a connection because the server is full: an `Overloaded` abort, then close. On a
/// TLS server the abort goes after a handshake (bounded by the handshake timeout), so the
/// client reads "the server is at its connection limit" instead of a TLS error; a peer
/// speaking plain Cap'n Proto to it is told in plain.
pub(super) async fn refuse_overloaded(stream: TcpStream, reason: String, options: Arc<Options>) {
    let abort = Some((reason.as_str(), capnp::ErrorKind::Overloaded));
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

/// Closes a connection at once with a reset (`SO_LINGER` 0): the cheapest refusal, for when
/// too many polite ones are in progress.
pub(super) fn reset(stream: TcpStream) {
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Reads the first bytes (bounded by the handshake timeout and, for silence, the idle timeout),
/// checks them and, on a TLS server, completes the handshake. `None` means the connection was
/// refused (and why has been logged and, where possible, told to the peer).
async fn establish(
    mut stream: TcpStream,
    info: ConnectionInfo,
    options: &Options,
    watch: Rc<Watch>,
    shared: &Shared,
) -> Option<(rpc::Network, ConnectionInfo)> {
    let deadline = Instant::now() + options.handshake_timeout;
    let timeout = options.sniff_timeout();
    let head = match tokio::time::timeout(timeout, sniff::read_head(&mut stream)).await {
        Err(_) => {
            peer_warn!(shared, ?timeout, "peer sent nothing in time; closing");
            return None;
        }
        Ok(Err(e)) => {
            peer_warn!(shared, error = %e, "reading the first bytes failed; closing");
            return None;
        }
        Ok(Ok(head)) if head.is_empty() => {
            debug!("peer closed before sending anything");
            return None;
        }
        Ok(Ok(head)) => head,
    };
    #[cfg(feature = "tls")]
    if let Some(tls) = &options.tls {
        return establish_tls(
            Rewind::new(head, stream),
            info,
            tls,
            deadline,
            options,
            watch,
            shared,
        )
        .await;
    }
    let _ = deadline;
    if head.is_tls() {
        peer_warn!(shared, "peer started a TLS handshake on this plain-TCP port; closing (is the client using --tls?)");
        reject(stream, None).await;
        return None;
    }
    let (reader, writer) = stream.into_split();
    let reader = Rewind::new(head, reader);
    Some((network(reader, writer, options, watch), info))
}

#[cfg(feature = "tls")]
async fn establish_tls(
    stream: Rewind<TcpStream>,
    mut info: ConnectionInfo,
    tls: &crate::tls::ServerTls,
    deadline: Instant,
    options: &Options,
    watch: Rc<Watch>,
    shared: &Shared,
) -> Option<(rpc::Network, ConnectionInfo)> {
    if !stream_is_tls(&stream) {
        peer_warn!(
            shared,
            "peer sent plain Cap'n Proto to this TLS port; closing (is the client missing --tls?)"
        );
        let reason = "this server requires TLS: connect with TLS (windlass-calc: --tls)";
        reject(stream, Some((reason, capnp::ErrorKind::Failed))).await;
        return None;
    }
    let timeout = options.handshake_timeout;
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
    Some((network(reader, writer, options, watch), info))
}

/// Whether a stream's sniffed head is a TLS handshake.
#[cfg(feature = "tls")]
fn stream_is_tls<S>(stream: &Rewind<S>) -> bool {
    stream.head().is_tls()
}
