//! Server configuration with documented defaults.

use std::sync::Arc;
use std::time::Duration;

use capnp::message::ReaderOptions;

use crate::instrument::Redactor;

/// Default for [`Options::with_handshake_timeout`]: a TLS handshake takes one or two round trips,
/// so ten seconds is generous on any network while still freeing the slot of a silent peer.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default for [`Options::with_max_connections`]: well under the usual `ulimit -n` of 1024 ×
/// 4 that servers run with, and far above what one process on a small machine serves busily;
/// an idle connection costs a socket and a few KiB of buffers.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;

/// Default for [`Options::with_drain_timeout`]: long enough for ordinary calls to finish at
/// shutdown, short enough for a service manager's stop timeout (systemd's default is 90 s).
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Default for [`Options::with_listen_backlog`]: the kernel's queue of connections not yet
/// accepted. `std`'s 128 overflowed when 1,000 clients connected at once (the overflowing ones
/// wait for a SYN retransmit, a second or more); 4,096 absorbs such a burst and is what Linux
/// caps it at by default (`net.core.somaxconn`).
pub const DEFAULT_LISTEN_BACKLOG: u32 = 4096;

/// Default for [`Options::with_max_calls_in_flight`]: 64 times the pipeline depth of the
/// benchmarks (16 calls in flight on one connection, BENCHMARKS.md), small enough that what the
/// calls hold stays modest.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: usize = 1024;

/// Questions (calls, bootstraps) a peer may leave without `Finish`, per call it may have in
/// flight: with the defaults 8,192 answer-table entries ≈ 20 MB (2.4 KB each, measured).
pub(crate) const UNFINISHED_PER_CALL_IN_FLIGHT: usize = 8;

/// Default for [`Options::with_read_timeout`]: a 64 MiB message (the default size limit) still
/// arrives within it at 10 Mbit/s; a peer that stalls mid-message holds its buffer no longer.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a connection may take to close gracefully once told to (at shutdown, idle timeout)
/// before it is dropped.
pub(crate) const SHUTDOWN_DISCONNECT_GRACE: Duration = Duration::from_secs(1);

/// How a server runs: workers, TLS, limits, timeouts, hooks. Every setter documents its default.
#[derive(Clone)]
pub struct Options {
    pub(crate) workers: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<crate::tls::ServerTls>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) drain_timeout: Duration,
    pub(crate) reader_options: ReaderOptions,
    pub(crate) redact: Option<Redactor>,
    pub(crate) thread_name: String,
    pub(crate) stream_window: usize,
    #[cfg(feature = "proxy-protocol")]
    pub(crate) proxy_protocol: Option<super::ProxyProtocol>,
    #[cfg(feature = "admin")]
    pub(crate) admin: Option<std::net::SocketAddr>,
    #[cfg(feature = "admin")]
    pub(crate) collectors: Vec<super::metrics::SharedCollector>,
    pub(crate) listen_backlog: u32,
    pub(crate) max_calls_in_flight: usize,
    pub(crate) read_timeout: Option<Duration>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_struct("Options");
        s.field("workers", &self.workers);
        #[cfg(feature = "tls")]
        s.field("tls", &self.tls.is_some());
        s.field("handshake_timeout", &self.handshake_timeout)
            .field("max_connections", &self.max_connections)
            .field("idle_timeout", &self.idle_timeout)
            .field("drain_timeout", &self.drain_timeout)
            .field(
                "traversal_limit_in_words",
                &self.reader_options.traversal_limit_in_words,
            )
            .field("nesting_limit", &self.reader_options.nesting_limit)
            .field("redaction", &self.redact.is_some())
            .field("stream_window", &self.stream_window)
            .field("listen_backlog", &self.listen_backlog)
            .field("max_calls_in_flight", &self.max_calls_in_flight)
            .field("read_timeout", &self.read_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            #[cfg(feature = "tls")]
            tls: None,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            idle_timeout: None,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            reader_options: ReaderOptions::new(),
            redact: None,
            thread_name: "windlass".to_string(),
            stream_window: crate::transport::DEFAULT_STREAM_WINDOW,
            #[cfg(feature = "proxy-protocol")]
            proxy_protocol: None,
            #[cfg(feature = "admin")]
            admin: None,
            #[cfg(feature = "admin")]
            collectors: Vec::new(),
            listen_backlog: DEFAULT_LISTEN_BACKLOG,
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
            read_timeout: Some(DEFAULT_READ_TIMEOUT),
        }
    }
}

