//! What the worker's connection tasks share, and the plain-text responses both the HTTP and the
//! WebSocket paths send: a file of its own so that neither imports the other for them.

use std::rc::Rc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use tokio::sync::watch;

use super::{WebOptions, WebService};
use crate::schema::Schema;

/// The body of every response this listener writes.
pub(super) type Body = Full<Bytes>;

/// What every connection task on the worker shares.
pub(super) struct WorkerContext {
    pub(super) service: WebService,
    pub(super) schema: Rc<Schema>,
    pub(super) options: WebOptions,
    /// Becomes `true` when the server shuts down.
    pub(super) shutdown: watch::Receiver<bool>,
}

/// A response of `status` with a short plain-text explanation.
pub(super) fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
}
