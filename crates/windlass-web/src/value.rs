//! The values a Cap'n Web session and the schema mapping hand each other.
//!
//! The protocol layer decodes a message's expressions into [`Value`]s (and back); the mapping
//! turns a [`Value`] into a Cap'n Proto struct by its schema (and back). Capabilities are
//! opaque [`CapId`]s here: only the session knows what a handle stands for, so the mapping asks
//! it through [`Caps`] whenever a schema field holds an interface.

use capnp::private::capability::ClientHook;

/// A session's handle on a capability inside a [`Value`]: an import of the client's (a stub or a
/// function it passed), a promise the session is resolving, or one of the session's exports.
/// The number means nothing outside the session that made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapId(pub u64);

/// A Cap'n Web value: JSON, plus the types Cap'n Web escapes (`undefined`, bigint, bytes, dates,
/// errors) and capabilities.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// JSON `null` (Cap'n Proto `Void`).
    Null,
    /// `["undefined"]`.
    Undefined,
    /// A boolean.
    Bool(bool),
    /// A JSON number.
    Number(f64),
    /// `["bigint", "123"]` (Cap'n Proto `Int64` / `UInt64`).
    BigInt(i128),
    /// A string (Cap'n Proto `Text`).
    String(String),
    /// `["bytes", "<base64>"]` (Cap'n Proto `Data`).
    Bytes(Vec<u8>),
    /// `["date", millis]`.
    Date(f64),
    /// An array (Cap'n Proto `List`).
    Array(Vec<Value>),
    /// An object, fields in the order they were written (Cap'n Proto structs and unions).
    Object(Vec<(String, Value)>),
    /// `["error", type, message]`.
    Error {
        /// The JavaScript error class name (`Error`, `TypeError`, …).
        kind: String,
        /// The message.
        message: String,
    },
    /// A capability (a stub, a function or a promise of one).
    Cap(CapId),
}

impl Value {
    /// The field `name` of an object, if this is an object that has it.
    pub fn field(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(fields) => fields.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the value's type for error messages (`"string"`, `"object"`, …).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Undefined => "undefined",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::BigInt(_) => "bigint",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "date",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
            Value::Error { .. } => "error",
            Value::Cap(_) => "capability",
        }
    }
}

/// What the mapping asks the session when a schema field holds a capability.
pub trait Caps {
    /// Cap'n Web → Cap'n Proto: the capability behind `cap`, as a Cap'n Proto client of the
    /// interface `interface_id` (the field's type in the schema). For a client's function passed
    /// where a single-method interface is expected, the session answers with a local server
    /// that calls the function back.
    ///
    /// # Errors
    /// A message naming the problem when `cap` is unknown or cannot stand for that interface.
    fn to_capnp(&mut self, cap: CapId, interface_id: u64) -> Result<Box<dyn ClientHook>, String>;

    /// Cap'n Proto → Cap'n Web: a capability found in a result (of interface `interface_id`),
    /// as a new handle of the session's, which it will send as an export.
    fn to_web(&mut self, hook: Box<dyn ClientHook>, interface_id: u64) -> CapId;
}
