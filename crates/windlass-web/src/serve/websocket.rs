//! WebSocket sessions: the RFC 6455 handshake on hyper, then one Cap'n Web message per text
//! frame until either side closes.

use futures::{SinkExt, StreamExt};
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::WebSocketStream;
use tracing::{debug, warn};

use super::context::{plain, WorkerContext};
use super::{Refusal, RequestInfo, Transport};
use crate::session::{Session, SessionConfig};

/// How long the server waits for the peer to answer its close frame before dropping the
/// connection: a round trip, with room for a peer still sending.
const CLOSE_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// An accepted upgrade, waiting for hyper to hand over the connection.
pub(super) struct PendingUpgrade {
    on_upgrade: hyper::upgrade::OnUpgrade,
    info: RequestInfo,
}

/// Whether the request asks for a WebSocket.
pub(super) fn is_upgrade(headers: &HeaderMap) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|value| {
            value
                .to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

type HttpResponse = Response<Full<Bytes>>;

/// The answer to a handshake.
pub(super) enum Handshake {
    /// 101, and the connection to take over once hyper hands it out.
    Accepted(HttpResponse, PendingUpgrade),
    /// The error response to send.
    Refused(HttpResponse),
}

/// Answers the handshake (101 with the accept key), or refuses it.
pub(super) fn accept(
    context: &WorkerContext,
    mut request: Request<Incoming>,
    info: RequestInfo,
) -> Handshake {
    match check(&request) {
        Ok(accept) => {
            let on_upgrade = hyper::upgrade::on(&mut request);
            let mut response = plain(StatusCode::SWITCHING_PROTOCOLS, "");
            let headers = response.headers_mut();
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
            Handshake::Accepted(response, PendingUpgrade { on_upgrade, info })
        }
        Err(response) => {
            if let Some(suppressed) = context.options.stats.refuse(Refusal::BadRequest) {
                warn!(
                    status = response.status().as_u16(),
                    suppressed, "websocket upgrade refused"
                );
            }
            Handshake::Refused(*response)
        }
    }
}

/// The `Sec-WebSocket-Accept` value, or the response refusing the request (boxed: the error
/// path is rare and a response is large).
fn check(request: &Request<Incoming>) -> Result<HeaderValue, Box<HttpResponse>> {
    let headers = request.headers();
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(|v| v.as_bytes())
        != Some(b"13")
    {
        let mut response = plain(
            StatusCode::UPGRADE_REQUIRED,
            "websocket version 13 required",
        );
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
        return Err(Box::new(response));
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        return Err(Box::new(plain(
            StatusCode::BAD_REQUEST,
            "missing sec-websocket-key",
        )));
    };
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    HeaderValue::from_str(&accept)
        .map_err(|_| Box::new(plain(StatusCode::BAD_REQUEST, "bad sec-websocket-key")))
}

/// Why the socket is being closed by us.
fn close(code: CloseCode, reason: &'static str) -> Frame {
    Frame::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}

/// Runs a session over the upgraded connection until it ends.
pub(super) async fn run(context: &WorkerContext, pending: PendingUpgrade) {
    let upgraded = match pending.on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(error) => {
            debug!(%error, "websocket upgrade failed");
            return;
        }
    };
    let options = &context.options;
    let config = WebSocketConfig::default()
        .max_message_size(Some(options.max_message_bytes))
        .max_frame_size(Some(options.max_message_bytes));
    let socket =
        WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
    let bootstrap = (context.service.factory)(&pending.info);
    let session_config = SessionConfig {
        max_message_bytes: options.max_message_bytes,
        max_table_entries: options.max_table_entries,
        callbacks: true,
    };
    let (session, outgoing) = Session::new(
        context.schema.clone(),
        bootstrap,
        context.service.interface_id,
        session_config,
    );
    let stats = &options.stats;
    stats.session_opened(Transport::WebSocket);
    debug!("websocket session started");
    let mut counts = Counts::default();
    let reason = pump(context, socket, &session, outgoing, &mut counts).await;
    session.close();
    stats.messages(Transport::WebSocket, counts.received, counts.sent);
    stats.session_closed(Transport::WebSocket, counts.aborted);
    debug!(reason, "websocket session ended");
}

