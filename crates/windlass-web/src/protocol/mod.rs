//! The Cap'n Web wire protocol (Cloudflare's `capnweb` 0.12), pure: text in, messages out, and
//! the id and refcount rules of a session's tables. No I/O happens here; the session layer
//! feeds it WebSocket frames and HTTP batch bodies.
//!
//! - [`Message`] / [`Expr`]: the JSON forms, read strictly and written as capnweb reads them;
//! - [`parse_batch`] / [`write_batch`]: the newline-delimited HTTP batch framing;
//! - [`Limits`]: size, nesting and table bounds, checked before the work they bound;
//! - [`ExportTable`] / [`ImportTable`]: ids and refcounts, from the server's side;
//! - [`ProtocolError`]: everything a peer can get wrong.

mod encode;
mod error;
mod expr;
mod limits;
mod message;
mod tables;

pub use error::ProtocolError;
pub use expr::{Capture, Expr, PathKey};
pub use limits::{Limits, MAX_SUPPORTED_DEPTH};
pub use message::{parse_batch, write_batch, Message};
pub use tables::{ExportTable, ImportTable};
