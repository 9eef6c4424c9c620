//! Reading a `CodeGeneratorRequest`'s nodes into the owned types of this module.

use std::collections::HashMap;
use std::fmt::Display;

use capnp::schema_capnp::{field, node, type_, value};

use super::error::SchemaError;
use super::interface::{Interface, Method};
use super::types::{DefaultValue, EnumSchema, Field, FieldKind, FieldType, StructSchema};

/// The nodes of a request, by ID; interfaces still without their inherited methods.
#[derive(Default)]
pub(super) struct Nodes {
    pub(super) structs: HashMap<u64, StructSchema>,
    pub(super) enums: HashMap<u64, EnumSchema>,
    pub(super) interfaces: HashMap<u64, Interface>,
    /// Each interface's superclass IDs, in declaration order.
    pub(super) superclasses: HashMap<u64, Vec<u64>>,
}

/// Wraps any reader error as a [`SchemaError::Node`] of `node`.
fn at(node: u64) -> impl Fn(&dyn Display) -> SchemaError {
    move |e| SchemaError::Node {
        node,
        reason: e.to_string(),
    }
}

macro_rules! attempt {
    ($node:expr, $e:expr) => {
        $e.map_err(|e| at($node)(&e))?
    };
}

impl Nodes {
    /// Copies every struct, enum and interface node of `request`.
    pub(super) fn read(
        request: capnp::schema_capnp::code_generator_request::Reader<'_>,
    ) -> Result<Nodes, SchemaError> {
        let mut nodes = Nodes::default();
        for n in request.get_nodes().map_err(SchemaError::Read)? {
            nodes.add(n)?;
        }
        Ok(nodes)
    }

    fn add(&mut self, n: node::Reader<'_>) -> Result<(), SchemaError> {
        let id = n.get_id();
        let name = attempt!(id, attempt!(id, n.get_display_name()).to_string());
        match attempt!(id, n.which()) {
            node::Struct(s) => {
                let mut fields = Vec::new();
                for f in attempt!(id, s.get_fields()) {
                    fields.push(read_field(id, f)?);
                }
                let discriminant_offset =
                    (s.get_discriminant_count() > 0).then_some(s.get_discriminant_offset());
                let schema = StructSchema {
                    id,
                    name,
                    data_words: s.get_data_word_count(),
                    pointer_count: s.get_pointer_count(),
                    is_group: s.get_is_group(),
                    discriminant_offset,
                    fields,
                };
                self.structs.insert(id, schema);
            }
            node::Enum(e) => {
                let mut enumerants = Vec::new();
                for e in attempt!(id, e.get_enumerants()) {
                    enumerants.push(attempt!(id, attempt!(id, e.get_name()).to_string()));
                }
                self.enums.insert(
                    id,
                    EnumSchema {
                        id,
                        name,
                        enumerants,
                    },
                );
            }
            node::Interface(i) => {
                let mut methods = Vec::new();
                for (ordinal, m) in attempt!(id, i.get_methods()).iter().enumerate() {
                    methods.push(Method {
                        name: attempt!(id, attempt!(id, m.get_name()).to_string()),
                        interface_id: id,
                        // A list has at most 2^29 elements, but a method ordinal is a u16 on
                        // the wire: more methods than that cannot be called.
                        ordinal: attempt!(id, u16::try_from(ordinal)),
                        params: m.get_param_struct_type(),
                        results: m.get_result_struct_type(),
                    });
                }
                let supers = attempt!(id, i.get_superclasses());
                self.superclasses
                    .insert(id, supers.iter().map(|s| s.get_id()).collect());
                self.interfaces.insert(id, Interface { id, name, methods });
            }
            _ => {}
        }
        Ok(())
    }

    /// Checks that every slot (and union discriminant) of every struct lies inside the struct's
    /// data or pointer section. capnp's layout builders write at the offset they are given
    /// without a bounds check, so a malformed request must be refused here, before the mapping
    /// ever writes by it. Groups are checked against the sizes of the struct holding them.
    pub(super) fn check_layouts(&self) -> Result<(), SchemaError> {
        for s in self.structs.values().filter(|s| !s.is_group) {
            let section = Section {
                data_bits: u64::from(s.data_words) * 64,
                pointers: u32::from(s.pointer_count),
            };
            self.check_fields(s, section, 0)
                .map_err(|reason| SchemaError::Node { node: s.id, reason })?;
        }
        Ok(())
    }