/// What one session's pump saw.
#[derive(Default)]
struct Counts {
    received: u64,
    sent: u64,
    /// The session ended in an abort (either side's).
    aborted: bool,
}

/// Moves frames both ways; returns why it stopped.
async fn pump(
    context: &WorkerContext,
    mut socket: WebSocketStream<TokioIo<hyper::upgrade::Upgraded>>,
    session: &Session,
    mut outgoing: futures::channel::mpsc::UnboundedReceiver<String>,
    counts: &mut Counts,
) -> &'static str {
    let idle = context.options.idle_timeout;
    let stats = &context.options.stats;
    let mut shutdown = context.shutdown.clone();
    let closing = loop {
        let frame = tokio::select! {
            frame = tokio::time::timeout(idle, socket.next()) => match frame {
                Ok(frame) => frame,
                Err(_) => break close(CloseCode::Away, "idle timeout"),
            },
            message = outgoing.next() => {
                // The session drops its sender when it ends (an abort either way), after its last message.
                // A session the peer's message aborted ends with 1008 (the abort message before
                // it says why); any other end is a normal close.
                let Some(message) = message else {
                    break if counts.aborted {
                        close(CloseCode::Policy, "session aborted")
                    } else {
                        close(CloseCode::Normal, "session ended")
                    };
                };
                counts.sent += 1;
                if socket.send(Frame::text(message)).await.is_err() {
                    return "send failed";
                }
                continue;
            }
            _ = shutdown.wait_for(|stop| *stop) => break close(CloseCode::Away, "server shutting down"),
        };
        match frame {
            None => return "peer disconnected",
            Some(Ok(Frame::Text(text))) => {
                counts.received += 1;
                // A failed receive has queued an abort message; it goes out before the close.
                if session.receive(text.as_str()).is_err() {
                    counts.aborted = true;
                    if let Some(suppressed) = stats.peer_error() {
                        warn!(suppressed, "websocket session aborted by its message");
                    }
                }
            }
            Some(Ok(Frame::Binary(_))) => {
                if let Some(suppressed) = stats.refuse(Refusal::BadRequest) {
                    warn!(suppressed, "binary frame refused");
                }
                break close(CloseCode::Unsupported, "cap'n web uses text frames");
            }
            Some(Ok(Frame::Close(_))) => return "peer closed",
            Some(Ok(_)) => {} // ping (answered by tungstenite), pong
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                if let Some(suppressed) = stats.refuse(Refusal::TooLarge) {
                    warn!(size, max_size, suppressed, "message over the size limit");
                }
                break close(CloseCode::Size, "message too large");
            }
            Some(Err(WsError::Utf8(_))) => {
                if let Some(suppressed) = stats.refuse(Refusal::BadRequest) {
                    warn!(suppressed, "text frame is not UTF-8");
                }
                break close(CloseCode::Invalid, "text frame is not utf-8");
            }
            Some(Err(WsError::Protocol(error))) => {
                if let Some(suppressed) = stats.refuse(Refusal::BadRequest) {
                    warn!(%error, suppressed, "websocket protocol violation");
                }
                break close(CloseCode::Protocol, "websocket protocol violation");
            }
            Some(Err(error)) => {
                debug!(%error, "websocket read failed");
                return "read failed";
            }
        }
    };
    // Flush what the session still has to say (e.g. its abort), then close.
    while let Ok(message) = outgoing.try_recv() {
        counts.sent += 1;
        if socket.send(Frame::text(message)).await.is_err() {
            return "send failed";
        }
    }
    // The closing handshake: read (and drop) what the peer still sends until it answers our
    // close. Closing the TCP socket with unread data in it sends a reset, which makes the peer
    // discard our close frame (a flood of pushes lost its 1000 that way); bounded, since a
    // peer may never answer.
    let handshake = async {
        let _ = socket.send(closing).await;
        while let Some(Ok(_)) = socket.next().await {}
    };
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE_TIMEOUT, handshake).await;
    "closed by server"
}
