//! From branded declarations to what is written out: `Type`s and `Brand`s.

use crate::compiler::Compiler;
use crate::model::{AnyPtr, Brand, BrandScopeOut, Type};
use crate::names::{Builtin, Kind};

use super::scope::{BrandScope, BrandedDecl};

/// `ty` as seen through `brand`, the way the reference compiler reads a struct literal's fields
/// through the branded schema: the generic parameters `brand` binds are replaced by their
/// bindings, and a nested brand that inherits a scope `brand` binds takes those bindings.
/// Parameters `brand` leaves unbound (or itself inherits) stay parameters.
pub(crate) fn through_brand(ty: &Type, brand: Option<&Brand>) -> Type {
    let Some(brand) = brand else {
        return ty.clone();
    };
    let bindings = |scope_id: u64| {
        brand
            .scopes
            .iter()
            .find(|s| s.scope_id == scope_id)
            .and_then(|s| s.bind.as_ref())
    };
    let rebrand = |inner: &Option<Brand>| {
        inner.as_ref().map(|inner| Brand {
            scopes: inner
                .scopes
                .iter()
                .map(|s| BrandScopeOut {
                    scope_id: s.scope_id,
                    bind: match &s.bind {
                        Some(types) => Some(
                            types
                                .iter()
                                .map(|t| through_brand(t, Some(brand)))
                                .collect(),
                        ),
                        None => bindings(s.scope_id).cloned(),
                    },
                })
                .collect(),
        })
    };
    match ty {
        Type::AnyPointer(AnyPtr::Parameter(scope_id, index)) => bindings(*scope_id)
            .and_then(|types| types.get(usize::from(*index)))
            .cloned()
            .unwrap_or_else(|| ty.clone()),
        Type::List(elem) => Type::List(Box::new(through_brand(elem, Some(brand)))),
        Type::Struct(id, inner) => Type::Struct(*id, rebrand(inner)),
        Type::Enum(id, inner) => Type::Enum(*id, rebrand(inner)),
        Type::Interface(id, inner) => Type::Interface(*id, rebrand(inner)),
        _ => ty.clone(),
    }
}

impl Compiler {
    /// The `Brand` to write for a scope; `None` when nothing is generic.
    pub(crate) fn compile_brand(&mut self, file: usize, scope: &BrandScope) -> Option<Brand> {
        let mut levels = Vec::new();
        let mut cur = Some(scope);
        while let Some(s) = cur {
            if !s.params.is_empty() || (s.inherited && s.leaf_params > 0) {
                levels.push(s);
            }
            cur = s.parent.as_deref();
        }
        if levels.is_empty() {
            return None;
        }
        let mut scopes = Vec::new();
        for l in levels {
            let bind = if l.inherited {
                None
            } else {
                let mut types = Vec::new();
                for p in &l.params {
                    types.push(self.compile_as_type(file, p).unwrap_or(Type::Void));
                }
                Some(types)
            };
            scopes.push(BrandScopeOut {
                scope_id: l.leaf_id,
                bind,
            });
        }
        Some(Brand { scopes })
    }

    /// The declaration's ID and brand (for struct/enum/interface/annotation references).
    pub(crate) fn id_and_brand(&mut self, file: usize, d: &BrandedDecl) -> (u64, Option<Brand>) {
        match d {
            BrandedDecl::Decl { decl, brand, .. } => {
                let b = self.compile_brand(file, brand);
                (decl.id, b)
            }
            BrandedDecl::Param { .. } => (0, None),
        }
    }

    /// A type for a resolved declaration; `None` (with an error) if it is not a type.
    pub(crate) fn compile_as_type(&mut self, file: usize, d: &BrandedDecl) -> Option<Type> {
        let (decl, brand, span) = match d {
            BrandedDecl::Param {
                scope_id, index, ..
            } => {
                return Some(Type::AnyPointer(if *scope_id == 0 {
                    AnyPtr::Implicit(*index)
                } else {
                    AnyPtr::Parameter(*scope_id, *index)
                }))
            }
            BrandedDecl::Decl { decl, brand, span } => (decl, brand, *span),
        };
        Some(match decl.kind {
            Kind::Enum => Type::Enum(decl.id, self.compile_brand(file, brand)),
            Kind::Struct => Type::Struct(decl.id, self.compile_brand(file, brand)),
            Kind::Interface => Type::Interface(decl.id, self.compile_brand(file, brand)),
            Kind::Builtin(b) => match b {
                Builtin::Void => Type::Void,
                Builtin::Bool => Type::Bool,
                Builtin::Int8 => Type::Int8,
                Builtin::Int16 => Type::Int16,
                Builtin::Int32 => Type::Int32,
                Builtin::Int64 => Type::Int64,
                Builtin::UInt8 => Type::UInt8,
                Builtin::UInt16 => Type::UInt16,
                Builtin::UInt32 => Type::UInt32,
                Builtin::UInt64 => Type::UInt64,
                Builtin::Float32 => Type::Float32,
                Builtin::Float64 => Type::Float64,
                Builtin::Text => Type::Text,
                Builtin::Data => Type::Data,
                Builtin::List => {
                    let params = brand.params_of(decl.id).unwrap_or_default();
                    if params.len() != 1 {
                        self.error(file, span, "'List' requires exactly one parameter.");
                        return None;
                    }
                    let elem = self.compile_as_type(file, &params[0])?;
                    match elem {
                        Type::AnyPointer(AnyPtr::AnyKind) => {
                            self.error(file, span, "'List(AnyPointer)' is not supported.");
                            return None;
                        }
                        Type::AnyPointer(AnyPtr::Struct) => {
                            self.error(file, span, "'List(AnyStruct)' is not supported.");
                            return None;
                        }
                        _ => {}
                    }
                    Type::List(Box::new(elem))
                }
                Builtin::Object => {
                    self.error(file, span, "'Object' has been renamed to 'AnyPointer'.");
                    Type::AnyPointer(AnyPtr::AnyKind)
                }
                Builtin::AnyPointer => Type::AnyPointer(AnyPtr::AnyKind),
                Builtin::AnyStruct => Type::AnyPointer(AnyPtr::Struct),
                Builtin::AnyList => Type::AnyPointer(AnyPtr::List),
                Builtin::Capability => Type::AnyPointer(AnyPtr::Capability),
            },
            _ => {
                let t = self.text(file, span);
                self.error(file, span, format!("'{t}' is not a type."));
                return None;
            }
        })
    }
}
