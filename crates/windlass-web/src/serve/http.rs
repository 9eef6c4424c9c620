//! One HTTP/1 connection: routing, the origin policy, and HTTP batches.

use std::cell::RefCell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tracing::{debug, warn};

use super::context::{plain, Body, WorkerContext};
use super::websocket::{self, Handshake, PendingUpgrade};
use super::{Refusal, RequestInfo, Transport, CAPNWEB_PATH};
use crate::session::{Session, SessionConfig};

/// What TLS told about a connection (nothing for plain TCP).
#[derive(Clone, Debug, Default)]
pub(super) struct Tls {
    pub(super) on: bool,
    #[cfg(feature = "tls")]
    pub(super) peer_certificate: Option<windlass::tls::PeerCertificate>,
}

/// Serves one connection (TCP, or TLS over it); if it upgrades to a WebSocket, runs that session
/// to its end too, so the worker's task for the connection covers everything the connection
/// holds.
pub(super) async fn serve_connection<S>(
    context: Rc<WorkerContext>,
    stream: S,
    peer: SocketAddr,
    tls: Tls,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let upgrade: Rc<RefCell<Option<PendingUpgrade>>> = Rc::default();
    let service = {
        let context = context.clone();
        let upgrade = upgrade.clone();
        hyper::service::service_fn(move |request| {
            let context = context.clone();
            let upgrade = upgrade.clone();
            let tls = tls.clone();
            async move {
                let response = route(&context, request, peer, &tls, &upgrade).await;
                Ok::<_, Infallible>(response)
            }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        // Slowloris: a request head must arrive within the handshake timeout.
        .header_read_timeout(context.options.handshake_timeout)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(connection);
    let mut shutdown = context.shutdown.clone();
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = shutdown.wait_for(|stop| *stop) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    match result {
        // hyper closes a connection whose request head is not in within the handshake timeout
        // (slowloris), without a response; count it with the slow bodies.
        Err(error) if error.is_timeout() => {
            if let Some(suppressed) = context.options.stats.refuse(Refusal::Timeout) {
                let timeout = context.options.handshake_timeout;
                warn!(?timeout, suppressed, "request head too slow");
            }
        }
        Err(error) => debug!(%error, "http connection ended with an error"),
        Ok(()) => {}
    }
    let pending = upgrade.borrow_mut().take();
    if let Some(pending) = pending {
        websocket::run(&context, pending).await;
    }
}

/// Counts a refusal, logs it within the log budget, and answers `status` with `text`.
pub(super) fn refuse(
    context: &WorkerContext,
    reason: Refusal,
    status: StatusCode,
    text: &'static str,
) -> Response<Body> {
    if let Some(suppressed) = context.options.stats.refuse(reason) {
        warn!(
            status = status.as_u16(),
            suppressed, "request refused: {text}"
        );
    }
    plain(status, text)
}

async fn route(
    context: &WorkerContext,
    request: Request<Incoming>,
    peer: SocketAddr,
    tls: &Tls,
    upgrade: &RefCell<Option<PendingUpgrade>>,
) -> Response<Body> {
    if request.uri().path() != CAPNWEB_PATH {
        return refuse(
            context,
            Refusal::BadRequest,
            StatusCode::NOT_FOUND,
            "not found",
        );
    }
    let headers = request.headers();
    let origin = text_header(headers, header::ORIGIN);
    let host = text_header(headers, header::HOST);
    if !context
        .options
        .origin_allowed(origin.as_deref(), host.as_deref())
    {
        if let Some(suppressed) = context.options.stats.refuse(Refusal::Origin) {
            warn!(?origin, suppressed, "cross-origin request refused");
        }
        return plain(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let info = |transport| RequestInfo {
        peer,
        authorization: text_header(headers, header::AUTHORIZATION),
        origin: origin.clone(),
        transport,
        tls: tls.on,
        #[cfg(feature = "tls")]
        peer_certificate: tls.peer_certificate.clone(),
    };
    let mut response = match *request.method() {
        Method::GET if websocket::is_upgrade(headers) => {
            let info = info(Transport::WebSocket);
            match websocket::accept(context, request, info) {
                Handshake::Accepted(response, pending) => {
                    *upgrade.borrow_mut() = Some(pending);
                    return response;
                }
                Handshake::Refused(response) => response,
            }
        }
        Method::POST => {
            let info = info(Transport::HttpBatch);
            batch(context, request, info).await
        }
        Method::OPTIONS => preflight(),
        Method::GET => refuse(
            context,
            Refusal::BadRequest,
            StatusCode::UPGRADE_REQUIRED,
            "expected a WebSocket upgrade or a POST",
        ),
        _ => refuse(
            context,
            Refusal::BadRequest,
            StatusCode::METHOD_NOT_ALLOWED,
            "expected a WebSocket upgrade or a POST",
        ),
    };
    if let Some(origin) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        // The origin passed the allow-list, so it may read the response.
        response
            .headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("origin"));
    }
    response
}

/// An HTTP batch: the body's lines are one session's messages, processed in order; the response
/// holds what the session sent once every pulled result has resolved.
async fn batch(
    context: &WorkerContext,
    request: Request<Incoming>,
    info: RequestInfo,
) -> Response<Body> {
    let options = &context.options;
    let collect = Limited::new(request.into_body(), options.max_body_bytes).collect();
    // A body trickled in (slowloris) must not hold the connection past the idle timeout.
    let body = match tokio::time::timeout(options.idle_timeout, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            return refuse(
                context,
                Refusal::TooLarge,
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body too large",
            );
        }
        Ok(Err(error)) => {
            debug!(%error, "batch body unreadable");
            return refuse(
                context,
                Refusal::BadRequest,
                StatusCode::BAD_REQUEST,
                "request body unreadable",
            );
        }
        Err(_) => {
            return refuse(
                context,
                Refusal::Timeout,
                StatusCode::REQUEST_TIMEOUT,
                "request body too slow",
            );
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return refuse(
            context,
            Refusal::BadRequest,
            StatusCode::BAD_REQUEST,
            "request body is not UTF-8",
        );
    };
    let stats = &options.stats;
    stats.session_opened(Transport::HttpBatch);
    let bootstrap = (context.service.factory)(&info);
    let config = SessionConfig {
        max_message_bytes: options.max_message_bytes,
        max_table_entries: options.max_table_entries,
        callbacks: false,
    };
    let (session, mut outgoing) = Session::new(
        context.schema.clone(),
        bootstrap,
        context.service.interface_id,
        config,
    );
    let mut lines = 0usize;
    let mut aborted = false;
    // One trailing newline (a body written by hand, or by `curl --data-binary @file`) ends the
    // last message; it does not start an empty one.
    let text = text.strip_suffix('\n').unwrap_or(text);
    if !text.is_empty() {
        for line in text.split('\n') {
            lines += 1;
            if session.receive(line).is_err() {
                aborted = true;
                if let Some(suppressed) = stats.peer_error() {
                    warn!(
                        line = lines,
                        suppressed, "http batch aborted by its message"
                    );
                }
                break;
            }
        }
    }
    if tokio::time::timeout(options.batch_timeout, session.drained())
        .await
        .is_err()
    {
        aborted = true;
        if let Some(suppressed) = stats.peer_error() {
            warn!(timeout = ?options.batch_timeout, suppressed, "batch results did not resolve in time");
        }
        session.abort("batch timed out before its results resolved");
    }
    session.close();
    let mut messages = Vec::new();
    while let Ok(message) = outgoing.try_recv() {
        messages.push(message);
    }
    stats.messages(Transport::HttpBatch, lines as u64, messages.len() as u64);
    stats.session_closed(Transport::HttpBatch, aborted);
    debug!(
        messages_in = lines,
        messages_out = messages.len(),
        "http batch answered"
    );
    let mut response = Response::new(Full::new(Bytes::from(messages.join("\n"))));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// CORS preflight for cross-origin batches (the origin already passed the allow-list).
fn preflight() -> Response<Body> {
    let mut response = plain(StatusCode::NO_CONTENT, "");
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("POST"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    response
}

fn text_header(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}
