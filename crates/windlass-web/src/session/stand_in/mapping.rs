//! STAND-IN for `src/mapping/` (another helper's module, not yet in the tree): values to Cap'n
//! Proto structs and back, by the schema, through capnp's untyped layout API. Default values of
//! fields are not applied (every field reads and writes as if its default were zero).

// A stand-in: public like the module it stands for; not every item is used yet.
#![allow(unreachable_pub, dead_code)]

use capnp::any_pointer;
use capnp::private::layout::{
    PointerBuilder, PointerReader, StructBuilder, StructReader, StructSize,
};
use capnp::traits::{FromPointerBuilder, FromPointerReader};
use capnp::{data_list, primitive_list, struct_list, text_list};

use super::schema::{FieldKind, FieldType, MapError, Schema, Struct};
use crate::{Caps, Value};

/// Writes `args` (positional, in declaration order) into a new struct `struct_id` at `builder`.
///
/// # Errors
/// More arguments than fields, or a value that does not fit its field.
pub fn encode_args(
    schema: &Schema,
    struct_id: u64,
    args: &[Value],
    builder: any_pointer::Builder<'_>,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let s = schema.structure(struct_id)?;
    let fields: Vec<_> = s
        .fields
        .iter()
        .filter(|f| f.discriminant.is_none())
        .collect();
    if args.len() > fields.len() {
        return Err(MapError::new(format!(
            "takes {} argument(s), got {}",
            fields.len(),
            args.len()
        )));
    }
    let mut sb = init_struct(builder, s)?;
    for (field, value) in fields.iter().zip(args) {
        write_field(schema, &mut sb, &field.kind, value, caps)
            .map_err(|e| within(&field.name, e))?;
    }
    Ok(())
}

/// Writes the object `value` into a new struct `struct_id` at `builder`.
///
/// # Errors
/// Unknown fields, or values that do not fit.
pub fn encode_object(
    schema: &Schema,
    struct_id: u64,
    value: &Value,
    builder: any_pointer::Builder<'_>,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let s = schema.structure(struct_id)?;
    let mut sb = init_struct(builder, s)?;
    write_struct(schema, &mut sb, struct_id, value, caps)
}

/// Reads struct `struct_id` at `reader` as an object.
///
/// # Errors
/// A malformed message.
pub fn decode_object(
    schema: &Schema,
    struct_id: u64,
    reader: any_pointer::Reader<'_>,
    caps: &mut dyn Caps,
) -> Result<Value, MapError> {
    let raw: RawReader<'_> = reader.get_as()?;
    let sr = raw.0.get_struct(None)?;
    read_struct(schema, &sr, struct_id, caps)
}

/// Reads struct `struct_id` at `reader` as positional arguments (its fields in order).
///
/// # Errors
/// A malformed message.
pub fn decode_args(
    schema: &Schema,
    struct_id: u64,
    reader: any_pointer::Reader<'_>,
    caps: &mut dyn Caps,
) -> Result<Vec<Value>, MapError> {
    match decode_object(schema, struct_id, reader, caps)? {
        Value::Object(fields) => Ok(fields.into_iter().map(|(_, v)| v).collect()),
        _ => Ok(Vec::new()),
    }
}

fn within(name: &str, error: MapError) -> MapError {
    MapError::new(format!("{name}: {}", error.0))
}

struct RawBuilder<'a>(PointerBuilder<'a>);

impl<'a> FromPointerBuilder<'a> for RawBuilder<'a> {
    fn init_pointer(builder: PointerBuilder<'a>, _len: u32) -> Self {
        Self(builder)
    }
    fn get_from_pointer(
        builder: PointerBuilder<'a>,
        _default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(Self(builder))
    }
}

struct RawReader<'a>(PointerReader<'a>);

impl<'a> FromPointerReader<'a> for RawReader<'a> {
    fn get_from_pointer(
        reader: &PointerReader<'a>,
        _default: Option<&'a [capnp::Word]>,
    ) -> capnp::Result<Self> {
        Ok(Self(*reader))
    }
}

fn size(s: &Struct) -> StructSize {
    StructSize {
        data: s.data_words,
        pointers: s.pointers,
    }
}

fn init_struct<'a>(
    builder: any_pointer::Builder<'a>,
    s: &Struct,
) -> Result<StructBuilder<'a>, MapError> {
    let raw: RawBuilder<'a> = builder.init_as();
    Ok(raw.0.init_struct(size(s)))
}

