//! The web listener's limits and policies, each a named constant with its reason.

use std::time::Duration;

/// Default [`WebOptions::with_max_message_bytes`]: 1 MiB. A Cap'n Web message is one call or one
/// result; capnweb's own 32 Mi code-unit backstop is tuned for trusted peers, a public listener
/// wants far less. Raise it for services that move large `Data`.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1 << 20;

/// Default [`WebOptions::with_max_body_bytes`]: 4 MiB, a few maximal messages in one HTTP batch.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;

/// Default [`WebOptions::with_idle_timeout`]: 120 s without a frame either way closes a WebSocket,
/// and bounds how long an HTTP request may take to send its head.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Default [`WebOptions::with_batch_timeout`]: 30 s for an HTTP batch's pulled results to resolve;
/// past it the batch is answered with an abort, so a stuck backend cannot hold a request open.
pub const DEFAULT_BATCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Default [`WebOptions::with_max_connections`]: 1024 open TCP connections; more are closed at accept.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;

/// Default [`WebOptions::with_max_table_entries`]: 10 000 live entries in a session's import and
/// export tables together. A peer that holds more (never releasing) is aborted.
pub const DEFAULT_MAX_TABLE_ENTRIES: usize = 10_000;

/// Default [`WebOptions::with_shutdown_grace`]: 5 s for open sessions to finish after shutdown.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Default [`WebOptions::with_handshake_timeout`]: 10 s for a new connection's TLS handshake and
/// for each request head (slowloris), the Cap'n Proto server's default
/// ([`windlass::server::DEFAULT_HANDSHAKE_TIMEOUT`]).
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = windlass::server::DEFAULT_HANDSHAKE_TIMEOUT;

/// Limits and policies of the web listener. `WebOptions::default()` holds the `DEFAULT_*`
/// constants of this module, an empty origin allow-list (same-origin and origin-less requests
/// only), one worker thread per core and no TLS.
#[derive(Clone, Debug)]
pub struct WebOptions {
    pub(crate) max_message_bytes: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) batch_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) max_table_entries: usize,
    pub(crate) shutdown_grace: Duration,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) workers: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<windlass::tls::ServerTls>,
    pub(crate) stats: super::WebStats,
}

impl Default for WebOptions {
    fn default() -> Self {
        Self {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            batch_timeout: DEFAULT_BATCH_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_table_entries: DEFAULT_MAX_TABLE_ENTRIES,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            allowed_origins: Vec::new(),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            #[cfg(feature = "tls")]
            tls: None,
            stats: super::WebStats::default(),
        }
    }
}

impl WebOptions {
    /// The largest Cap'n Web message, in bytes (a WebSocket text message, or one line of a batch).
    /// Larger WebSocket messages close the socket with 1009. Default
    /// [`DEFAULT_MAX_MESSAGE_BYTES`].
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// The largest HTTP batch body, in bytes; larger bodies get 413. Default
    /// [`DEFAULT_MAX_BODY_BYTES`].
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// How long a WebSocket may stay silent both ways before it is closed (1001), and how long a
    /// request head may take. Default [`DEFAULT_IDLE_TIMEOUT`].
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// How long an HTTP batch may wait for its pulled results. Default [`DEFAULT_BATCH_TIMEOUT`].
    pub fn with_batch_timeout(mut self, timeout: Duration) -> Self {
        self.batch_timeout = timeout;
        self
    }

    /// Open TCP connections at most. Default [`DEFAULT_MAX_CONNECTIONS`].
    pub fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Live import + export table entries per session at most. Default
    /// [`DEFAULT_MAX_TABLE_ENTRIES`].
    pub fn with_max_table_entries(mut self, entries: usize) -> Self {
        self.max_table_entries = entries;
        self
    }

    /// How long open sessions may run on after shutdown is signalled. Default
    /// [`DEFAULT_SHUTDOWN_GRACE`].
    pub fn with_shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Allows cross-origin requests from `origin` (as browsers send it: `https://app.example`,
    /// no path). Requests without an `Origin` header (non-browser clients) and same-origin ones
    /// (the `Origin`'s host is the `Host` header) are always allowed; by default no other origin
    /// is.
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// How long a new connection may take to complete its TLS handshake, and a request to send
    /// its head (a slowloris client is cut off after it). Default [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Worker threads running sessions (at least 1; connections are spread over them round
    /// robin, and a session stays on its worker). Default: one per core.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Serves https and wss with `tls` (the same configuration type as the Cap'n Proto
    /// server's, so the same certificate and client authentication; a verified client
    /// certificate reaches the factory as [`super::RequestInfo::peer_certificate`]).
    /// Default: plain http and ws. Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: windlass::tls::ServerTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// A handle on the listener's counters (sessions per transport, messages, refusals by
    /// reason), to read while it runs; take it before passing the options to
    /// [`super::serve`].
    pub fn stats(&self) -> super::WebStats {
        self.stats.clone()
    }

    /// Whether a request with `Origin: origin` and `Host: host` may open a session.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else { return true };
        if self.allowed_origins.iter().any(|allowed| allowed == origin) {
            return true;
        }
        // Same origin: the part after the scheme is the Host header (host and port).
        let origin_host = origin.split_once("://").map(|(_, rest)| rest);
        matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let options = WebOptions::default().with_allowed_origin("https://app.example");
        assert!(options.origin_allowed(None, Some("api.example")));
        assert!(options.origin_allowed(Some("https://app.example"), Some("api.example")));
        assert!(options.origin_allowed(Some("http://api.example:8080"), Some("api.example:8080")));
        assert!(!options.origin_allowed(Some("https://evil.example"), Some("api.example")));
        assert!(!options.origin_allowed(Some("null"), Some("api.example")));
        assert!(!options.origin_allowed(Some("https://evil.example"), None));
    }
}
