//! Name resolution and generic brands: turning a name expression into a declaration together
//! with the bindings of every generic scope around it, as the reference compiler does.

use std::rc::Rc;

use crate::ast::{Expr, ExprKind};
use crate::compiler::{Builtin, Compiler, Kind, Progress, Resolved, ResolvedDecl, BUILTINS};
use crate::model::{AnyPtr, Brand, BrandScopeOut, Type};

/// Generic parameters of the scopes around a reference: one level per generic declaration.
#[derive(Debug, Clone)]
pub(crate) struct BrandScope {
    parent: Option<Rc<BrandScope>>,
    leaf_id: u64,
    leaf_params: u32,
    inherited: bool,
    params: Vec<BrandedDecl>,
}

/// A declaration with its brand, or an unbound generic parameter.
#[derive(Debug, Clone)]
pub(crate) enum BrandedDecl {
    Decl {
        decl: ResolvedDecl,
        brand: Rc<BrandScope>,
        span: crate::error::Span,
    },
    Param {
        scope_id: u64,
        index: u16,
        span: crate::error::Span,
    },
}

/// Method-level generic parameters (`foo @0 [T] (...)`) visible while compiling a signature.
#[derive(Debug, Clone, Default)]
pub(crate) struct ImplicitParams {
    pub scope_id: u64,
    pub names: Vec<String>,
}

fn builtin_id(b: Builtin) -> u64 {
    1000 + BUILTINS.iter().position(|(_, x)| *x == b).unwrap_or(0) as u64
}

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

fn root_scope(leaf: u64) -> Rc<BrandScope> {
    Rc::new(BrandScope {
        parent: None,
        leaf_id: leaf,
        leaf_params: 0,
        inherited: false,
        params: Vec::new(),
    })
}

impl BrandedDecl {
    pub(crate) fn span(&self) -> crate::error::Span {
        match self {
            BrandedDecl::Decl { span, .. } | BrandedDecl::Param { span, .. } => *span,
        }
    }

    pub(crate) fn kind(&self) -> Option<Kind> {
        match self {
            BrandedDecl::Decl { decl, .. } => Some(decl.kind),
            BrandedDecl::Param { .. } => None,
        }
    }
}

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

    /// Whether the scope (or an enclosing one) has generic parameters.
    pub(crate) fn is_generic(scope: &BrandScope) -> bool {
        scope.leaf_params > 0 || scope.parent.as_ref().is_some_and(|p| Self::is_generic(p))
    }

    pub(crate) fn push_scope(scope: &Rc<BrandScope>, id: u64, count: u32) -> Rc<BrandScope> {
        Rc::new(BrandScope {
            parent: Some(scope.clone()),
            leaf_id: id,
            leaf_params: count,
            inherited: false,
            params: Vec::new(),
        })
    }

    /// Binds the leaf's parameters (`Foo(A, B)`); `None` (with an error) if they do not fit.
    pub(crate) fn set_params(
        &mut self,
        file: usize,
        scope: &Rc<BrandScope>,
        params: Vec<BrandedDecl>,
        kind: Kind,
        span: crate::error::Span,
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

    fn pop_scope(scope: &Rc<BrandScope>, leaf: u64) -> Rc<BrandScope> {
        if scope.leaf_id == leaf {
            return scope.clone();
        }
        match &scope.parent {
            Some(p) => Self::pop_scope(p, leaf),
            None => root_scope(leaf),
        }
    }

    fn lookup_parameter(scope: &BrandScope, scope_id: u64, index: u16) -> Option<BrandedDecl> {
        if scope.leaf_id == scope_id {
            if let Some(p) = scope.params.get(index as usize) {
                Some(p.clone())
            } else if scope.inherited {
                None
            } else {
                Some(BrandedDecl::Decl {
                    decl: builtin_decl(Builtin::AnyPointer),
                    brand: root_scope(0),
                    span: Default::default(),
                })
            }
        } else {
            scope
                .parent
                .as_ref()
                .and_then(|p| Self::lookup_parameter(p, scope_id, index))
        }
    }

    fn get_params(scope: &BrandScope, scope_id: u64) -> Option<Vec<BrandedDecl>> {
        if scope.leaf_id == scope_id {
            if scope.inherited {
                None
            } else {
                Some(scope.params.clone())
            }
        } else {
            scope
                .parent
                .as_ref()
                .and_then(|p| Self::get_params(p, scope_id))
        }
    }

    pub(crate) fn interpret_resolve(
        &mut self,
        scope: &Rc<BrandScope>,
        r: Resolved,
        span: crate::error::Span,
    ) -> BrandedDecl {
        match r {
            Resolved::Decl(decl) => {
                let s = Self::pop_scope(scope, decl.scope_id);
                let s = match &decl.brand {
                    Some(b) => self.evaluate_brand(&s, &decl, &b.scopes, 0),
                    None => Self::push_scope(&s, decl.id, decl.param_count),
                };
                BrandedDecl::Decl {
                    decl,
                    brand: s,
                    span,
                }
            }
            Resolved::Param { scope_id, index } => Self::lookup_parameter(scope, scope_id, index)
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
                    None => match Self::get_params(scope, decl.id) {
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
                return Self::lookup_parameter(scope, *id, *index).unwrap_or(BrandedDecl::Param {
                    scope_id: *id,
                    index: *index,
                    span: Default::default(),
                })
            }
            Type::AnyPointer(_) => Builtin::AnyPointer,
        };
        builtin(b)
    }

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
                    let params = Self::get_params(brand, decl.id).unwrap_or_default();
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
}