fn write_struct(
    schema: &Schema,
    sb: &mut StructBuilder<'_>,
    struct_id: u64,
    value: &Value,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let s = schema.structure(struct_id)?;
    let Value::Object(entries) = value else {
        return Err(MapError::new(format!(
            "expected an object for {}, got {}",
            s.name,
            value.type_name()
        )));
    };
    let mut union_member = None;
    for (name, v) in entries {
        if matches!(v, Value::Undefined) {
            continue;
        }
        let field = s.fields.iter().find(|f| &f.name == name).ok_or_else(|| {
            let known: Vec<_> = s.fields.iter().map(|f| f.name.as_str()).collect();
            MapError::new(format!(
                "no field `{name}` in {} (fields: {})",
                s.name,
                known.join(", ")
            ))
        })?;
        if let (Some(discriminant), Some(offset)) = (field.discriminant, s.discriminant_offset) {
            if let Some(other) = union_member.replace(name) {
                return Err(MapError::new(format!(
                    "`{other}` and `{name}` are members of one union"
                )));
            }
            sb.set_data_field::<u16>(offset as usize, discriminant);
        }
        write_field(schema, sb, &field.kind, v, caps).map_err(|e| within(name, e))?;
    }
    Ok(())
}

fn number(value: &Value) -> Result<f64, MapError> {
    match value {
        Value::Number(n) => Ok(*n),
        Value::BigInt(n) => Ok(*n as f64),
        Value::Null => Ok(0.0),
        other => Err(MapError::new(format!(
            "expected a number, got {}",
            other.type_name()
        ))),
    }
}

