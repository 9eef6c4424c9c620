//! Cap'n Web for windlass: any Cap'n Proto interface, served to stock Cap'n Web clients
//! (Cloudflare's `capnweb`) over WebSocket and HTTP batch, mapped by its schema at run time.
//!
//! The crate sits above the `windlass` library; the library has no web dependencies.
//! See `docs/web.md` for the mapping rules.

mod serve;
mod session;
mod value;

pub mod protocol;

// The session's first run-time schema and mapping (session/stand_in/): complete enough for the
// tests against the real capnweb client, but field default values are not applied and lists of
// capabilities or of lists cannot be read. Fuller modules replace them (see docs/web.md).
#[path = "session/stand_in/mapping.rs"]
mod mapping;
#[path = "session/stand_in/schema.rs"]
mod schema;

pub use serve::{
    serve, BootstrapFactory, RequestInfo, ServeError, Transport, WebOptions, WebService,
    CAPNWEB_PATH, DEFAULT_BATCH_TIMEOUT, DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_TABLE_ENTRIES,
    DEFAULT_SHUTDOWN_GRACE,
};
pub use value::{CapId, Caps, Value};
