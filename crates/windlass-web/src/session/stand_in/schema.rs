//! STAND-IN for `src/schema/` (another helper's module, not yet in the tree): the parts of a
//! `CodeGeneratorRequest` the session and the mapping read, owned, by node ID.

// A stand-in: public like the module it stands for; not every item is used yet.
#![allow(unreachable_pub, dead_code)]

use std::collections::HashMap;

use capnp::schema_capnp::{field, node, type_};

/// A schema the mapping cannot follow, or a value that does not fit it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MapError(pub String);

impl MapError {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self(text.into())
    }
}

impl From<std::str::Utf8Error> for MapError {
    fn from(error: std::str::Utf8Error) -> Self {
        Self(error.to_string())
    }
}

impl From<capnp::NotInSchema> for MapError {
    fn from(error: capnp::NotInSchema) -> Self {
        Self(error.to_string())
    }
}

impl From<capnp::Error> for MapError {
    fn from(error: capnp::Error) -> Self {
        Self(error.to_string())
    }
}

/// A field's type.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldType {
    /// `Void`.
    Void,
    /// `Bool`.
    Bool,
    /// `Int8`…`Int64` (bit width).
    Int(u8),
    /// `UInt8`…`UInt64` (bit width).
    UInt(u8),
    /// `Float32`.
    Float32,
    /// `Float64`.
    Float64,
    /// `Text`.
    Text,
    /// `Data`.
    Data,
    /// `List(T)`.
    List(Box<FieldType>),
    /// An enum.
    Enum(u64),
    /// A struct.
    Struct(u64),
    /// An interface.
    Interface(u64),
    /// `AnyPointer` (not mapped).
    AnyPointer,
}

/// What a field is.
#[derive(Clone, Debug)]
pub enum FieldKind {
    /// Stored at `offset` (in units of the type's size; pointer index for pointers).
    Slot { offset: u32, ty: FieldType },
    /// A group: the fields of struct node `id`, stored in this struct.
    Group(u64),
}

/// A struct field.
#[derive(Clone, Debug)]
pub struct Field {
    /// The name.
    pub name: String,
    /// Declaration order.
    pub code_order: u16,
    /// Its discriminant, if a union member.
    pub discriminant: Option<u16>,
    /// Slot or group.
    pub kind: FieldKind,
}

/// A struct (or group).
#[derive(Clone, Debug)]
pub struct Struct {
    /// The display name.
    pub name: String,
    /// Data section words.
    pub data_words: u16,
    /// Pointer section size.
    pub pointers: u16,
    /// The union's discriminant offset (u16 units), if it has a union.
    pub discriminant_offset: Option<u32>,
    /// Fields, in declaration order.
    pub fields: Vec<Field>,
}

/// A method.
#[derive(Clone, Debug)]
pub struct Method {
    /// The name.
    pub name: String,
    /// The interface that declares it.
    pub interface_id: u64,
    /// Its ordinal.
    pub ordinal: u16,
    /// The params struct.
    pub params: u64,
    /// The results struct.
    pub results: u64,
}

/// An interface, with the methods of its superclasses.
#[derive(Clone, Debug)]
pub struct Interface {
    id: u64,
    name: String,
    methods: Vec<Method>,
}

impl Interface {
    /// The node ID.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// Its methods, its superclasses' included.
    pub fn methods(&self) -> &[Method] {
        &self.methods
    }
    /// The method `name`.
    pub fn method(&self, name: &str) -> Option<&Method> {
        self.methods.iter().find(|m| m.name == name)
    }
    /// The method, if there is exactly one (a "function").
    pub fn single_method(&self) -> Option<&Method> {
        match self.methods.as_slice() {
            [only] => Some(only),
            _ => None,
        }
    }
}

/// Where a property path leads: pointer indexes through nested structs, and the type there.
#[derive(Clone, Debug)]
pub struct FieldPath {
    /// Pointer indexes from the root struct.
    pub pointers: Vec<u16>,
    /// The type at the end.
    pub ty: FieldType,
}

/// The schema.
#[derive(Debug, Default)]
pub struct Schema {
    structs: HashMap<u64, Struct>,
    interfaces: HashMap<u64, Interface>,
    enums: HashMap<u64, (String, Vec<String>)>,
}

