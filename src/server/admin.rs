//! The admin HTTP endpoint (feature `admin`): `/healthz`, `/readyz` and `/metrics` on a thread
//! of its own, so a busy or draining server still answers its load balancer and its scraper.
//!
//! hyper's HTTP/1 server on a current-thread runtime; each request is answered from atomics and
//! the connection registry, never by calling into a worker.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::Shared;
use crate::error::ServeError;

/// How long an admin request may take to arrive (a scraper or health checker that connects and
/// says nothing must not hold a task forever).
pub(crate) const ADMIN_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The running endpoint: stopped (and joined) by [`Admin::stop`].
pub(super) struct Admin {
    local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Admin {
    pub(super) fn start(
        addr: SocketAddr,
        shared: Arc<Shared>,
        workers: usize,
        thread_name: &str,
    ) -> Result<Admin, ServeError> {
        let bind_err = |source| ServeError::Bind {
            addr: format!("admin {addr}"),
            source,
        };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        listener.set_nonblocking(true).map_err(bind_err)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        let (stop, stopped) = watch::channel(false);
        let thread = thread::Builder::new()
            .name(format!("{thread_name}-admin"))
            .spawn(move || runtime.block_on(serve(listener, shared, workers, stopped)))
            .map_err(ServeError::Runtime)?;
        info!(addr = %local_addr, "admin endpoint listening");
        Ok(Admin {
            local_addr,
            stop,
            thread: Some(thread),
        })
    }

    pub(super) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, ends open admin connections and joins the thread.
    pub(super) fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                warn!("the admin thread panicked");
            }
        }
    }
}

impl Drop for Admin {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    workers: usize,
    mut stopped: watch::Receiver<bool>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            warn!(error = %e, "cannot register the admin listener");
            return;
        }
    };
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!(error = %e, "admin accept failed; retrying");
                    tokio::time::sleep(super::ACCEPT_ERROR_BACKOFF).await;
                    continue;
                }
            },
        };
        let shared = shared.clone();
        let service = hyper::service::service_fn(move |req| {
            let response = respond(&req, &shared, workers);
            async move { Ok::<_, Infallible>(response) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .header_read_timeout(ADMIN_REQUEST_TIMEOUT)
            .timer(hyper_util::rt::TokioTimer::new())
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        tasks.spawn(async move {
            if let Err(e) = conn.await {
                debug!(%peer, error = %e, "admin connection ended with an error");
            }
        });
    }
    tasks.shutdown().await;
}

/// The answer to one admin request. Pure over the server state, so it is tested directly.
fn respond(req: &Request<Incoming>, shared: &Shared, workers: usize) -> Response<Full<Bytes>> {
    route(req.method(), req.uri().path(), shared, workers)
}

fn route(method: &Method, path: &str, shared: &Shared, workers: usize) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => {
            let ready = !shared
                .totals
                .unready
                .load(std::sync::atomic::Ordering::Relaxed)
                && *shared.phase.borrow() == super::Phase::Running;
            if ready {
                text(StatusCode::OK, "ready\n")
            } else {
                text(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n")
            }
        }
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(super::metrics::render(
                shared, workers,
            ))));
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz or /metrics\n",
        ),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}
