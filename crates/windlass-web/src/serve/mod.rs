//! The web listener: `/capnweb` over HTTP/1 (hyper), as WebSocket sessions and HTTP batches.
//!
//! [`serve`] accepts on the caller's runtime and hands each connection, as a std socket, to one
//! of [`WebOptions::with_workers`] worker threads (round robin), each running a current-thread
//! tokio runtime and a `LocalSet` (capnp-rpc is `!Send`). The worker does the TLS handshake if
//! there is one; a session's Cap'n Web tables and the Cap'n Proto clients they hold live on its
//! worker, and the bootstrap factory is called there, once per session.

mod context;
mod error;
mod http;
mod options;
mod stats;
mod websocket;
mod worker;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use tracing::{info, warn};

pub use error::ServeError;
pub use options::{
    WebOptions, DEFAULT_BATCH_TIMEOUT, DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_TABLE_ENTRIES, DEFAULT_SHUTDOWN_GRACE,
};
pub use stats::{Refusal, SessionCounts, WebStats};

use crate::schema::Schema;

/// The HTTP path of the Cap'n Web endpoint.
pub const CAPNWEB_PATH: &str = "/capnweb";

/// How a session reached the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// A WebSocket: one long-lived session, callbacks to the client possible.
    WebSocket,
    /// One HTTP POST: one session whose messages are the body's lines.
    HttpBatch,
}

/// What the bootstrap factory learns about the request that opens a session.
#[derive(Clone, Debug)]
pub struct RequestInfo {
    pub(crate) peer: SocketAddr,
    pub(crate) authorization: Option<String>,
    pub(crate) origin: Option<String>,
    pub(crate) transport: Transport,
    pub(crate) tls: bool,
    #[cfg(feature = "tls")]
    pub(crate) peer_certificate: Option<windlass::tls::PeerCertificate>,
}

impl RequestInfo {
    /// The TCP peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The `Authorization` header, if it was present and valid UTF-8. Browsers cannot set it on
    /// WebSockets; HTTP batch clients and non-browser clients can.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// The `Origin` header, if any (it already passed the allow-list).
    pub fn origin(&self) -> Option<&str> {
        self.origin.as_deref()
    }

    /// WebSocket or HTTP batch.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// Whether the request came over TLS (https, wss).
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The certificate the client presented and TLS verified (servers that ask for one:
    /// `ServerTls::builder(..).client_auth(..)`). Feature `tls`.
    #[cfg(feature = "tls")]
    pub fn peer_certificate(&self) -> Option<&windlass::tls::PeerCertificate> {
        self.peer_certificate.as_ref()
    }
}

/// Makes the bootstrap capability of a session. Called on the worker thread that runs the
/// session, so the returned client (which is `!Send`) stays there.
pub type BootstrapFactory =
    Arc<dyn Fn(&RequestInfo) -> capnp::capability::Client + Send + Sync + 'static>;

/// What `/capnweb` serves: the bootstrap interface (by its schema) and the factory of its
/// capabilities.
#[derive(Clone)]
pub struct WebService {
    pub(crate) schema_request: Arc<[u8]>,
    pub(crate) interface_id: u64,
    pub(crate) factory: BootstrapFactory,
}

impl WebService {
    /// Serves `interface` (its name, e.g. `"Calculator"`, or its qualified name) of the schema in
    /// `schema_request` (a serialized `CodeGeneratorRequest`, as `capnp compile -o-` or
    /// windlass-schema writes it), with sessions bootstrapped by `factory`.
    ///
    /// # Errors
    /// [`ServeError::Schema`] when the request does not parse or has no such interface.
    pub fn new(
        schema_request: impl Into<Arc<[u8]>>,
        interface: &str,
        factory: BootstrapFactory,
    ) -> Result<Self, ServeError> {
        let schema_request = schema_request.into();
        let schema = Schema::from_request_bytes(&schema_request)
            .map_err(|e| ServeError::Schema(e.to_string()))?;
        let interface_id = schema
            .interface_by_name(interface)
            .map(|i| i.id())
            .ok_or_else(|| ServeError::Schema(format!("no interface named `{interface}`")))?;
        Ok(Self {
            schema_request,
            interface_id,
            factory,
        })
    }
}

impl std::fmt::Debug for WebService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebService")
            .field("interface_id", &self.interface_id)
            .finish()
    }
}

/// Serves `/capnweb` on `listener` until `shutdown` completes: then stops accepting, lets open
/// sessions run for [`WebOptions::with_shutdown_grace`], and returns.
///
/// Accept errors (e.g. out of file descriptors) are logged and retried after a pause, never
/// fatal. Connections over [`WebOptions::with_max_connections`] are closed at once (counted in
/// [`WebStats::refused`], logged at a bounded rate).
///
/// # Errors
/// [`ServeError::Worker`] if a worker thread cannot be started or dies.
pub async fn serve(
    listener: tokio::net::TcpListener,
    service: WebService,
    options: WebOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServeError> {
    let local_addr = listener.local_addr().ok();
    info!(?local_addr, "cap'n web listener started");
    let limit = Arc::new(tokio::sync::Semaphore::new(options.max_connections));
    let stats = options.stats();
    let workers = (0..options.workers)
        .map(|index| worker::Worker::start(index, service.clone(), options.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let mut next = 0usize;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    stats.connection_accepted();
                    let Ok(permit) = limit.clone().try_acquire_owned() else {
                        stats.connection_closed();
                        if let Some(suppressed) = stats.refuse(Refusal::Limit) {
                            warn!(%peer, suppressed, "connection limit reached; closing");
                        }
                        continue;
                    };
                    workers[next % workers.len()].hand_over(stream, peer, permit)?;
                    next = next.wrapping_add(1);
                }
                Err(error) => {
                    // mini-redis: accept errors (EMFILE, ECONNABORTED) are transient; back off.
                    warn!(%error, "accept failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
    info!("cap'n web listener shutting down");
    // Every worker gets the signal first, so their graces run at once.
    for worker in &workers {
        worker.signal();
    }
    let mut result = Ok(());
    for worker in workers {
        let ended = worker.finished().await;
        result = result.and(ended);
    }
    result
}
