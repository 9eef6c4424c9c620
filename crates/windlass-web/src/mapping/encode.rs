//! Cap'n Web values into Cap'n Proto structs, by a run-time schema.

use capnp::private::layout::{StructBuilder, StructSize};
use capnp::{any_pointer, any_pointer_list, primitive_list, struct_list};

use super::number;
use super::raw::{PointerMut, RawStruct};
use super::{MapError, MAX_DEPTH};
use crate::schema::{DefaultValue, FieldKind, FieldType, Schema, StructSchema};
use crate::{Caps, Value};

/// The largest list Cap'n Proto can encode (a 29-bit element count).
const MAX_LIST_LEN: usize = (1 << 29) - 1;

/// One encoding pass: the schema, and the session answering for capabilities.
pub(super) struct Encoder<'a> {
    pub(super) schema: &'a Schema,
    pub(super) caps: &'a mut dyn Caps,
}

/// The struct of node `id`, or an error saying the schema lacks it.
pub(super) fn structure(schema: &Schema, id: u64) -> Result<&StructSchema, MapError> {
    schema
        .structure(id)
        .ok_or_else(|| MapError::new(format!("struct {id:#x} is not in the schema")))
}

fn size(s: &StructSchema) -> StructSize {
    StructSize {
        data: s.data_words,
        pointers: s.pointer_count,
    }
}

fn too_deep() -> MapError {
    MapError::new(format!("nested deeper than {MAX_DEPTH} levels"))
}