fn integer(value: &Value, signed: bool, bits: u8) -> Result<i128, MapError> {
    let n = match value {
        Value::BigInt(n) => *n,
        other => {
            let f = number(other)?;
            if f.fract() != 0.0 || !f.is_finite() {
                return Err(MapError::new(format!("expected an integer, got {f}")));
            }
            f as i128
        }
    };
    let (min, max) = if signed {
        (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
    } else {
        (0, (1i128 << bits) - 1)
    };
    if n < min || n > max {
        return Err(MapError::new(format!(
            "{n} is out of range for {}{bits}",
            if signed { "Int" } else { "UInt" }
        )));
    }
    Ok(n)
}

fn enum_value(schema: &Schema, id: u64, value: &Value) -> Result<u16, MapError> {
    let (name, enumerants) = schema.enumerants(id)?;
    match value {
        Value::String(s) => enumerants
            .iter()
            .position(|e| e == s)
            .map(|i| i as u16)
            .ok_or_else(|| {
                MapError::new(format!(
                    "unknown {name} `{s}` (known: {})",
                    enumerants.join(", ")
                ))
            }),
        other => Ok(integer(other, false, 16)? as u16),
    }
}

fn write_field(
    schema: &Schema,
    sb: &mut StructBuilder<'_>,
    kind: &FieldKind,
    value: &Value,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let (offset, ty) = match kind {
        FieldKind::Group(group) => return write_struct(schema, sb, *group, value, caps),
        FieldKind::Slot { offset, ty } => (*offset as usize, ty),
    };
    match ty {
        FieldType::Void => {}
        FieldType::Bool => match value {
            Value::Bool(b) => sb.set_bool_field(offset, *b),
            other => {
                return Err(MapError::new(format!(
                    "expected a boolean, got {}",
                    other.type_name()
                )))
            }
        },
        FieldType::Int(bits) => {
            let n = integer(value, true, *bits)?;
            match bits {
                8 => sb.set_data_field::<i8>(offset, n as i8),
                16 => sb.set_data_field::<i16>(offset, n as i16),
                32 => sb.set_data_field::<i32>(offset, n as i32),
                _ => sb.set_data_field::<i64>(offset, n as i64),
            }
        }
        FieldType::UInt(bits) => {
            let n = integer(value, false, *bits)?;
            match bits {
                8 => sb.set_data_field::<u8>(offset, n as u8),
                16 => sb.set_data_field::<u16>(offset, n as u16),
                32 => sb.set_data_field::<u32>(offset, n as u32),
                _ => sb.set_data_field::<u64>(offset, n as u64),
            }
        }
        FieldType::Float32 => sb.set_data_field::<f32>(offset, number(value)? as f32),
        FieldType::Float64 => sb.set_data_field::<f64>(offset, number(value)?),
        FieldType::Enum(id) => sb.set_data_field::<u16>(offset, enum_value(schema, *id, value)?),
        _ => write_pointer(
            schema,
            sb.reborrow().get_pointer_field(offset),
            ty,
            value,
            caps,
        )?,
    }
    Ok(())
}

fn write_pointer(
    schema: &Schema,
    mut pb: PointerBuilder<'_>,
    ty: &FieldType,
    value: &Value,
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    if matches!(value, Value::Null) {
        return Ok(());
    }
    let mismatch =
        |want: &str| MapError::new(format!("expected {want}, got {}", value.type_name()));
    match ty {
        FieldType::Text => match value {
            Value::String(s) => pb.set_text(s.as_str().into()),
            _ => return Err(mismatch("a string")),
        },
        FieldType::Data => match value {
            Value::Bytes(b) => pb.set_data(b),
            _ => return Err(mismatch("bytes")),
        },
        FieldType::Struct(id) => {
            let s = schema.structure(*id)?;
            let mut sb = pb.init_struct(size(s));
            write_struct(schema, &mut sb, *id, value, caps)?;
        }
        FieldType::Interface(id) => match value {
            Value::Cap(cap) => pb.set_capability(caps.to_capnp(*cap, *id).map_err(MapError::new)?),
            _ => return Err(mismatch("a capability (a stub or a function)")),
        },
        FieldType::List(element) => {
            let Value::Array(items) = value else {
                return Err(mismatch("an array"));
            };
            write_list(schema, pb, element, items, caps)?;
        }
        _ => return Err(MapError::new("AnyPointer fields are not mapped")),
    }
    Ok(())
}

fn write_list(
    schema: &Schema,
    pb: PointerBuilder<'_>,
    element: &FieldType,
    items: &[Value],
    caps: &mut dyn Caps,
) -> Result<(), MapError> {
    let n = u32::try_from(items.len()).map_err(|_| MapError::new("list too long"))?;
    macro_rules! primitives {
        ($t:ty, $convert:expr) => {{
            let mut list = primitive_list::Builder::<$t>::init_pointer(pb, n);
            for (i, item) in items.iter().enumerate() {
                let convert: &dyn Fn(&Value) -> Result<$t, MapError> = &$convert;
                list.set(
                    i as u32,
                    convert(item).map_err(|e| within(&format!("[{i}]"), e))?,
                );
            }
        }};
    }
    match element {
        FieldType::Void => primitives!((), |_| Ok(())),
        FieldType::Bool => primitives!(bool, |v| match v {
            Value::Bool(b) => Ok(*b),
            other => Err(MapError::new(format!(
                "expected a boolean, got {}",
                other.type_name()
            ))),
        }),
        FieldType::Int(8) => primitives!(i8, |v| Ok(integer(v, true, 8)? as i8)),
        FieldType::Int(16) => primitives!(i16, |v| Ok(integer(v, true, 16)? as i16)),
        FieldType::Int(32) => primitives!(i32, |v| Ok(integer(v, true, 32)? as i32)),
        FieldType::Int(_) => primitives!(i64, |v| Ok(integer(v, true, 64)? as i64)),
        FieldType::UInt(8) => primitives!(u8, |v| Ok(integer(v, false, 8)? as u8)),
        FieldType::UInt(16) => primitives!(u16, |v| Ok(integer(v, false, 16)? as u16)),
        FieldType::UInt(32) => primitives!(u32, |v| Ok(integer(v, false, 32)? as u32)),
        FieldType::UInt(_) => primitives!(u64, |v| Ok(integer(v, false, 64)? as u64)),
        FieldType::Float32 => primitives!(f32, |v| Ok(number(v)? as f32)),
        FieldType::Float64 => primitives!(f64, number),
        FieldType::Enum(id) => primitives!(u16, |v| enum_value(schema, *id, v)),
        FieldType::Text => {
            let mut list = text_list::Builder::init_pointer(pb, n);
            for (i, item) in items.iter().enumerate() {
                let Value::String(s) = item else {
                    return Err(MapError::new(format!("[{i}]: expected a string")));
                };
                list.set(i as u32, capnp::text::Reader::from(s.as_str()));
            }
        }
        FieldType::Data => {
            let mut list = data_list::Builder::init_pointer(pb, n);
            for (i, item) in items.iter().enumerate() {
                let Value::Bytes(b) = item else {
                    return Err(MapError::new(format!("[{i}]: expected bytes")));
                };
                list.set(i as u32, b);
            }
        }
        FieldType::Struct(id) => {
            let s = schema.structure(*id)?;
            let mut pb = pb;
            let _ = pb.reborrow().init_struct_list(n, size(s));
            let mut list = struct_list::Builder::<RawStruct>::get_from_pointer(pb, None)?;
            for (i, item) in items.iter().enumerate() {
                let mut element = list.reborrow().get(i as u32);
                write_struct(schema, &mut element.0, *id, item, caps)
                    .map_err(|e| within(&format!("[{i}]"), e))?;
            }
        }
        _ => {
            // Lists of capabilities and of lists: pointer elements.
            let mut raw = RawList::init(pb, n);
            for (i, item) in items.iter().enumerate() {
                write_pointer(schema, raw.element(i as u32), element, item, caps)
                    .map_err(|e| within(&format!("[{i}]"), e))?;
            }
        }
    }
    Ok(())
}

fn read_struct(
    schema: &Schema,
    sr: &StructReader<'_>,
    struct_id: u64,
    caps: &mut dyn Caps,
) -> Result<Value, MapError> {
    let s = schema.structure(struct_id)?;
    let active = s
        .discriminant_offset
        .map(|offset| sr.get_data_field::<u16>(offset as usize));
    let mut fields = Vec::new();
    for field in &s.fields {
        if field.discriminant.is_some() && field.discriminant != active {
            continue;
        }
        let value = match &field.kind {
            FieldKind::Group(group) => read_struct(schema, sr, *group, caps)?,
            FieldKind::Slot { offset, ty } => read_slot(schema, sr, *offset as usize, ty, caps)?,
        };
        fields.push((field.name.clone(), value));
    }
    Ok(Value::Object(fields))
}

fn read_slot(
    schema: &Schema,
    sr: &StructReader<'_>,
    offset: usize,
    ty: &FieldType,
    caps: &mut dyn Caps,
) -> Result<Value, MapError> {
    Ok(match ty {
        FieldType::Void => Value::Null,
        FieldType::Bool => Value::Bool(sr.get_bool_field(offset)),
        FieldType::Int(8) => Value::Number(sr.get_data_field::<i8>(offset).into()),
        FieldType::Int(16) => Value::Number(sr.get_data_field::<i16>(offset).into()),
        FieldType::Int(32) => Value::Number(sr.get_data_field::<i32>(offset).into()),
        FieldType::Int(_) => Value::BigInt(sr.get_data_field::<i64>(offset).into()),
        FieldType::UInt(8) => Value::Number(sr.get_data_field::<u8>(offset).into()),
        FieldType::UInt(16) => Value::Number(sr.get_data_field::<u16>(offset).into()),
        FieldType::UInt(32) => Value::Number(sr.get_data_field::<u32>(offset).into()),
        FieldType::UInt(_) => Value::BigInt(sr.get_data_field::<u64>(offset).into()),
        FieldType::Float32 => Value::Number(sr.get_data_field::<f32>(offset).into()),
        FieldType::Float64 => Value::Number(sr.get_data_field::<f64>(offset)),
        FieldType::Enum(id) => enum_name(schema, *id, sr.get_data_field::<u16>(offset))?,
        _ => read_pointer(schema, sr.get_pointer_field(offset), ty, caps)?,
    })
}

fn enum_name(schema: &Schema, id: u64, n: u16) -> Result<Value, MapError> {
    let (_, enumerants) = schema.enumerants(id)?;
    Ok(enumerants
        .get(n as usize)
        .map_or(Value::Number(n.into()), |e| Value::String(e.clone())))
}

fn read_pointer(
    schema: &Schema,
    pr: PointerReader<'_>,
    ty: &FieldType,
    caps: &mut dyn Caps,
) -> Result<Value, MapError> {
    if pr.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty {
        FieldType::Text => Value::String(pr.get_text(None)?.to_string()?),
        FieldType::Data => Value::Bytes(pr.get_data(None)?.to_vec()),
        FieldType::Struct(id) => read_struct(schema, &pr.get_struct(None)?, *id, caps)?,
        FieldType::Interface(id) => Value::Cap(caps.to_web(pr.get_capability()?, *id)),
        FieldType::List(element) => read_list(schema, pr, element, caps)?,
        _ => return Err(MapError::new("AnyPointer fields are not mapped")),
    })
}

