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
use tracing::{debug, info, warn};

use super::context::{plain, Body, WorkerContext};
use super::websocket::{self, Handshake, PendingUpgrade};
use super::{RequestInfo, Transport, CAPNWEB_PATH};
use crate::session::{Session, SessionConfig};

/// Serves one TCP connection; if it upgrades to a WebSocket, runs that session to its end too,
/// so the worker's task for the connection covers everything the connection holds.
pub(super) async fn serve_connection(
    context: Rc<WorkerContext>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
) {
    let upgrade: Rc<RefCell<Option<PendingUpgrade>>> = Rc::default();
    let service = {
        let context = context.clone();
        let upgrade = upgrade.clone();
        hyper::service::service_fn(move |request| {
            let context = context.clone();
            let upgrade = upgrade.clone();
            async move { Ok::<_, Infallible>(route(&context, request, peer, &upgrade).await) }
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(context.options.idle_timeout)
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
    if let Err(error) = result {
        debug!(%error, "http connection ended with an error");
    }
    let pending = upgrade.borrow_mut().take();
    if let Some(pending) = pending {
        websocket::run(&context, pending).await;
    }
}

async fn route(
    context: &WorkerContext,
    request: Request<Incoming>,
    peer: SocketAddr,
    upgrade: &RefCell<Option<PendingUpgrade>>,
) -> Response<Body> {
    if request.uri().path() != CAPNWEB_PATH {
        return plain(StatusCode::NOT_FOUND, "not found");
    }
    let headers = request.headers();
    let origin = text_header(headers, header::ORIGIN);
    let host = text_header(headers, header::HOST);
    if !context
        .options
        .origin_allowed(origin.as_deref(), host.as_deref())
    {
        warn!(?origin, "cross-origin request refused");
        return plain(StatusCode::FORBIDDEN, "origin not allowed");
    }
    let info = |transport| RequestInfo {
        peer,
        authorization: text_header(headers, header::AUTHORIZATION),
        origin: origin.clone(),
        transport,
    };
    let mut response = match *request.method() {
        Method::GET if websocket::is_upgrade(headers) => {
            let info = info(Transport::WebSocket);
            match websocket::accept(request, info) {
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
        Method::GET => plain(
            StatusCode::UPGRADE_REQUIRED,
            "expected a WebSocket upgrade or a POST",
        ),
        _ => plain(
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
    let body = match Limited::new(request.into_body(), options.max_body_bytes)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<http_body_util::LengthLimitError>() => {
            warn!(limit = options.max_body_bytes, "batch body too large");
            return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
        }
        Err(error) => {
            debug!(%error, "batch body unreadable");
            return plain(StatusCode::BAD_REQUEST, "request body unreadable");
        }
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return plain(StatusCode::BAD_REQUEST, "request body is not UTF-8");
    };
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
    if !text.is_empty() {
        for line in text.split('\n') {
            lines += 1;
            if session.receive(line).is_err() {
                break;
            }
        }
    }
    if tokio::time::timeout(options.batch_timeout, session.drained())
        .await
        .is_err()
    {
        warn!(timeout = ?options.batch_timeout, "batch results did not resolve in time");
        session.abort("batch timed out before its results resolved");
    }
    session.close();
    let mut messages = Vec::new();
    while let Ok(message) = outgoing.try_recv() {
        messages.push(message);
    }
    info!(
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