    fn check_fields(&self, s: &StructSchema, section: Section, depth: usize) -> Result<(), String> {
        // Groups nest as deep as the source text does; a cycle (a hostile request) ends here.
        if depth > MAX_GROUP_DEPTH {
            return Err(format!("groups nested deeper than {MAX_GROUP_DEPTH}"));
        }
        if let Some(offset) = s.discriminant_offset {
            section.check_data(offset, 16, "the union discriminant")?;
        }
        for field in &s.fields {
            match &field.kind {
                FieldKind::Slot { offset, ty, .. } if ty.is_pointer() => {
                    if *offset >= section.pointers {
                        return Err(format!(
                            "field `{}` is beyond the pointer section",
                            field.name
                        ));
                    }
                }
                FieldKind::Slot { offset, ty, .. } => {
                    section.check_data(
                        *offset,
                        data_bits(ty),
                        &format!("field `{}`", field.name),
                    )?;
                }
                FieldKind::Group(id) => {
                    let group = self
                        .structs
                        .get(id)
                        .ok_or_else(|| format!("group `{}` ({id:#x}) is missing", field.name))?;
                    self.check_fields(group, section, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// Appends each interface's inherited methods to its own: depth first, every superclass
    /// once, so a diamond (or a cycle in a hostile request) cannot repeat or loop.
    pub(super) fn inherit(&mut self) {
        let own: HashMap<u64, Vec<Method>> = self
            .interfaces
            .iter()
            .map(|(id, i)| (*id, i.methods.clone()))
            .collect();
        for (id, interface) in &mut self.interfaces {
            let mut seen = vec![*id];
            let mut stack: Vec<u64> = self.superclasses.get(id).cloned().unwrap_or_default();
            stack.reverse();
            while let Some(next) = stack.pop() {
                if seen.contains(&next) {
                    continue;
                }
                seen.push(next);
                if let Some(methods) = own.get(&next) {
                    interface.methods.extend(methods.iter().cloned());
                }
                if let Some(supers) = self.superclasses.get(&next) {
                    stack.extend(supers.iter().rev());
                }
            }
        }
    }
}

/// How deep groups may nest in a struct. capnp's own reader stops messages at 64 levels; a
/// schema nesting groups deeper than that is not one a person wrote.
const MAX_GROUP_DEPTH: usize = 64;

/// The sizes of a struct's sections, which its groups share.
#[derive(Clone, Copy)]
struct Section {
    data_bits: u64,
    pointers: u32,
}

impl Section {
    /// Whether `bits`-wide element `offset` of the data section lies inside it.
    fn check_data(self, offset: u32, bits: u64, what: &str) -> Result<(), String> {
        if (u64::from(offset) + 1) * bits > self.data_bits {
            return Err(format!("{what} is beyond the data section"));
        }
        Ok(())
    }
}

/// The width of a data-section type, in bits (`offset` counts in these units).
fn data_bits(ty: &FieldType) -> u64 {
    match ty {
        FieldType::Void => 0,
        FieldType::Bool => 1,
        FieldType::Int(w) | FieldType::UInt(w) => u64::from(*w),
        FieldType::Float32 => 32,
        FieldType::Enum(_) => 16,
        _ => 64,
    }
}

fn read_field(id: u64, f: field::Reader<'_>) -> Result<Field, SchemaError> {
    let discriminant = f.get_discriminant_value();
    let ordinal = match attempt!(id, f.get_ordinal().which()) {
        field::ordinal::Explicit(n) => Some(n),
        field::ordinal::Implicit(()) => None,
    };
    let kind = match attempt!(id, f.which()) {
        field::Slot(slot) => {
            let ty = read_type(id, attempt!(id, slot.get_type()))?;
            let default = if slot.get_had_explicit_default() || !ty.is_pointer() {
                read_default(id, attempt!(id, slot.get_default_value()))?
            } else {
                DefaultValue::None
            };
            FieldKind::Slot {
                offset: slot.get_offset(),
                ty,
                default,
            }
        }
        field::Group(g) => FieldKind::Group(g.get_type_id()),
    };
    Ok(Field {
        name: attempt!(id, attempt!(id, f.get_name()).to_string()),
        code_order: f.get_code_order(),
        ordinal,
        discriminant: (discriminant != field::NO_DISCRIMINANT).then_some(discriminant),
        kind,
    })
}

fn read_type(id: u64, ty: type_::Reader<'_>) -> Result<FieldType, SchemaError> {
    Ok(match attempt!(id, ty.which()) {
        type_::Void(()) => FieldType::Void,
        type_::Bool(()) => FieldType::Bool,
        type_::Int8(()) => FieldType::Int(8),
        type_::Int16(()) => FieldType::Int(16),
        type_::Int32(()) => FieldType::Int(32),
        type_::Int64(()) => FieldType::Int(64),
        type_::Uint8(()) => FieldType::UInt(8),
        type_::Uint16(()) => FieldType::UInt(16),
        type_::Uint32(()) => FieldType::UInt(32),
        type_::Uint64(()) => FieldType::UInt(64),
        type_::Float32(()) => FieldType::Float32,
        type_::Float64(()) => FieldType::Float64,
        type_::Text(()) => FieldType::Text,
        type_::Data(()) => FieldType::Data,
        type_::List(l) => {
            FieldType::List(Box::new(read_type(id, attempt!(id, l.get_element_type()))?))
        }
        type_::Enum(e) => FieldType::Enum(e.get_type_id()),
        // Brands are ignored: a generic struct's parameter-typed fields read as AnyPointer.
        type_::Struct(s) => FieldType::Struct(s.get_type_id()),
        type_::Interface(i) => FieldType::Interface(i.get_type_id()),
        type_::AnyPointer(_) => FieldType::AnyPointer,
    })
}

fn read_default(id: u64, v: value::Reader<'_>) -> Result<DefaultValue, SchemaError> {
    let bits = |b: u64| {
        Ok(if b == 0 {
            DefaultValue::None
        } else {
            DefaultValue::Bits(b)
        })
    };
    match attempt!(id, v.which()) {
        value::Void(()) | value::Interface(()) => Ok(DefaultValue::None),
        value::Bool(b) => bits(u64::from(b)),
        // Sign bits are kept only up to the field's width: the XOR is applied at that width.
        value::Int8(n) => bits(u64::from(n as u8)),
        value::Int16(n) => bits(u64::from(n as u16)),
        value::Int32(n) => bits(u64::from(n as u32)),
        value::Int64(n) => bits(n as u64),
        value::Uint8(n) => bits(u64::from(n)),
        value::Uint16(n) => bits(u64::from(n)),
        value::Uint32(n) => bits(u64::from(n)),
        value::Uint64(n) => bits(n),
        value::Float32(x) => bits(u64::from(x.to_bits())),
        value::Float64(x) => bits(x.to_bits()),
        value::Enum(n) => bits(u64::from(n)),
        value::Text(t) => {
            let t = attempt!(id, attempt!(id, t).to_string());
            Ok(DefaultValue::Text(t))
        }
        value::Data(d) => Ok(DefaultValue::Data(attempt!(id, d).to_vec())),
        value::List(p) | value::Struct(p) | value::AnyPointer(p) => {
            if p.is_null() {
                return Ok(DefaultValue::None);
            }
            Ok(DefaultValue::Pointer(canonical(id, p)?))
        }
    }
}

/// `p` as a canonical single-segment message: the root pointer in word 0, then its target.
fn canonical(id: u64, p: capnp::any_pointer::Reader<'_>) -> Result<Vec<capnp::Word>, SchemaError> {
    let words = attempt!(id, p.target_size()).word_count + 1;
    // One segment big enough for everything: `set_root_canonical` needs a single segment.
    let first = attempt!(id, u32::try_from(words));
    let allocator = capnp::message::HeapAllocator::new().first_segment_words(first);
    let mut message = capnp::message::Builder::new(allocator);
    attempt!(id, message.set_root_canonical(p));
    let segments = message.get_segments_for_output();
    let [segment] = &segments[..] else {
        return Err(at(id)(&"a default value does not fit one segment"));
    };
    let len = segment.len() / 8;
    let mut out = capnp::Word::allocate_zeroed_vec(len);
    capnp::Word::words_to_bytes_mut(&mut out).copy_from_slice(&segment[..len * 8]);
    Ok(out)
}
