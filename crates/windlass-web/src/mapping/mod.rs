//! The JSON-ish mapping between Cap'n Web values and Cap'n Proto structs, by a run-time
//! [`Schema`](crate::schema::Schema). It follows C++'s `capnp/compat/json.h` where that is
//! open:
//!
//! | Cap'n Proto            | Cap'n Web value                                              |
//! |------------------------|--------------------------------------------------------------|
//! | struct                 | object of its fields (schema names)                          |
//! | union                  | the active member only; naming two is an error, none = default |
//! | group                  | nested object                                                |
//! | enum                   | enumerant name (a number also encodes; unnamed decodes as one) |
//! | `List(T)`              | array                                                        |
//! | `Text` / `Data`        | string / bytes                                               |
//! | `Int64` / `UInt64`     | bigint (a number within ±2^53 also encodes)                  |
//! | other ints, floats     | number, range- and integrality-checked                       |
//! | `Bool` / `Void`        | boolean / null                                               |
//! | interface              | capability, through [`Caps`]; null ↔ a null pointer          |
//! | `AnyPointer`, generics | not mappable: only null                                      |
//!
//! Encoding: an `undefined` field is absent; `null` in a pointer field leaves it null, which
//! reads back as the field's default. Decoding: a null pointer is its schema default if there
//! is one, else `null`.

mod decode;
mod encode;
mod error;
mod number;
mod raw;
#[cfg(test)]
mod tests;

pub(crate) use error::MapError;

use capnp::any_pointer;

use crate::schema::Schema;
use crate::{Caps, Value};

/// How deep structs, groups and lists may nest in one value, either way: hostile input must
/// not overflow the stack. 64 is capnp's own default reader nesting limit.
pub(crate) const MAX_DEPTH: usize = 64;

/// Writes a method's params struct `struct_id` at `out` from positional `args`: argument `i`
/// is the `i`-th field in ordinal order. Missing (or `undefined`) arguments keep their
/// defaults.
///
/// # Errors
/// More arguments than fields, or any argument that does not fit its field (the message
/// names the field path).
pub(crate) fn encode_args(
    schema: &Schema,
    struct_id: u64,
    args: &[Value],
    out: any_pointer::Builder<'_>,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let params = encode::structure(schema, struct_id)?;
    if args.len() > params.fields.len() {
        return Err(MapError::new(format!(
            "expected at most {} argument(s), got {}",
            params.fields.len(),
            args.len()
        )));
    }
    let named: Vec<(String, Value)> = params
        .fields
        .iter()
        .zip(args)
        .map(|(field, arg)| (field.name.clone(), arg.clone()))
        .collect();
    encode::Encoder { schema, caps }.write_struct(struct_id, &named, out, 0)
}

/// Writes the object `obj` as a struct `struct_id` at `out`.
///
/// # Errors
/// `obj` is not an object, names a field the struct lacks, or has a value that does not fit
/// its field (the message names the field path).
pub(crate) fn encode_object(
    schema: &Schema,
    struct_id: u64,
    obj: &Value,
    out: any_pointer::Builder<'_>,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let Value::Object(fields) = obj else {
        return Err(MapError::expected("an object", obj));
    };
    encode::Encoder { schema, caps }.write_struct(struct_id, fields, out, 0)
}

/// Reads the struct `struct_id` at `reader` (a results struct, say) as an object.
///
/// # Errors
/// The message is malformed, holds a non-null `AnyPointer`, or nests deeper than
/// [`MAX_DEPTH`].
pub(crate) fn decode_object(
    schema: &Schema,
    struct_id: u64,
    reader: any_pointer::Reader<'_>,
    caps: &mut dyn Caps,
) -> Result<Value, MapError> {
    decode::Decoder { schema, caps }.read_struct(struct_id, reader, 0)
}

/// Reads a params struct `struct_id` at `reader` as positional arguments (field `i` in
/// ordinal order is argument `i`), for a server calling back a client's function. A union
/// member that is not the active one is `undefined`.
///
/// # Errors
/// As [`decode_object`].
pub(crate) fn decode_args(
    schema: &Schema,
    struct_id: u64,
    reader: any_pointer::Reader<'_>,
    caps: &mut dyn Caps,
) -> Result<Vec<Value>, MapError> {
    decode::Decoder { schema, caps }.read_positional(struct_id, reader)
}
