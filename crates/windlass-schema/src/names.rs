//! What a name can refer to: the kinds of declarations, the built-in types that make up the
//! outermost scope, and the result of looking a name up. Plain data, used by the compiler's state
//! and by name resolution alike.

use crate::model::Brand;

/// The kind of a declaration that can be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Struct,
    Enum,
    Interface,
    Const,
    Annotation,
    Builtin(Builtin),
}

/// The built-in types, which make up the outermost scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Builtin {
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
    List,
    Object,
    AnyPointer,
    AnyStruct,
    AnyList,
    Capability,
}

pub(crate) const BUILTINS: [(&str, Builtin); 20] = [
    ("Void", Builtin::Void),
    ("Bool", Builtin::Bool),
    ("Int8", Builtin::Int8),
    ("Int16", Builtin::Int16),
    ("Int32", Builtin::Int32),
    ("Int64", Builtin::Int64),
    ("UInt8", Builtin::UInt8),
    ("UInt16", Builtin::UInt16),
    ("UInt32", Builtin::UInt32),
    ("UInt64", Builtin::UInt64),
    ("Float32", Builtin::Float32),
    ("Float64", Builtin::Float64),
    ("Text", Builtin::Text),
    ("Data", Builtin::Data),
    ("List", Builtin::List),
    ("Object", Builtin::Object),
    ("AnyPointer", Builtin::AnyPointer),
    ("AnyStruct", Builtin::AnyStruct),
    ("AnyList", Builtin::AnyList),
    ("Capability", Builtin::Capability),
];

/// A declaration found by name.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ResolvedDecl {
    pub id: u64,
    pub param_count: u32,
    pub scope_id: u64,
    pub kind: Kind,
    pub node: Option<usize>,
    /// Set when found through a `using` alias with generic bindings.
    pub brand: Option<Brand>,
}

/// What a name refers to: a declaration, or a generic parameter of some scope.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Resolved {
    Decl(ResolvedDecl),
    Param { scope_id: u64, index: u16 },
}

/// The ID name resolution gives a built-in type (not a real node ID: built-ins have none).
pub(crate) fn builtin_id(b: Builtin) -> u64 {
    1000 + BUILTINS.iter().position(|(_, x)| *x == b).unwrap_or(0) as u64
}

/// The declaration a built-in type name resolves to.
pub(crate) fn builtin_decl(b: Builtin) -> ResolvedDecl {
    ResolvedDecl {
        id: builtin_id(b),
        param_count: u32::from(b == Builtin::List),
        scope_id: 0,
        kind: Kind::Builtin(b),
        node: None,
        brand: None,
    }
}
