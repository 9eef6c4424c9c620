//! What can be wrong with what a Cap'n Web peer sent.
//!
//! Every variant is the peer's fault (or a limit it hit), so the session's answer to any of them
//! is the same: send `["abort", error]` and close. The variants exist so the abort message and the
//! `warn!` say precisely what was wrong.

/// A Cap'n Web message, expression or table operation the peer got wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolError {
    /// The text exceeds [`Limits::max_message_bytes`](super::Limits::max_message_bytes).
    #[error("message of {size} bytes exceeds the limit of {max}")]
    MessageTooLarge {
        /// The message's length in bytes.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Arrays and objects nest deeper than [`Limits::max_depth`](super::Limits::max_depth).
    #[error("message nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// An array, object, path or argument list is longer than
    /// [`Limits::max_array_len`](super::Limits::max_array_len).
    #[error("{what} of {len} elements exceeds the limit of {max}")]
    TooLong {
        /// What was too long (`"array"`, `"object"`, `"property path"`, ...).
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The text is not JSON.
    #[error("message is not valid JSON")]
    Json(#[source] serde_json::Error),
    /// The message is JSON but not an array.
    #[error("message is not a JSON array")]
    NotAnArray,
    /// The message's first element is missing or not a string.
    #[error("message type is not a string")]
    MissingType,
    /// The message's type is not one Cap'n Web defines.
    #[error("unknown message type `{0}`")]
    UnknownMessage(String),
    /// A message or expression has the wrong number of elements.
    #[error("`{tag}` has {got} elements, expected {expected}")]
    WrongArity {
        /// The message or expression type.
        tag: &'static str,
        /// How many elements it had, the type included.
        got: usize,
        /// What Cap'n Web sends, e.g. `"2"` or `"2 to 4"`.
        expected: &'static str,
    },
    /// An id is not an integer, or outside the ±2^53 JavaScript can represent exactly.
    #[error("`{tag}` id is not an integer within ±2^53")]
    BadId {
        /// The message or expression type holding the id.
        tag: &'static str,
    },
    /// A `release` count is not an integer from 1 to 2^32 - 1.
    #[error("`release` refcount is not an integer from 1 to 4294967295")]
    BadRefcount,
    /// An expression array starts with a string that is not an expression type.
    #[error("unknown expression type `{0}`")]
    UnknownExpression(String),
    /// An expression type capnweb defines that this server cannot accept (streams, blobs,
    /// `Request`/`Response`, URLs, headers).
    #[error("expression type `{0}` is not supported")]
    UnsupportedExpression(&'static str),
    /// An expression has the right type tag but a bad operand.
    #[error("malformed `{tag}` expression: {problem}")]
    MalformedExpression {
        /// The expression type.
        tag: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A `bytes` payload is not base64.
    #[error("`bytes` payload is not valid base64")]
    Base64(#[source] base64::DecodeError),
    /// A batch body holds more messages than
    /// [`Limits::max_batch_messages`](super::Limits::max_batch_messages).
    #[error("batch of more than {max} messages")]
    BatchTooLong {
        /// The limit.
        max: usize,
    },
    /// One line of a batch body is bad.
    #[error("invalid message on batch line {line}")]
    BatchLine {
        /// The line, counting from 1.
        line: usize,
        /// What is wrong with it.
        #[source]
        source: Box<ProtocolError>,
    },
    /// The peer referred to an entry of our export table that does not exist (never created, or
    /// already released).
    #[error("unknown export id {0}")]
    UnknownExport(i64),
    /// An entry of our import table that does not exist.
    #[error("unknown import id {0}")]
    UnknownImport(i64),
    /// `release` of more references than the entry holds.
    #[error("release of {released} references to export {id}, which holds {held}")]
    ReleaseTooMany {
        /// The export id.
        id: i64,
        /// The references the entry held.
        held: u64,
        /// The references the peer released.
        released: u32,
    },
    /// A table reached its entry limit: the peer keeps creating entries without releasing them.
    #[error("{table} table is full ({max} entries)")]
    TableFull {
        /// `"export"` or `"import"`.
        table: &'static str,
        /// The limit.
        max: usize,
    },
    /// The peer introduced an id with the wrong sign: ids the exporter chooses are negative.
    #[error("export id {0} chosen by the peer is not negative")]
    NotNegative(i64),
    /// The peer sent `["promise", id]` with an id it had already introduced.
    #[error("promise id {0} is already in use")]
    PromiseIdReused(i64),
    /// The session used up the 2^53 ids JavaScript can count to.
    #[error("{table} ids exhausted")]
    IdsExhausted {
        /// `"export"` or `"import"`.
        table: &'static str,
    },
    /// A reference count passed 2^64 - 1.
    #[error("refcount of id {0} overflowed")]
    RefcountOverflow(i64),
}
