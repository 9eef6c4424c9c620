//! The parsed form of a schema file: declarations and expressions, each with its span.

use crate::error::Span;

/// An expression: a value, a type, a name, or a generic application.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

/// What an expression is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ExprKind {
    PosInt(u64),
    NegInt(u64),
    Float(f64),
    Str(String),
    Binary(Vec<u8>),
    List(Vec<Expr>),
    Tuple(Vec<Param>),
    Import(String),
    Embed(String),
    AbsName(String),
    RelName(String),
    Member(Box<Expr>, String, Span),
    Application(Box<Expr>, Vec<Param>),
}

/// One item of a tuple or application: `name = value` or `value`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Param {
    pub name: Option<(String, Span)>,
    pub value: Expr,
}

/// `$name(value)`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AnnotationApp {
    pub name: Expr,
    pub value: Option<Expr>,
}

/// `@0x...` or `@N`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum DeclId {
    Unspecified,
    Uid(u64, Span),
    Ordinal(u64, Span),
}

/// A method's parameter or result list.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ParamList {
    Named(Vec<ParamDecl>, Span),
    Type(Expr),
    Stream(Span),
}

/// One named method parameter.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParamDecl {
    pub name: String,
    pub name_span: Span,
    pub ty: Expr,
    pub default: Option<Expr>,
    pub annotations: Vec<AnnotationApp>,
}

/// What a declaration declares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DeclKind {
    File,
    Using(Expr),
    Const {
        ty: Expr,
        value: Expr,
    },
    Enum,
    Enumerant,
    Struct,
    Field {
        ty: Expr,
        default: Option<Expr>,
    },
    Union,
    Group,
    Interface {
        superclasses: Vec<Expr>,
    },
    Method {
        params: ParamList,
        results: Option<ParamList>,
    },
    Annotation {
        ty: Expr,
        targets: [bool; 12],
    },
    NakedId(u64),
    NakedAnnotation(AnnotationApp),
}

/// Annotation target flags, in `schema.capnp`'s order.
pub(crate) const TARGET_NAMES: [&str; 12] = [
    "file",
    "const",
    "enum",
    "enumerant",
    "struct",
    "field",
    "union",
    "group",
    "interface",
    "method",
    "param",
    "annotation",
];

/// One declaration and the declarations nested in it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decl {
    pub name: String,
    pub name_span: Span,
    pub id: DeclId,
    pub params: Vec<(String, Span)>,
    pub annotations: Vec<AnnotationApp>,
    pub doc: Option<String>,
    pub span: Span,
    pub kind: DeclKind,
    pub nested: Vec<Decl>,
}
