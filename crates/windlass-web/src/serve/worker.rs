//! The worker thread: a current-thread runtime and a `LocalSet` that run every session.

use std::net::SocketAddr;
use std::rc::Rc;

use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit};
use tracing::{info, warn, Instrument};

use super::context::WorkerContext;
use super::{http, ServeError, WebOptions, WebService};
use crate::schema::Schema;

/// A connection on its way to the worker.
struct Handover {
    stream: std::net::TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
}

/// The acceptor's handle on the worker thread.
pub(super) struct Worker {
    connections: mpsc::UnboundedSender<Handover>,
    shutdown: watch::Sender<bool>,
    finished: oneshot::Receiver<()>,
}

impl Worker {
    /// Starts worker thread number `index`.
    pub(super) fn start(
        index: usize,
        service: WebService,
        options: WebOptions,
    ) -> Result<Self, ServeError> {
        let (connections, receiver) = mpsc::unbounded_channel();
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (done, finished) = oneshot::channel();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Worker)?;
        std::thread::Builder::new()
            .name(format!("windlass-web-{index}"))
            .spawn(move || {
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, run(service, options, receiver, shutdown_rx));
                // Dropping the runtime here cancels whatever outlived the grace period.
                let _ = done.send(());
            })
            .map_err(ServeError::Worker)?;
        Ok(Self {
            connections,
            shutdown,
            finished,
        })
    }

    /// Hands an accepted connection to the worker.
    pub(super) fn hand_over(
        &self,
        stream: tokio::net::TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), ServeError> {
        // `into_std` keeps the socket non-blocking, as `TcpStream::from_std` needs.
        let stream = stream.into_std().map_err(ServeError::Worker)?;
        self.connections
            .send(Handover {
                stream,
                peer,
                permit,
            })
            .map_err(|_| ServeError::Worker(std::io::Error::other("worker thread stopped")))
    }

    /// Tells the worker to stop: it closes its sessions within the shutdown grace.
    pub(super) fn signal(&self) {
        let _ = self.shutdown.send(true);
    }

    /// Waits for the worker to finish (after [`Worker::signal`]).
    pub(super) async fn finished(self) -> Result<(), ServeError> {
        drop(self.connections);
        self.finished
            .await
            .map_err(|_| ServeError::Worker(std::io::Error::other("worker thread panicked")))?;
        Ok(())
    }
}

async fn run(
    service: WebService,
    options: WebOptions,
    mut receiver: mpsc::UnboundedReceiver<Handover>,
    shutdown: watch::Receiver<bool>,
) {
    let schema = match Schema::from_request_bytes(&service.schema_request) {
        Ok(schema) => Rc::new(schema),
        Err(error) => {
            // WebService::new parsed the same bytes already; this cannot fail in practice.
            warn!(%error, "schema does not parse on the worker");
            return;
        }
    };
    let grace = options.shutdown_grace;
    let context = Rc::new(WorkerContext {
        service,
        schema,
        options,
        shutdown,
    });
    let mut tasks = tokio::task::JoinSet::new();
    let mut conn_id = 0u64;
    while let Some(Handover {
        stream,
        peer,
        permit,
    }) = receiver.recv().await
    {
        conn_id += 1;
        // Reap finished connection tasks so the set does not grow with the server's lifetime.
        while tasks.try_join_next().is_some() {}
        let stream = match tokio::net::TcpStream::from_std(stream) {
            Ok(stream) => stream,
            Err(error) => {
                warn!(%peer, %error, "cannot register connection");
                continue;
            }
        };
        let span = tracing::info_span!("web_conn", %peer, conn_id);
        let context = context.clone();
        tasks.spawn_local(
            async move {
                connection(&context, stream, peer).await;
                context.options.stats.connection_closed();
                drop(permit);
            }
            .instrument(span),
        );
    }
    let drained = async { while tasks.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        info!(
            remaining = tasks.len(),
            "shutdown grace over; closing the remaining sessions"
        );
    }
}

/// One connection: the TLS handshake if the listener has TLS, then HTTP.
async fn connection(context: &Rc<WorkerContext>, stream: tokio::net::TcpStream, peer: SocketAddr) {
    #[cfg(feature = "tls")]
    if let Some(tls) = &context.options.tls {
        let acceptor = tokio_rustls::TlsAcceptor::from(tls.rustls_config());
        let timeout = context.options.handshake_timeout;
        let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            failed => {
                if let Some(suppressed) = context.options.stats.refuse(super::Refusal::Handshake) {
                    match failed {
                        Ok(Err(error)) => warn!(%peer, %error, suppressed, "tls handshake failed"),
                        _ => warn!(%peer, ?timeout, suppressed, "tls handshake timed out"),
                    }
                }
                return;
            }
        };
        let certificate = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| windlass::tls::PeerCertificate::from_der(der));
        let tls = http::Tls {
            on: true,
            peer_certificate: certificate,
        };
        http::serve_connection(context.clone(), stream, peer, tls).await;
        return;
    }
    http::serve_connection(context.clone(), stream, peer, http::Tls::default()).await;
}