fn read_list(
    schema: &Schema,
    pr: PointerReader<'_>,
    element: &FieldType,
    caps: &mut dyn Caps,
) -> Result<Value, MapError> {
    macro_rules! primitives {
        ($t:ty, $wrap:expr) => {{
            let list = primitive_list::Reader::<$t>::get_from_pointer(&pr, None)?;
            let wrap: &dyn Fn($t) -> Value = &$wrap;
            list.iter().map(wrap).collect()
        }};
    }
    let items: Vec<Value> = match element {
        FieldType::Void => primitives!((), |_| Value::Null),
        FieldType::Bool => primitives!(bool, Value::Bool),
        FieldType::Int(8) => primitives!(i8, |v| Value::Number(v.into())),
        FieldType::Int(16) => primitives!(i16, |v| Value::Number(v.into())),
        FieldType::Int(32) => primitives!(i32, |v| Value::Number(v.into())),
        FieldType::Int(_) => primitives!(i64, |v| Value::BigInt(v.into())),
        FieldType::UInt(8) => primitives!(u8, |v| Value::Number(v.into())),
        FieldType::UInt(16) => primitives!(u16, |v| Value::Number(v.into())),
        FieldType::UInt(32) => primitives!(u32, |v| Value::Number(v.into())),
        FieldType::UInt(_) => primitives!(u64, |v| Value::BigInt(v.into())),
        FieldType::Float32 => primitives!(f32, |v| Value::Number(v.into())),
        FieldType::Float64 => primitives!(f64, Value::Number),
        FieldType::Enum(id) => {
            let list = primitive_list::Reader::<u16>::get_from_pointer(&pr, None)?;
            list.iter()
                .map(|n| enum_name(schema, *id, n))
                .collect::<Result<_, _>>()?
        }
        FieldType::Text => {
            let list = text_list::Reader::get_from_pointer(&pr, None)?;
            list.iter()
                .map(|t| Ok(Value::String(t?.to_string()?)))
                .collect::<Result<_, MapError>>()?
        }
        FieldType::Data => {
            let list = data_list::Reader::get_from_pointer(&pr, None)?;
            list.iter()
                .map(|d| Ok(Value::Bytes(d?.to_vec())))
                .collect::<Result<_, MapError>>()?
        }
        FieldType::Struct(id) => {
            let list = struct_list::Reader::<RawStruct>::get_from_pointer(&pr, None)?;
            list.iter()
                .map(|e| read_struct(schema, &e.0, *id, caps))
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(MapError::new(
                "lists of capabilities or lists are not mapped yet",
            ))
        }
    };
    Ok(Value::Array(items))
}

