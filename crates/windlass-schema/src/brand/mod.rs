//! Name resolution and generic brands: turning a name expression into a declaration together
//! with the bindings of every generic scope around it, as the reference compiler does.
//!
//! `scope` holds the brand data and its plain operations; this file binds parameters and
//! rebuilds scopes from compiled brands, `resolve` looks names up, and `types` turns branded
//! declarations into the `Type`s and `Brand`s written out.

mod resolve;
mod scope;
mod types;

use std::rc::Rc;

pub(crate) use scope::{BrandScope, BrandedDecl, ImplicitParams};
pub(crate) use types::through_brand;

use crate::compiler::Compiler;
use crate::error::Span;
use crate::model::{AnyPtr, BrandScopeOut, Type};
use crate::names::{builtin_decl, builtin_id, Builtin, Kind, Resolved, ResolvedDecl};

impl Compiler {
    /// The starting scope for compiling inside node `n`: its own and its parents' parameters,
    /// inherited.
    pub(crate) fn scope_for_node(&self, n: usize) -> Rc<BrandScope> {
        let node = &self.nodes[n];
        Rc::new(BrandScope {
            parent: node.parent.map(|p| self.scope_for_node(p)),
            leaf_id: node.id,
            leaf_params: node.decl.params.len() as u32,
            inherited: true,
            params: Vec::new(),
        })
    }

    pub(crate) fn decl_of_node(&self, n: usize) -> ResolvedDecl {
        let node = &self.nodes[n];
        ResolvedDecl {
            id: node.id,
            param_count: node.decl.params.len() as u32,
            scope_id: node.parent.map_or(0, |p| self.nodes[p].id),
            kind: node.kind,
            node: Some(n),
            brand: None,
        }
    }

    /// Binds the leaf's parameters (`Foo(A, B)`); `None` (with an error) if they do not fit.
    pub(crate) fn set_params(
        &mut self,
        file: usize,
        scope: &Rc<BrandScope>,
        params: Vec<BrandedDecl>,
        kind: Kind,
        span: Span,
    ) -> Option<Rc<BrandScope>> {
        if !scope.params.is_empty() {
            self.error(file, span, "Double application of generic parameters.");
            return None;
        }
        if params.len() as u32 > scope.leaf_params {
            let what = if scope.leaf_params == 0 {
                "Declaration does not accept generic parameters."
            } else {
                "Too many generic parameters."
            };
            self.error(file, span, what);
            return None;
        }
        if (params.len() as u32) < scope.leaf_params {
            self.error(file, span, "Not enough generic parameters.");
            return None;
        }
        if kind != Kind::Builtin(Builtin::List) {
            for p in &params {
                if let Some(k) = p.kind() {
                    let ok = matches!(
                        k,
                        Kind::Struct
                            | Kind::Interface
                            | Kind::Builtin(
                                Builtin::List | Builtin::Text | Builtin::Data | Builtin::AnyPointer
                            )
                    );
                    if !ok {
                        self.error(
                            file,
                            p.span(),
                            "Sorry, only pointer types can be used as generic parameters.",
                        );
                    }
                }
            }
        }
        Some(Rc::new(BrandScope {
            parent: scope.parent.clone(),
            leaf_id: scope.leaf_id,
            leaf_params: scope.leaf_params,
            inherited: false,
            params,
        }))
    }

    pub(crate) fn interpret_resolve(
        &mut self,
        scope: &Rc<BrandScope>,
        r: Resolved,
        span: Span,
    ) -> BrandedDecl {
        match r {
            Resolved::Decl(decl) => {
                let s = BrandScope::pop_to(scope, decl.scope_id);
                let s = match &decl.brand {
                    Some(b) => self.evaluate_brand(&s, &decl, &b.scopes, 0),
                    None => BrandScope::push(&s, decl.id, decl.param_count),
                };
                BrandedDecl::Decl {
                    decl,
                    brand: s,
                    span,
                }
            }
            Resolved::Param { scope_id, index } => scope
                .lookup_parameter(scope_id, index)
                .unwrap_or(BrandedDecl::Param {
                    scope_id,
                    index,
                    span,
                }),
        }
    }

    fn evaluate_brand(
        &mut self,
        scope: &Rc<BrandScope>,
        decl: &ResolvedDecl,
        brand: &[BrandScopeOut],
        mut index: usize,
    ) -> Rc<BrandScope> {
        let mut result = BrandScope {
            parent: None,
            leaf_id: decl.id,
            leaf_params: decl.param_count,
            inherited: false,
            params: Vec::new(),
        };
        if let Some(next) = brand.get(index) {
            if next.scope_id == decl.id {
                match &next.bind {
                    Some(types) => {
                        for t in types {
                            let d = self.decompile_type(scope, t);
                            result.params.push(d);
                        }
                    }
                    None => match scope.params_of(decl.id) {
                        Some(p) => result.params = p,
                        None => result.inherited = true,
                    },
                }
                index += 1;
            }
        }
        if let Some(n) = decl.node {
            if let Some(p) = self.nodes[n].parent {
                let pd = self.decl_of_node(p);
                result.parent = Some(self.evaluate_brand(scope, &pd, brand, index));
            }
        }
        Rc::new(result)
    }

    fn decompile_type(&mut self, scope: &Rc<BrandScope>, t: &Type) -> BrandedDecl {
        let builtin = |b| BrandedDecl::Decl {
            decl: builtin_decl(b),
            brand: Rc::new(BrandScope {
                parent: None,
                leaf_id: builtin_id(b),
                leaf_params: u32::from(b == Builtin::List),
                inherited: false,
                params: Vec::new(),
            }),
            span: Default::default(),
        };
        let b = match t {
            Type::Void => Builtin::Void,
            Type::Bool => Builtin::Bool,
            Type::Int8 => Builtin::Int8,
            Type::Int16 => Builtin::Int16,
            Type::Int32 => Builtin::Int32,
            Type::Int64 => Builtin::Int64,
            Type::UInt8 => Builtin::UInt8,
            Type::UInt16 => Builtin::UInt16,
            Type::UInt32 => Builtin::UInt32,
            Type::UInt64 => Builtin::UInt64,
            Type::Float32 => Builtin::Float32,
            Type::Float64 => Builtin::Float64,
            Type::Text => Builtin::Text,
            Type::Data => Builtin::Data,
            Type::Enum(id, br) | Type::Struct(id, br) | Type::Interface(id, br) => {
                let Some(&n) = self.node_by_id.get(id) else {
                    return builtin(Builtin::AnyPointer);
                };
                let decl = self.decl_of_node(n);
                let scopes = br.as_ref().map(|b| b.scopes.clone()).unwrap_or_default();
                let brand = self.evaluate_brand(scope, &decl, &scopes, 0);
                return BrandedDecl::Decl {
                    decl,
                    brand,
                    span: Default::default(),
                };
            }
            Type::List(elem) => {
                let e = self.decompile_type(scope, elem);
                let BrandedDecl::Decl { decl, brand, span } = builtin(Builtin::List) else {
                    return builtin(Builtin::AnyPointer);
                };
                let brand = Rc::new(BrandScope {
                    params: vec![e],
                    ..(*brand).clone()
                });
                return BrandedDecl::Decl { decl, brand, span };
            }
            Type::AnyPointer(AnyPtr::Parameter(id, index)) => {
                return scope
                    .lookup_parameter(*id, *index)
                    .unwrap_or(BrandedDecl::Param {
                        scope_id: *id,
                        index: *index,
                        span: Default::default(),
                    })
            }
            Type::AnyPointer(_) => Builtin::AnyPointer,
        };
        builtin(b)
    }
}