impl Options {
    /// The server side's network setup: these options' reader limits and stream window.
    pub(crate) fn network_config(&self) -> crate::transport::Config {
        crate::transport::Config {
            side: capnp_rpc::rpc_twoparty_capnp::Side::Server,
            reader_options: self.reader_options,
            stream_window: self.stream_window,
        }
    }

    /// The defaults: plain TCP, one worker per core, [`DEFAULT_MAX_CONNECTIONS`],
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`], no idle timeout, [`DEFAULT_DRAIN_TIMEOUT`], capnp's
    /// default reader limits (64 MiB traversal, nesting 64), errors passed through unchanged.
    pub fn new() -> Self {
        Self::default()
    }

    /// Worker threads, each a current-thread runtime owning its connections. Default: the
    /// machine's available parallelism. Values below 1 mean 1.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Serves TLS with this configuration; plain Cap'n Proto clients are told so (in an RPC
    /// `Abort` message) and disconnected. Default: plain TCP.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// How long a new connection may take to say what it speaks (its first bytes, on every
    /// server) and, with TLS, to complete the handshake, before it is closed. A silent peer is
    /// also closed sooner by a shorter [`Options::with_idle_timeout`]. Default:
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How many connections may be open at once. One more is refused at once: it gets an RPC
    /// `Abort` of kind `Overloaded` saying why (on a TLS server, after a handshake), the refusal
    /// is counted ([`super::ServerStats::rejected`]) and logged at a bounded rate. Nothing is
    /// queued. While many refusals are in progress, further ones are closed with a reset.
    /// Default: [`DEFAULT_MAX_CONNECTIONS`].
    pub fn with_max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Closes a connection when no message has gone either way for `timeout` and none of the
    /// peer's calls is in progress (a call waiting on a slow callback is not idleness).
    /// Default: off.
    pub fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// At shutdown, how long calls in flight may take to finish before every connection is
    /// disconnected. Default: [`DEFAULT_DRAIN_TIMEOUT`].
    pub fn with_drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// capnp's limits for reading peers' messages (traversal limit in words, nesting limit).
    /// The traversal limit is the largest message a peer may send (checked on its header); each
    /// message is then read with a traversal budget of 4 times
    /// that, since capnp-rpc and the method each read a call's parameters.
    /// Default: `ReaderOptions::new()` (8 Mi words = 64 MiB, nesting 64).
    pub fn with_reader_options(mut self, options: ReaderOptions) -> Self {
        self.reader_options = options;
        self
    }

    /// The largest message a peer may send, in bytes of segment data (rounded down to 8-byte
    /// words): sets the traversal limit (see [`Options::with_reader_options`]). A larger message
    /// is refused before its body is read, logged, and the peer's connection is aborted with an
    /// `Overloaded` error naming the limit; a smaller one is read in full. Default: 64 MiB.
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.reader_options.traversal_limit_in_words = Some((bytes / 8).max(1));
        self
    }

    /// The flow-control window of each stream of calls this server makes to its peers' `-> stream`
    /// methods (e.g. into a client's callback), in bytes: such a call waits while this many
    /// bytes of the stream are unacknowledged, so a slow peer holds back the sender instead of
    /// growing its memory. (A peer streaming *to* this server is limited by its own window.)
    /// Default: [`crate::DEFAULT_STREAM_WINDOW`] (64 KiB).
    pub fn with_stream_window(mut self, bytes: usize) -> Self {
        self.stream_window = bytes.max(1);
        self
    }

    /// The prefix of the server's thread names: `{prefix}-acceptor`, `{prefix}-worker-{i}` (as
    /// `top -H` and debuggers show them; Linux keeps the first 15 bytes). Default: `windlass`.
    pub fn with_thread_name(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name = prefix.into();
        self
    }

    /// The listen backlog: connections the kernel completes and queues before the server
    /// accepts them (capped by `net.core.somaxconn` on Linux). Applied to listeners passed to
    /// [`super::Server::start`] too. Default: [`DEFAULT_LISTEN_BACKLOG`].
    pub fn with_listen_backlog(mut self, backlog: u32) -> Self {
        self.listen_backlog = backlog.max(1);
        self
    }

    /// Calls (and bootstraps) one connection may have unanswered. At the limit the server
    /// stops reading that connection until an answer goes out — TCP backpressure, nothing is
    /// refused, other connections are unaffected. A peer may also leave at most
    /// 8 times this many questions without `Finish`; beyond that
    /// its connection is aborted with `Overloaded`. (Like C++ capnp's `setFlowLimit`: a service
    /// whose calls all wait on callbacks into the calling peer can stall at the limit.) Values
    /// below 1 mean 1. Default: [`DEFAULT_MAX_CALLS_IN_FLIGHT`].
    pub fn with_max_calls_in_flight(mut self, max: usize) -> Self {
        self.max_calls_in_flight = max.max(1);
        self
    }

    /// How long one incoming message may take to arrive once its first byte has; a peer that
    /// stalls mid-message is disconnected after it. Silence *between* messages is the idle
    /// timeout's business. `None`: no limit. Default: [`DEFAULT_READ_TIMEOUT`].
    pub fn with_read_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The flow limits of one connection, as the transport applies them.
    pub(crate) fn flow_limits(&self) -> crate::flow_limit::FlowLimits {
        crate::flow_limit::FlowLimits {
            max_in_flight: self.max_calls_in_flight as u64,
            max_open: self
                .max_calls_in_flight
                .saturating_mul(UNFINISHED_PER_CALL_IN_FLIGHT),
            read_timeout: self.read_timeout,
        }
    }

    /// How long a new connection may stay silent before its first bytes: the handshake timeout,
    /// or the idle timeout if shorter (silence is idleness).
    pub(crate) fn sniff_timeout(&self) -> Duration {
        self.idle_timeout.map_or(self.handshake_timeout, |idle| {
            idle.min(self.handshake_timeout)
        })
    }

    /// A function that sees every error about to be sent to a peer as a call's result and
    /// returns what to send instead, e.g. to hide internal details. Default: errors pass through.
    pub fn with_error_redaction<F>(mut self, redact: F) -> Self
    where
        F: Fn(capnp::Error) -> capnp::Error + Send + Sync + 'static,
    {
        self.redact = Some(Arc::new(redact));
        self
    }

    /// Expects a PROXY protocol header (v1 or v2, as HAProxy's `send-proxy` / `send-proxy-v2`
    /// write it) at the start of every connection, from the trusted sources only: a connection
    /// from anywhere else, or without a valid header within the handshake timeout, is refused,
    /// logged and counted ([`super::ServerHandle::refusals`]). Then
    /// [`super::ConnectionInfo::peer`] is the client's address. Works with TLS (the header
    /// comes before the TLS handshake). Default: off (the socket's peer is the client).
    /// Feature `proxy-protocol`.
    #[cfg(feature = "proxy-protocol")]
    pub fn with_proxy_protocol(mut self, proxy_protocol: super::ProxyProtocol) -> Self {
        self.proxy_protocol = Some(proxy_protocol);
        self
    }

    /// Serves the admin HTTP endpoint on `addr` (e.g. `127.0.0.1:9090`; port 0 for any):
    /// `GET /healthz` (200 while the process serves), `GET /readyz` (200 while accepting, 503
    /// from the moment shutdown begins), `GET /metrics` (Prometheus text). It runs on a thread
    /// of its own and stops after the drain. Bind it to a private address: it has no
    /// authentication. Default: off. Feature `admin`.
    #[cfg(feature = "admin")]
    pub fn with_admin(mut self, addr: std::net::SocketAddr) -> Self {
        self.admin = Some(addr);
        self
    }

    /// Adds `collector`'s metrics to every `/metrics` scrape (and
    /// [`super::ServerHandle::render_metrics`]), after the server's own: how a listener beside
    /// this server (windlass-web's Cap'n Web listener, say) reports on the same endpoint. Its
    /// metric names must not clash with the server's (`windlass_*`, `docs/deploy.md`).
    /// Feature `admin`.
    #[cfg(feature = "admin")]
    pub fn with_metrics_collector(
        mut self,
        collector: impl prometheus_client::collector::Collector,
    ) -> Self {
        self.collectors.push(std::sync::Arc::new(collector));
        self
    }
}