/// A list of pointers, written element by element.
struct RawList<'a>(capnp::private::layout::ListBuilder<'a>);

impl<'a> RawList<'a> {
    fn init(pb: PointerBuilder<'a>, n: u32) -> Self {
        Self(pb.init_list(capnp::private::layout::ElementSize::Pointer, n))
    }
    fn element(&mut self, i: u32) -> PointerBuilder<'_> {
        self.0.reborrow().get_pointer_element(i)
    }
}

/// A struct of any layout as capnp's struct lists see it.
struct RawStruct;

impl capnp::introspect::Introspect for RawStruct {
    fn introspect() -> capnp::introspect::Type {
        capnp::introspect::TypeVariant::AnyPointer.into()
    }
}

struct RawStructReader<'a>(StructReader<'a>);
struct RawStructBuilder<'a>(StructBuilder<'a>);

impl<'a> From<StructReader<'a>> for RawStructReader<'a> {
    fn from(reader: StructReader<'a>) -> Self {
        Self(reader)
    }
}

impl<'a> From<StructBuilder<'a>> for RawStructBuilder<'a> {
    fn from(builder: StructBuilder<'a>) -> Self {
        Self(builder)
    }
}

impl<'a> capnp::traits::IntoInternalStructReader<'a> for RawStructReader<'a> {
    fn into_internal_struct_reader(self) -> StructReader<'a> {
        self.0
    }
}

impl capnp::traits::SetterInput<RawStruct> for RawStructReader<'_> {
    fn set_pointer_builder(
        mut builder: PointerBuilder<'_>,
        input: Self,
        canonicalize: bool,
    ) -> capnp::Result<()> {
        builder.set_struct(&input.0, canonicalize)
    }
}

impl capnp::traits::HasStructSize for RawStructBuilder<'_> {
    // Zero: the list was initialised with the real size first, so getting it never upgrades.
    const STRUCT_SIZE: StructSize = StructSize {
        data: 0,
        pointers: 0,
    };
}

impl capnp::traits::OwnedStruct for RawStruct {
    type Reader<'a> = RawStructReader<'a>;
    type Builder<'a> = RawStructBuilder<'a>;
}