impl Schema {
    /// Reads a serialized `CodeGeneratorRequest`.
    ///
    /// # Errors
    /// If it does not parse.
    pub fn from_request_bytes(bytes: &[u8]) -> Result<Self, MapError> {
        let message = capnp::serialize::read_message_from_flat_slice(
            &mut &bytes[..],
            capnp::message::ReaderOptions::new(),
        )?;
        let request: capnp::schema_capnp::code_generator_request::Reader<'_> =
            message.get_root()?;
        let mut schema = Self::default();
        let mut own_methods: HashMap<u64, (Vec<Method>, Vec<u64>)> = HashMap::new();
        for node in request.get_nodes()? {
            let id = node.get_id();
            let name = node.get_display_name()?.to_string()?;
            let name = name[node.get_display_name_prefix_length() as usize..].to_string();
            match node.which()? {
                node::Struct(s) => {
                    let mut fields = Vec::new();
                    for f in s.get_fields()? {
                        let discriminant = f.get_discriminant_value();
                        let kind = match f.which()? {
                            field::Slot(slot) => FieldKind::Slot {
                                offset: slot.get_offset(),
                                ty: field_type(slot.get_type()?)?,
                            },
                            field::Group(g) => FieldKind::Group(g.get_type_id()),
                        };
                        fields.push(Field {
                            name: f.get_name()?.to_string()?,
                            code_order: f.get_code_order(),
                            discriminant: (discriminant != field::NO_DISCRIMINANT)
                                .then_some(discriminant),
                            kind,
                        });
                    }
                    fields.sort_by_key(|f| f.code_order);
                    let discriminant_offset =
                        (s.get_discriminant_count() > 0).then_some(s.get_discriminant_offset());
                    schema.structs.insert(
                        id,
                        Struct {
                            name,
                            data_words: s.get_data_word_count(),
                            pointers: s.get_pointer_count(),
                            discriminant_offset,
                            fields,
                        },
                    );
                }
                node::Interface(i) => {
                    let mut methods = Vec::new();
                    for (ordinal, m) in i.get_methods()?.iter().enumerate() {
                        methods.push(Method {
                            name: m.get_name()?.to_string()?,
                            interface_id: id,
                            ordinal: ordinal as u16,
                            params: m.get_param_struct_type(),
                            results: m.get_result_struct_type(),
                        });
                    }
                    let supers = i.get_superclasses()?.iter().map(|s| s.get_id()).collect();
                    own_methods.insert(id, (methods, supers));
                    schema.interfaces.insert(
                        id,
                        Interface {
                            id,
                            name,
                            methods: Vec::new(),
                        },
                    );
                }
                node::Enum(e) => {
                    let names = e
                        .get_enumerants()?
                        .iter()
                        .map(|e| Ok(e.get_name()?.to_string()?))
                        .collect::<Result<_, MapError>>()?;
                    schema.enums.insert(id, (name, names));
                }
                _ => {}
            }
        }
        for (id, interface) in &mut schema.interfaces {
            let mut stack = vec![*id];
            let mut seen = Vec::new();
            while let Some(next) = stack.pop() {
                if seen.contains(&next) {
                    continue;
                }
                seen.push(next);
                if let Some((methods, supers)) = own_methods.get(&next) {
                    interface.methods.extend(methods.iter().cloned());
                    stack.extend(supers);
                }
            }
        }
        Ok(schema)
    }

    /// The interface `id`.
    pub fn interface(&self, id: u64) -> Option<&Interface> {
        self.interfaces.get(&id)
    }

    /// The interface whose (display) name is or ends with `name` (`Calculator`, `Calculator.Value`).
    pub fn interface_by_name(&self, name: &str) -> Option<&Interface> {
        self.interfaces.values().find(|i| {
            i.name == name
                || i.name.ends_with(&format!(".{name}"))
                || i.name.ends_with(&format!(":{name}"))
        })
    }

    /// The struct `id`.
    pub fn structure(&self, id: u64) -> Result<&Struct, MapError> {
        self.structs
            .get(&id)
            .ok_or_else(|| MapError::new(format!("struct {id:#x} is not in the schema")))
    }

    /// The enumerants of enum `id`, and its name.
    pub fn enumerants(&self, id: u64) -> Result<(&str, &[String]), MapError> {
        self.enums
            .get(&id)
            .map(|(n, e)| (n.as_str(), e.as_slice()))
            .ok_or_else(|| MapError::new(format!("enum {id:#x} is not in the schema")))
    }

    /// Follows `path` (field names) from struct `struct_id`.
    ///
    /// # Errors
    /// A field that does not exist, or a path through something other than structs and groups.
    pub fn field_path(&self, struct_id: u64, path: &[String]) -> Result<FieldPath, MapError> {
        let mut pointers = Vec::new();
        let mut at = FieldType::Struct(struct_id);
        for name in path {
            let FieldType::Struct(id) = at else {
                return Err(MapError::new(format!("`{name}`: not inside a struct")));
            };
            {
                let s = self.structure(id)?;
                let field = s
                    .fields
                    .iter()
                    .find(|f| &f.name == name)
                    .ok_or_else(|| MapError::new(format!("no field `{name}` in {}", s.name)))?;
                match &field.kind {
                    FieldKind::Group(group) => {
                        // A group lives in the same struct: no pointer hop.
                        at = FieldType::Struct(*group);
                    }
                    FieldKind::Slot { offset, ty } => {
                        if matches!(
                            ty,
                            FieldType::Struct(_)
                                | FieldType::Interface(_)
                                | FieldType::List(_)
                                | FieldType::Text
                                | FieldType::Data
                                | FieldType::AnyPointer
                        ) {
                            pointers.push(*offset as u16);
                        }
                        at = ty.clone();
                    }
                }
            }
        }
        Ok(FieldPath { pointers, ty: at })
    }
}

fn field_type(ty: type_::Reader<'_>) -> Result<FieldType, MapError> {
    Ok(match ty.which()? {
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
        type_::List(l) => FieldType::List(Box::new(field_type(l.get_element_type()?)?)),
        type_::Enum(e) => FieldType::Enum(e.get_type_id()),
        type_::Struct(s) => FieldType::Struct(s.get_type_id()),
        type_::Interface(i) => FieldType::Interface(i.get_type_id()),
        type_::AnyPointer(_) => FieldType::AnyPointer,
    })
}