impl Encoder<'_> {
    /// Writes `fields` as a new struct of node `id` at `out`.
    pub(super) fn write_struct(
        &mut self,
        id: u64,
        fields: &[(String, Value)],
        out: any_pointer::Builder<'_>,
        depth: usize,
    ) -> Result<(), MapError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        let schema = structure(self.schema, id)?;
        let PointerMut(pointer) = out.init_as::<PointerMut<'_>>();
        let builder = pointer.init_struct(size(schema));
        self.write_fields(schema, fields, builder, depth)
    }

    /// Writes `fields` into `builder`, laid out as `schema` (a struct, or a group of it).
    fn write_fields(
        &mut self,
        schema: &StructSchema,
        fields: &[(String, Value)],
        mut builder: StructBuilder<'_>,
        depth: usize,
    ) -> Result<(), MapError> {
        let mut active: Option<&str> = None;
        for (name, value) in fields {
            if *value == Value::Undefined {
                continue;
            }
            let field = schema.field(name).ok_or_else(|| {
                MapError::new(format!("no such field in {}", schema.name)).in_field(name)
            })?;
            if let Some(discriminant) = field.discriminant {
                match active {
                    Some(other) if other != name => {
                        return Err(MapError::new(format!(
                            "`{other}` and `{name}` are members of one union: give one"
                        )));
                    }
                    _ => active = Some(name),
                }
                // A union has a discriminant offset; a schema saying otherwise is broken.
                let offset = schema.discriminant_offset.ok_or_else(|| {
                    MapError::new(format!("{} has union members but no union", schema.name))
                })?;
                builder.set_data_field::<u16>(offset as usize, discriminant);
            }
            self.write_field(&field.kind, value, builder.reborrow(), depth)
                .map_err(|e| e.in_field(name))?;
        }
        Ok(())
    }

    fn write_field(
        &mut self,
        kind: &FieldKind,
        value: &Value,
        builder: StructBuilder<'_>,
        depth: usize,
    ) -> Result<(), MapError> {
        match kind {
            FieldKind::Group(id) => {
                if depth + 1 > MAX_DEPTH {
                    return Err(too_deep());
                }
                let group = structure(self.schema, *id)?;
                match value {
                    Value::Object(fields) => self.write_fields(group, fields, builder, depth + 1),
                    Value::Null => Ok(()),
                    other => Err(MapError::expected("an object", other)),
                }
            }
            FieldKind::Slot { offset, ty, .. } if ty.is_pointer() => {
                let pointer = builder.get_pointer_field(*offset as usize);
                self.write_pointer(ty, value, any_pointer::Builder::new(pointer), depth)
            }
            FieldKind::Slot {
                offset,
                ty,
                default,
                ..
            } => write_data(self.schema, &builder, *offset as usize, ty, default, value),
        }
    }

    /// Writes `value` of type `ty` at the pointer `out`. Null leaves the pointer null, which
    /// reads back as the field's default.
    fn write_pointer(
        &mut self,
        ty: &FieldType,
        value: &Value,
        mut out: any_pointer::Builder<'_>,
        depth: usize,
    ) -> Result<(), MapError> {
        if matches!(value, Value::Null | Value::Undefined) {
            return Ok(());
        }
        match (ty, value) {
            (FieldType::Text, Value::String(s)) => out.set_as::<capnp::text::Owned>(s.as_str())?,
            (FieldType::Text, other) => return Err(MapError::expected("a string", other)),
            (FieldType::Data, Value::Bytes(b)) => out.set_as::<capnp::data::Owned>(&b[..])?,
            (FieldType::Data, other) => return Err(MapError::expected("bytes", other)),
            (FieldType::Struct(id), Value::Object(fields)) => {
                self.write_struct(*id, fields, out, depth + 1)?;
            }
            (FieldType::Struct(_), other) => return Err(MapError::expected("an object", other)),
            (FieldType::Interface(id), Value::Cap(cap)) => {
                let hook = self.caps.to_capnp(*cap, *id).map_err(MapError::new)?;
                out.set_as_capability(hook);
            }
            (FieldType::Interface(_), other) => {
                return Err(MapError::expected("a capability", other));
            }
            (FieldType::List(element), Value::Array(items)) => {
                self.write_list(element, items, out, depth + 1)?;
            }
            (FieldType::List(_), other) => return Err(MapError::expected("an array", other)),
            _ => return Err(MapError::new("AnyPointer is not mappable; only null is")),
        }
        Ok(())
    }

    fn write_list(
        &mut self,
        element: &FieldType,
        items: &[Value],
        out: any_pointer::Builder<'_>,
        depth: usize,
    ) -> Result<(), MapError> {
        if depth > MAX_DEPTH {
            return Err(too_deep());
        }
        if items.len() > MAX_LIST_LEN {
            return Err(MapError::new(format!(
                "a list holds at most {MAX_LIST_LEN} elements"
            )));
        }
        // In range: checked against MAX_LIST_LEN just above.
        let len = items.len() as u32;
        macro_rules! primitives {
            ($t:ty, $convert:expr) => {{
                let mut list = out.initn_as::<primitive_list::Builder<'_, $t>>(len);
                for (i, item) in (0..len).zip(items) {
                    let value: $t = $convert(item).map_err(|e: MapError| e.in_index(i))?;
                    list.set(i, value);
                }
            }};
        }
        let int = |signed, bits| move |v: &Value| number::integer(v, signed, bits);
        match element {
            FieldType::Void => primitives!((), |v: &Value| void(v)),
            FieldType::Bool => primitives!(bool, |v: &Value| boolean(v)),
            FieldType::Int(8) => primitives!(i8, |v| int(true, 8)(v).map(|n| n as i8)),
            FieldType::Int(16) => primitives!(i16, |v| int(true, 16)(v).map(|n| n as i16)),
            FieldType::Int(32) => primitives!(i32, |v| int(true, 32)(v).map(|n| n as i32)),
            FieldType::Int(_) => primitives!(i64, |v| int(true, 64)(v).map(|n| n as i64)),
            FieldType::UInt(8) => primitives!(u8, |v| int(false, 8)(v).map(|n| n as u8)),
            FieldType::UInt(16) => primitives!(u16, |v| int(false, 16)(v).map(|n| n as u16)),
            FieldType::UInt(32) => primitives!(u32, |v| int(false, 32)(v).map(|n| n as u32)),
            FieldType::UInt(_) => primitives!(u64, |v| int(false, 64)(v).map(|n| n as u64)),
            FieldType::Float32 => {
                primitives!(f32, |v| number::float(v, true).map(|f| f as f32))
            }
            FieldType::Float64 => primitives!(f64, |v| number::float(v, false)),
            FieldType::Enum(id) => primitives!(u16, |v| enumerant(self.schema, *id, v)),
            FieldType::Struct(id) => {
                let schema = structure(self.schema, *id)?;
                let PointerMut(mut pointer) = out.init_as::<PointerMut<'_>>();
                // The real size first; `struct_list` then takes the list as it is.
                pointer.reborrow().init_struct_list(len, size(schema));
                let mut list = any_pointer::Builder::new(pointer)
                    .get_as::<struct_list::Builder<'_, RawStruct>>()?;
                for (i, item) in (0..len).zip(items) {
                    let element = list.reborrow().get(i).0;
                    match item {
                        Value::Object(fields) => self.write_fields(schema, fields, element, depth),
                        Value::Null | Value::Undefined => Ok(()),
                        other => Err(MapError::expected("an object", other)),
                    }
                    .map_err(|e| e.in_index(i))?;
                }
            }
            pointer_type => {
                let mut list = out.initn_as::<any_pointer_list::Builder<'_>>(len);
                for (i, item) in (0..len).zip(items) {
                    self.write_pointer(pointer_type, item, list.reborrow().get(i), depth)
                        .map_err(|e| e.in_index(i))?;
                }
            }
        }
        Ok(())
    }
}

