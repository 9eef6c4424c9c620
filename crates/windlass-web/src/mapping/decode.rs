//! Cap'n Proto structs into Cap'n Web values, by a run-time schema.

use capnp::private::layout::StructReader;
use capnp::{any_pointer, any_pointer_list, primitive_list, struct_list};

use super::encode::structure;
use super::number;
use super::raw::{RawStruct, StructRef};
use super::{MapError, MAX_DEPTH};
use crate::schema::{DefaultValue, Field, FieldKind, FieldType, Schema, StructSchema};
use crate::{Caps, Value};

/// One decoding pass: the schema, and the session taking in capabilities.
pub(super) struct Decoder<'a> {
    pub(super) schema: &'a Schema,
    pub(super) caps: &'a mut dyn Caps,
}

fn too_deep() -> MapError {
    MapError::new(format!("nested deeper than {MAX_DEPTH} levels"))
}

impl Decoder<'_> {
    /// The struct of node `id` at `reader`, as an object.
    pub(super) fn read_struct(
        &mut self,
        id: u64,
        reader: any_pointer::Reader<'_>,
        depth: usize,
    ) -> Result<Value, MapError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let schema = structure(self.schema, id)?;
        let StructRef(s) = reader.get_as::<StructRef<'_>>()?;
        self.read_fields(schema, &s, depth).map(Value::Object)
    }

    /// The struct of node `id` at `reader`, each field a value in the schema's field order;
    /// a union member that is not the active one is `Undefined`.
    pub(super) fn read_positional(
        &mut self,
        id: u64,
        reader: any_pointer::Reader<'_>,
    ) -> Result<Vec<Value>, MapError> {
        let schema = structure(self.schema, id)?;
        let StructRef(s) = reader.get_as::<StructRef<'_>>()?;
        let active = active_member(schema, &s);
        let mut values = Vec::with_capacity(schema.fields.len());
        for field in &schema.fields {
            if field.discriminant.is_some() && field.discriminant != active {
                values.push(Value::Undefined);
                continue;
            }
            values.push(
                self.read_field(field, &s, 0)
                    .map_err(|e| e.in_field(&field.name))?,
            );
        }
        Ok(values)
    }

    /// The fields of `schema` (a struct or a group) in `reader`: every field that is not in
    /// the union, in declaration order, plus the union's active member. A discriminant this
    /// schema does not know (a newer peer's) shows no member, as C++'s JSON codec does.
    fn read_fields(
        &mut self,
        schema: &StructSchema,
        reader: &StructReader<'_>,
        depth: usize,
    ) -> Result<Vec<(String, Value)>, MapError> {
        let active = active_member(schema, reader);
        let mut out = Vec::new();
        for field in schema.fields_in_code_order() {
            if field.discriminant.is_some() && field.discriminant != active {
                continue;
            }
            let value = self
                .read_field(field, reader, depth)
                .map_err(|e| e.in_field(&field.name))?;
            out.push((field.name.clone(), value));
        }
        Ok(out)
    }

    fn read_field(
        &mut self,
        field: &Field,
        reader: &StructReader<'_>,
        depth: usize,
    ) -> Result<Value, MapError> {
        match &field.kind {
            FieldKind::Group(id) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(too_deep());
                }
                let group = structure(self.schema, *id)?;
                self.read_fields(group, reader, depth + 1)
                    .map(Value::Object)
            }
            FieldKind::Slot {
                offset,
                ty,
                default,
                ..
            } if ty.is_pointer() => {
                // Beyond a short (older) struct's pointer section this reads as null.
                let pointer = any_pointer::Reader::new(reader.get_pointer_field(*offset as usize));
                self.read_pointer(ty, default, pointer, depth)
            }
            FieldKind::Slot {
                offset,
                ty,
                default,
                ..
            } => read_data(self.schema, reader, *offset as usize, ty, default),
        }
    }

    /// The value at a pointer. A null pointer is the field's default if the schema gives one,
    /// else `Null` (a null capability included).
    fn read_pointer(
        &mut self,
        ty: &FieldType,
        default: &DefaultValue,
        pointer: any_pointer::Reader<'_>,
        depth: usize,
    ) -> Result<Value, MapError> {
        if pointer.is_null() {
            return match default {
                DefaultValue::Text(t) => Ok(Value::String(t.clone())),
                DefaultValue::Data(d) => Ok(Value::Bytes(d.clone())),
                DefaultValue::Pointer(words) => self.read_default(ty, words, depth),
                _ => Ok(Value::Null),
            };
        }
        Ok(match ty {
            FieldType::Text => {
                let text = pointer.get_as::<capnp::text::Reader<'_>>()?;
                let text = text
                    .to_str()
                    .map_err(|_| MapError::new("text is not valid UTF-8"))?;
                Value::String(text.to_string())
            }
            FieldType::Data => Value::Bytes(pointer.get_as::<capnp::data::Reader<'_>>()?.to_vec()),
            FieldType::Struct(id) => self.read_struct(*id, pointer, depth + 1)?,
            FieldType::Interface(id) => {
                let client = pointer.get_as_capability::<capnp::capability::Client>()?;
                Value::Cap(self.caps.to_web(client.hook, *id))
            }
            FieldType::List(element) => self.read_list(element, pointer, depth + 1)?,
            _ => return Err(MapError::new("AnyPointer is not mappable; only null is")),
        })
    }

    /// A default value kept as a canonical message (its root pointer in word 0).
    fn read_default(
        &mut self,
        ty: &FieldType,
        words: &[capnp::Word],
        depth: usize,
    ) -> Result<Value, MapError> {
        let segments = [capnp::Word::words_to_bytes(words)];
        let message = capnp::message::Reader::new(
            capnp::message::SegmentArray::new(&segments),
            capnp::message::ReaderOptions::new(),
        );
        let root = message.get_root::<any_pointer::Reader<'_>>()?;
        if root.is_null() {
            return Ok(Value::Null);
        }
        self.read_pointer(ty, &DefaultValue::None, root, depth)
    }

    fn read_list(
        &mut self,
        element: &FieldType,
        pointer: any_pointer::Reader<'_>,
        depth: usize,
    ) -> Result<Value, MapError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        macro_rules! primitives {
            ($t:ty, $convert:expr) => {{
                let list = pointer.get_as::<primitive_list::Reader<'_, $t>>()?;
                (0..list.len()).map(|i| $convert(list.get(i))).collect()
            }};
        }
        let int = |bits: u8| move |n: i128| number::int_value(n, bits);
        let items: Vec<Value> = match element {
            FieldType::Void => primitives!((), |()| Value::Null),
            FieldType::Bool => primitives!(bool, Value::Bool),
            FieldType::Int(8) => primitives!(i8, |n| int(8)(i128::from(n))),
            FieldType::Int(16) => primitives!(i16, |n| int(16)(i128::from(n))),
            FieldType::Int(32) => primitives!(i32, |n| int(32)(i128::from(n))),
            FieldType::Int(_) => primitives!(i64, |n| int(64)(i128::from(n))),
            FieldType::UInt(8) => primitives!(u8, |n| int(8)(i128::from(n))),
            FieldType::UInt(16) => primitives!(u16, |n| int(16)(i128::from(n))),
            FieldType::UInt(32) => primitives!(u32, |n| int(32)(i128::from(n))),
            FieldType::UInt(_) => primitives!(u64, |n| int(64)(i128::from(n))),
            FieldType::Float32 => primitives!(f32, |f| Value::Number(f64::from(f))),
            FieldType::Float64 => primitives!(f64, Value::Number),
            FieldType::Enum(id) => {
                let list = pointer.get_as::<primitive_list::Reader<'_, u16>>()?;
                let mut items = Vec::with_capacity(list.len() as usize);
                for i in 0..list.len() {
                    items.push(enumerant(self.schema, *id, list.get(i))?);
                }
                items
            }
            FieldType::Struct(id) => {
                let schema = structure(self.schema, *id)?;
                let list = pointer.get_as::<struct_list::Reader<'_, RawStruct>>()?;
                let mut items = Vec::with_capacity(list.len() as usize);
                for i in 0..list.len() {
                    let StructRef(s) = list.get(i);
                    let fields = self
                        .read_fields(schema, &s, depth)
                        .map_err(|e| e.in_index(i))?;
                    items.push(Value::Object(fields));
                }
                items
            }
            pointer_type => {
                let list = pointer.get_as::<any_pointer_list::Reader<'_>>()?;
                let mut items = Vec::with_capacity(list.len() as usize);
                for i in 0..list.len() {
                    let item = self
                        .read_pointer(pointer_type, &DefaultValue::None, list.get(i), depth)
                        .map_err(|e| e.in_index(i))?;
                    items.push(item);
                }
                items
            }
        };
        Ok(Value::Array(items))
    }
}

