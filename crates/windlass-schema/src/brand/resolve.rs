//! Looking names up: members, generic parameters, enclosing scopes and built-in types, and
//! whole name expressions (`Foo.Bar(Baz)`, `.Foo`, `import "x"`).

use std::rc::Rc;

use crate::ast::{Expr, ExprKind};
use crate::compiler::Compiler;
use crate::model::Type;
use crate::names::{builtin_decl, Resolved, BUILTINS};
use crate::work::Progress;

use super::scope::{BrandScope, BrandedDecl, ImplicitParams};

impl Compiler {
    /// Looks `name` up from inside node `n`: members, generic parameters, enclosing scopes,
    /// then the built-in types.
    pub(crate) fn resolve(&mut self, n: usize, name: &str) -> Option<Resolved> {
        if let Some(r) = self.resolve_member(n, name) {
            return Some(r);
        }
        if let Some(i) = self.nodes[n]
            .decl
            .params
            .iter()
            .position(|(p, _)| p == name)
        {
            return Some(Resolved::Param {
                scope_id: self.nodes[n].id,
                index: i as u16,
            });
        }
        match self.nodes[n].parent {
            Some(p) => self.resolve(p, name),
            None => BUILTINS
                .iter()
                .find(|(b, _)| *b == name)
                .map(|(_, b)| Resolved::Decl(builtin_decl(*b))),
        }
    }

    /// A member of node `n`: a nested declaration or a `using` alias.
    pub(crate) fn resolve_member(&mut self, n: usize, name: &str) -> Option<Resolved> {
        if let Some(&c) = self.nodes[n].by_name.get(name) {
            return Some(Resolved::Decl(self.decl_of_node(c)));
        }
        let target = self.nodes[n].aliases.get(name)?.clone();
        let key = (n, name.to_string());
        match self.alias_cache.get(&key) {
            Some(Progress::Done(r)) => return r.clone(),
            Some(Progress::InProgress) => {
                let file = self.nodes[n].file;
                self.error(
                    file,
                    target.span,
                    format!("'using {name}' refers to itself."),
                );
                return None;
            }
            _ => {}
        }
        self.alias_cache.insert(key.clone(), Progress::InProgress);
        let scope = self.scope_for_node(n);
        let file = self.nodes[n].file;
        let result = self
            .compile_decl_expr(n, &scope, &target, &ImplicitParams::default())
            .map(|d| match d {
                BrandedDecl::Decl {
                    mut decl, brand, ..
                } => {
                    decl.scope_id = scope.leaf_id;
                    decl.brand = self.compile_brand(file, &brand);
                    Resolved::Decl(decl)
                }
                BrandedDecl::Param {
                    scope_id, index, ..
                } => Resolved::Param { scope_id, index },
            });
        self.alias_cache.insert(key, Progress::Done(result.clone()));
        result
    }

    /// Resolves a name expression (`Foo`, `.Foo`, `Foo.Bar(Baz)`, `import "x"`) from node `n`.
    pub(crate) fn compile_decl_expr(
        &mut self,
        n: usize,
        scope: &Rc<BrandScope>,
        e: &Expr,
        implicit: &ImplicitParams,
    ) -> Option<BrandedDecl> {
        let file = self.nodes[n].file;
        match &e.kind {
            ExprKind::RelName(name) => {
                if let Some(i) = implicit.names.iter().position(|p| p == name) {
                    return Some(BrandedDecl::Param {
                        scope_id: implicit.scope_id,
                        index: i as u16,
                        span: e.span,
                    });
                }
                match self.resolve(n, name) {
                    Some(r) => Some(self.interpret_resolve(scope, r, e.span)),
                    None => {
                        self.error(
                            file,
                            e.span,
                            format!(
                                "Not defined: '{name}' (no declaration of that name is in scope)"
                            ),
                        );
                        None
                    }
                }
            }
            ExprKind::AbsName(name) => {
                let root = self.files[file].root;
                match self.resolve_member(root, name) {
                    Some(r) => Some(self.interpret_resolve(scope, r, e.span)),
                    None => {
                        self.error(file, e.span, format!("Not defined: '.{name}' (no declaration of that name at the top of this file)"));
                        None
                    }
                }
            }
            ExprKind::Import(name) => match self.resolve_import(file, name) {
                Some(f) => {
                    let root = self.files[f].root;
                    Some(BrandedDecl::Decl {
                        decl: self.decl_of_node(root),
                        brand: self.scope_for_node(root),
                        span: e.span,
                    })
                }
                None => {
                    self.error(file, e.span, format!("Import failed: \"{name}\" was not found (searched relative to this file for relative names, and the import paths for names starting with '/')"));
                    None
                }
            },
            ExprKind::Application(f, params) => {
                let decl = self.compile_decl_expr(n, scope, f, implicit)?;
                let mut compiled = Vec::new();
                let mut failed = false;
                for p in params {
                    if let Some((_, s)) = &p.name {
                        self.error(file, *s, "Named parameter not allowed here.");
                    }
                    match self.compile_decl_expr(n, scope, &p.value, implicit) {
                        Some(d) => compiled.push(d),
                        None => failed = true,
                    }
                }
                if failed {
                    return Some(decl);
                }
                match &decl {
                    BrandedDecl::Decl { decl: d, brand, .. } => {
                        match self.set_params(file, brand, compiled, d.kind, e.span) {
                            Some(b) => Some(BrandedDecl::Decl {
                                decl: d.clone(),
                                brand: b,
                                span: e.span,
                            }),
                            None => Some(decl),
                        }
                    }
                    BrandedDecl::Param { .. } => Some(decl),
                }
            }
            ExprKind::Member(parent, name, name_span) => {
                let p = self.compile_decl_expr(n, scope, parent, implicit)?;
                let found = match &p {
                    BrandedDecl::Decl { decl, brand, .. } => match decl.node {
                        Some(pn) => self.resolve_member(pn, name).map(|r| (r, brand.clone())),
                        None => None,
                    },
                    BrandedDecl::Param { .. } => None,
                };
                match found {
                    Some((r, brand)) => Some(self.interpret_resolve(&brand, r, e.span)),
                    None => {
                        let pt = self.text(file, parent.span);
                        self.error(
                            file,
                            *name_span,
                            format!("'{pt}' has no member named '{name}'"),
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    file,
                    e.span,
                    "Expected a name (a type or declaration), found a value.",
                );
                None
            }
        }
    }

    /// The type named by `e`, resolved from inside node `n`.
    pub(crate) fn compile_type(
        &mut self,
        n: usize,
        e: &Expr,
        implicit: &ImplicitParams,
    ) -> Option<Type> {
        let scope = self.scope_for_node(n);
        let file = self.nodes[n].file;
        let d = self.compile_decl_expr(n, &scope, e, implicit)?;
        self.compile_as_type(file, &d)
    }
}