fn void(value: &Value) -> Result<(), MapError> {
    match value {
        Value::Null | Value::Undefined => Ok(()),
        other => Err(MapError::expected("null", other)),
    }
}

fn boolean(value: &Value) -> Result<bool, MapError> {
    match value {
        Value::Bool(b) => Ok(*b),
        other => Err(MapError::expected("a boolean", other)),
    }
}

/// An enumerant by name, or by number as C++'s JSON codec also accepts.
fn enumerant(schema: &Schema, id: u64, value: &Value) -> Result<u16, MapError> {
    let enumeration = schema
        .enumeration(id)
        .ok_or_else(|| MapError::new(format!("enum {id:#x} is not in the schema")))?;
    match value {
        Value::String(name) => enumeration.value_of(name).ok_or_else(|| {
            let known = enumeration.enumerants.join(", ");
            MapError::new(format!("unknown enumerant \"{name}\" (one of: {known})"))
        }),
        Value::Number(_) => number::integer(value, false, 16).map(|n| n as u16),
        other => Err(MapError::expected("an enumerant name", other)),
    }
}

/// A data-section field: the value's bits XOR the default's, at the field's width.
fn write_data(
    schema: &Schema,
    builder: &StructBuilder<'_>,
    offset: usize,
    ty: &FieldType,
    default: &DefaultValue,
    value: &Value,
) -> Result<(), MapError> {
    let default = match default {
        DefaultValue::Bits(bits) => *bits,
        _ => 0,
    };
    let (bits, width) = match ty {
        FieldType::Void => return void(value),
        FieldType::Bool => {
            builder.set_bool_field(offset, boolean(value)? ^ (default != 0));
            return Ok(());
        }
        FieldType::Int(w) => (number::to_bits(number::integer(value, true, *w)?, *w), *w),
        FieldType::UInt(w) => (number::to_bits(number::integer(value, false, *w)?, *w), *w),
        FieldType::Float32 => (
            u64::from((number::float(value, true)? as f32).to_bits()),
            32,
        ),
        FieldType::Float64 => (number::float(value, false)?.to_bits(), 64),
        FieldType::Enum(id) => (u64::from(enumerant(schema, *id, value)?), 16),
        _ => return Err(MapError::new("a pointer type in the data section")),
    };
    let bits = bits ^ default;
    // Truncation to the field's width is the point of these casts.
    match width {
        8 => builder.set_data_field::<u8>(offset, bits as u8),
        16 => builder.set_data_field::<u16>(offset, bits as u16),
        32 => builder.set_data_field::<u32>(offset, bits as u32),
        _ => builder.set_data_field::<u64>(offset, bits),
    }
    Ok(())
}