/// The discriminant of the union in `reader`, if `schema` has a union.
fn active_member(schema: &StructSchema, reader: &StructReader<'_>) -> Option<u16> {
    let offset = schema.discriminant_offset?;
    Some(reader.get_data_field::<u16>(offset as usize))
}

/// An enumerant's name, or its number when this schema has no name for it (a newer peer's).
fn enumerant(schema: &Schema, id: u64, value: u16) -> Result<Value, MapError> {
    let enumeration = schema
        .enumeration(id)
        .ok_or_else(|| MapError::new(format!("enum {id:#x} is not in the schema")))?;
    Ok(match enumeration.name_of(value) {
        Some(name) => Value::String(name.to_string()),
        None => Value::Number(f64::from(value)),
    })
}

/// A data-section field: the stored bits XOR the default's. Offsets beyond a short (older)
/// struct's data section read as zero, so as the default.
fn read_data(
    schema: &Schema,
    reader: &StructReader<'_>,
    offset: usize,
    ty: &FieldType,
    default: &DefaultValue,
) -> Result<Value, MapError> {
    let default = match default {
        DefaultValue::Bits(bits) => *bits,
        _ => 0,
    };
    // Truncating the default to the field's width is intended: it was widened from it.
    Ok(match ty {
        FieldType::Void => Value::Null,
        FieldType::Bool => Value::Bool(reader.get_bool_field(offset) ^ (default != 0)),
        FieldType::Int(w) | FieldType::UInt(w) => {
            let raw = raw_bits(reader, offset, *w) ^ default;
            let signed = matches!(ty, FieldType::Int(_));
            number::int_value(number::from_bits(raw, signed, *w), *w)
        }
        FieldType::Float32 => {
            let raw = reader.get_data_field::<u32>(offset) ^ default as u32;
            Value::Number(f64::from(f32::from_bits(raw)))
        }
        FieldType::Float64 => Value::Number(f64::from_bits(
            reader.get_data_field::<u64>(offset) ^ default,
        )),
        FieldType::Enum(id) => {
            let raw = reader.get_data_field::<u16>(offset) ^ default as u16;
            enumerant(schema, *id, raw)?
        }
        _ => return Err(MapError::new("a pointer type in the data section")),
    })
}

fn raw_bits(reader: &StructReader<'_>, offset: usize, width: u8) -> u64 {
    match width {
        8 => u64::from(reader.get_data_field::<u8>(offset)),
        16 => u64::from(reader.get_data_field::<u16>(offset)),
        32 => u64::from(reader.get_data_field::<u32>(offset)),
        _ => reader.get_data_field::<u64>(offset),
    }
}
