//! Cap'n Web for windlass: any Cap'n Proto interface, served to stock Cap'n Web clients
//! (Cloudflare's `capnweb`) over WebSocket and HTTP batch, mapped by its schema at run time.
//!
//! The crate sits above the `windlass` library; the library has no web dependencies.
//! See `docs/web.md` for the mapping rules.

mod mapping;
mod schema;
mod serve;
mod session;
mod value;

pub mod protocol;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;

pub use serve::{
    serve, BootstrapFactory, Refusal, RequestInfo, ServeError, SessionCounts, Transport,
    WebOptions, WebService, WebStats, CAPNWEB_PATH, DEFAULT_BATCH_TIMEOUT,
    DEFAULT_HANDSHAKE_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_TABLE_ENTRIES,
    DEFAULT_SHUTDOWN_GRACE,
};
pub use value::{CapId, Caps, Value};
