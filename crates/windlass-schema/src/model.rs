//! The compiled form of nodes, mirroring `schema.capnp`'s `Node`, before it is written out.

/// A type, as `schema.capnp`'s `Type`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Type {
    Void,
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    UInt8,
    UInt16,
    UInt32,
    UInt64,
    Float32,
    Float64,
    Text,
    Data,
    List(Box<Type>),
    Enum(u64, Option<Brand>),
    Struct(u64, Option<Brand>),
    Interface(u64, Option<Brand>),
    AnyPointer(AnyPtr),
}

/// `Type.anyPointer`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum AnyPtr {
    AnyKind,
    Struct,
    List,
    Capability,
    Parameter(u64, u16),
    Implicit(u16),
}

/// `Brand`: bindings of generic parameters, scope by scope.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Brand {
    pub scopes: Vec<BrandScopeOut>,
}

/// One `Brand.Scope`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct BrandScopeOut {
    pub scope_id: u64,
    /// `None` = inherit.
    pub bind: Option<Vec<Type>>,
}

impl Type {
    /// log2 of the size in bits of a data field, `None` for pointers, `Some(-1)`... see layout.
    pub(crate) fn data_lg_size(&self) -> Option<i32> {
        Some(match self {
            Type::Void => -1,
            Type::Bool => 0,
            Type::Int8 | Type::UInt8 => 3,
            Type::Int16 | Type::UInt16 | Type::Enum(..) => 4,
            Type::Int32 | Type::UInt32 | Type::Float32 => 5,
            Type::Int64 | Type::UInt64 | Type::Float64 => 6,
            _ => return None,
        })
    }

    pub(crate) fn is_pointer(&self) -> bool {
        self.data_lg_size().is_none()
    }
}

/// A value, as `schema.capnp`'s `Value`; pointer values are a message holding the root.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Void,
    Bool(bool),
    Int8(i8),
    Int16(i16),
    Int32(i32),
    Int64(i64),
    UInt8(u8),
    UInt16(u16),
    UInt32(u32),
    UInt64(u64),
    Float32(f32),
    Float64(f64),
    Text(Option<String>),
    Data(Option<Vec<u8>>),
    List(Option<Vec<capnp::Word>>),
    Enum(u16),
    Struct(Option<Vec<capnp::Word>>),
    Interface,
    AnyPointer(Option<Vec<capnp::Word>>),
    /// Not evaluated yet: an index into the node's pending values.
    Pending(usize),
}

/// An applied annotation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnnotationOut {
    pub id: u64,
    pub brand: Option<Brand>,
    pub value: Value,
}

/// A struct field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FieldOut {
    pub name: String,
    pub code_order: u16,
    pub annotations: Vec<AnnotationOut>,
    pub discriminant: u16,
    pub kind: FieldKind,
    /// `None` = implicit.
    pub ordinal: Option<u16>,
}

/// A slot or a group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum FieldKind {
    Slot {
        offset: u32,
        ty: Type,
        default: Value,
        explicit: bool,
    },
    Group(u64),
}

/// `Node.struct`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct StructOut {
    pub data_words: u16,
    pub pointers: u16,
    pub is_group: bool,
    pub discriminant_count: u16,
    pub discriminant_offset: u32,
    pub fields: Vec<FieldOut>,
}

/// An enumerant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EnumerantOut {
    pub name: String,
    pub code_order: u16,
    pub annotations: Vec<AnnotationOut>,
}

/// A method.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct MethodOut {
    pub name: String,
    pub code_order: u16,
    pub implicit_params: Vec<String>,
    pub param_id: u64,
    pub param_brand: Option<Brand>,
    pub result_id: u64,
    pub result_brand: Option<Brand>,
    pub annotations: Vec<AnnotationOut>,
}

/// What kind of node, with its kind-specific content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    File,
    Struct(StructOut),
    Enum(Vec<EnumerantOut>),
    Interface {
        methods: Vec<MethodOut>,
        superclasses: Vec<(u64, Option<Brand>)>,
    },
    Const(Type, Value),
    Annotation(Type, [bool; 12]),
}

/// The length of a display name's scope prefix (`file.capnp:Outer.` in
/// `file.capnp:Outer.Inner`): what `NodeOut::prefix_len` holds for a declared node.
pub(crate) fn display_prefix_len(display_name: &str) -> usize {
    let dot = display_name.rfind('.').map_or(0, |i| i + 1);
    let colon = display_name.rfind(':').map_or(0, |i| i + 1);
    dot.max(colon)
}

/// A compiled node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeOut {
    pub id: u64,
    pub display_name: String,
    pub prefix_len: u32,
    pub scope_id: u64,
    /// `None` for groups and parameter structs (the reference compiler leaves it unset).
    pub nested: Option<Vec<(String, u64)>>,
    pub annotations: Vec<AnnotationOut>,
    pub params: Vec<String>,
    pub is_generic: bool,
    pub body: Body,
}

/// `Node.SourceInfo`.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct SourceInfoOut {
    pub id: u64,
    pub doc: Option<String>,
    pub members: Option<Vec<Option<String>>>,
}

/// The value a field has when no default is written.
pub(crate) fn default_default(ty: &Type) -> Value {
    match ty {
        Type::Void => Value::Void,
        Type::Bool => Value::Bool(false),
        Type::Int8 => Value::Int8(0),
        Type::Int16 => Value::Int16(0),
        Type::Int32 => Value::Int32(0),
        Type::Int64 => Value::Int64(0),
        Type::UInt8 => Value::UInt8(0),
        Type::UInt16 => Value::UInt16(0),
        Type::UInt32 => Value::UInt32(0),
        Type::UInt64 => Value::UInt64(0),
        Type::Float32 => Value::Float32(0.0),
        Type::Float64 => Value::Float64(0.0),
        Type::Text => Value::Text(None),
        Type::Data => Value::Data(None),
        Type::List(_) => Value::List(None),
        Type::Enum(..) => Value::Enum(0),
        Type::Struct(..) => Value::Struct(None),
        Type::Interface(..) => Value::Interface,
        Type::AnyPointer(_) => Value::AnyPointer(None),
    }
}
