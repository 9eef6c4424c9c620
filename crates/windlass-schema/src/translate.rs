//! Node translation: a declaration to its `Node` (and its groups or parameter structs), values
//! left pending until [`Compiler::finish`] evaluates them.

use crate::ast::{AnnotationApp, Decl, DeclId, DeclKind, Expr, ParamList};
use crate::brand::{BrandedDecl, ImplicitParams};
use crate::compiler::{Compiler, Kind, Progress};
use crate::error::Span;
use crate::ids;
use crate::model::{
    AnnotationOut, Body, EnumerantOut, MethodOut, NodeOut, SourceInfoOut, Type, Value,
};
use crate::structs::StructTranslator;

/// The annotation target a declaration is, by index into `ast::TARGET_NAMES`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    File = 0,
    Const = 1,
    Enum = 2,
    Enumerant = 3,
    Struct = 4,
    Field = 5,
    Union = 6,
    Group = 7,
    Interface = 8,
    Method = 9,
    Param = 10,
    Annotation = 11,
}

/// A value expression waiting to be evaluated against its type.
#[derive(Debug, Clone)]
pub(crate) struct PendingValue {
    pub expr: Expr,
    pub ty: Type,
    pub result: Option<Value>,
    pub done: bool,
}

/// A translated node: the node, its groups / parameter structs, and its pending values.
#[derive(Debug, Clone, Default)]
pub(crate) struct Work {
    pub nodes: Vec<(NodeOut, SourceInfoOut)>,
    pub pending: Vec<PendingValue>,
}

impl Work {
    pub(crate) fn pending(&mut self, expr: Expr, ty: Type) -> Value {
        self.pending.push(PendingValue {
            expr,
            ty,
            result: None,
            done: false,
        });
        Value::Pending(self.pending.len() - 1)
    }
}

/// Ordinals must run 0, 1, 2, ... with no gaps or repeats.
#[derive(Debug, Default)]
pub(crate) struct OrdinalChecker {
    expected: u64,
    last: Option<(u64, Span)>,
}

impl OrdinalChecker {
    pub(crate) fn check(&mut self, c: &mut Compiler, file: usize, v: u64, span: Span) {
        if v < self.expected {
            c.error(file, span, format!("Duplicate ordinal number @{v}."));
            if let Some((lv, ls)) = self.last.take() {
                c.error(file, ls, format!("Ordinal @{lv} originally used here."));
            }
        } else if v > self.expected {
            c.error(
                file,
                span,
                format!(
                    "Skipped ordinal @{}. Ordinals must be sequential with no holes (expected @{} here).",
                    self.expected, self.expected
                ),
            );
            self.expected = v + 1;
        } else {
            self.expected += 1;
            self.last = Some((v, span));
        }
    }
}

fn prefix_len(display_name: &str) -> u32 {
    let dot = display_name.rfind('.').map_or(0, |i| i + 1);
    let colon = display_name.rfind(':').map_or(0, |i| i + 1);
    dot.max(colon) as u32
}

impl Compiler {
    /// The translated form of node `n` (values possibly still pending); `None` on a cycle.
    pub(crate) fn shape(&mut self, n: usize) -> Option<&Work> {
        match self.translated.get(&n) {
            Some(Progress::Done(_)) => {}
            Some(Progress::InProgress) => return None,
            _ => {
                self.translated.insert(n, Progress::InProgress);
                let w = self.translate_node(n);
                for (node, _) in w.nodes.iter().skip(1) {
                    self.aux_owner.insert(node.id, n);
                }
                self.translated.insert(n, Progress::Done(w));
            }
        }
        match self.translated.get(&n) {
            Some(Progress::Done(w)) => Some(w),
            _ => None,
        }
    }

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

    /// An annotation declaration's type and targets.
    pub(crate) fn annotation_info(&mut self, a: usize) -> Option<(Type, [bool; 12])> {
        let (ty, targets) = match &self.nodes[a].decl.kind {
            DeclKind::Annotation { ty, targets } => (ty.clone(), *targets),
            _ => return None,
        };
        let t = self.compile_type(a, &ty, &ImplicitParams::default())?;
        Some((t, targets))
    }

    pub(crate) fn compile_annotations(
        &mut self,
        n: usize,
        apps: &[AnnotationApp],
        target: Target,
        work: &mut Work,
    ) -> Vec<AnnotationOut> {
        let file = self.nodes[n].file;
        let mut out = Vec::new();
        for app in apps {
            let mut ann = AnnotationOut {
                id: 0,
                brand: Some(Default::default()),
                value: Value::Void,
            };
            let scope = self.scope_for_node(n);
            let name_text = self.text(file, app.name.span);
            if let Some(d) =
                self.compile_decl_expr(n, &scope, &app.name, &ImplicitParams::default())
            {
                match &d {
                    BrandedDecl::Decl { decl, .. } if decl.kind == Kind::Annotation => {
                        let (id, brand) = self.id_and_brand(file, &d);
                        ann.id = id;
                        ann.brand = Some(brand.unwrap_or_default());
                        if let Some((ty, targets)) = decl.node.and_then(|a| self.annotation_info(a))
                        {
                            if !targets[target as usize] {
                                self.error(file, app.name.span, format!("'{name_text}' cannot be applied to this kind of declaration (a {}).", crate::ast::TARGET_NAMES[target as usize]));
                            }
                            match &app.value {
                                None => {
                                    if ty != Type::Void {
                                        self.error(
                                            file,
                                            app.name.span,
                                            format!("'{name_text}' requires a value."),
                                        );
                                        ann.value = crate::values::default_default(&ty);
                                    }
                                }
                                Some(v) => ann.value = work.pending(v.clone(), ty),
                            }
                        }
                    }
                    _ => self.error(
                        file,
                        app.name.span,
                        format!("'{name_text}' is not an annotation."),
                    ),
                }
            }
            out.push(ann);
        }
        out
    }

    fn check_names(&mut self, n: usize) {
        let file = self.nodes[n].file;
        let mut seen: std::collections::HashMap<String, Span> = Default::default();
        let mut decls: Vec<(String, Span, bool, Option<bool>)> = Vec::new();
        for &c in &self.nodes[n].children {
            let d = &self.nodes[c].decl;
            decls.push((d.name.clone(), d.name_span, false, Some(true)));
        }
        fn walk(ds: &[Decl], out: &mut Vec<(String, Span, bool, Option<bool>)>) {
            for d in ds {
                let is_type = match &d.kind {
                    DeclKind::Using(_) => None,
                    _ => Some(false),
                };
                out.push((
                    d.name.clone(),
                    d.name_span,
                    matches!(d.kind, DeclKind::Union),
                    is_type,
                ));
                if matches!(d.kind, DeclKind::Union) && d.name.is_empty() {
                    walk(&d.nested, out);
                }
            }
        }
        walk(&self.nodes[n].decl.nested, &mut decls);
        for (name, span, is_union, _) in decls {
            if let Some(prev) = seen.get(&name).copied() {
                if name.is_empty() && is_union {
                    self.error(
                        file,
                        span,
                        "An unnamed union is already defined in this scope.",
                    );
                } else {
                    self.error(
                        file,
                        span,
                        format!("'{name}' is already defined in this scope."),
                    );
                    self.error(file, prev, format!("'{name}' previously defined here."));
                }
            } else {
                seen.insert(name.clone(), span);
            }
            if name.contains('_') {
                self.error(file, span, "Cap'n Proto declaration names should use camelCase and must not contain underscores. (Code generators may convert names to the appropriate style for the target language.)");
            }
        }
    }

    fn translate_node(&mut self, n: usize) -> Work {
        self.check_names(n);
        let file = self.nodes[n].file;
        let node = &self.nodes[n];
        let decl = node.decl.clone();
        let scope = self.scope_for_node(n);
        let out = NodeOut {
            id: node.id,
            prefix_len: prefix_len(&node.display_name),
            display_name: node.display_name.clone(),
            scope_id: node.parent.map_or(0, |p| self.nodes[p].id),
            nested: Some(
                node.children
                    .iter()
                    .map(|&c| (self.nodes[c].decl.name.clone(), self.nodes[c].id))
                    .collect(),
            ),
            annotations: Vec::new(),
            params: decl.params.iter().map(|(p, _)| p.clone()).collect(),
            is_generic: Self::is_generic(&scope),
            body: Body::File,
        };
        let info = SourceInfoOut {
            id: node.id,
            doc: decl.doc.clone(),
            members: None,
        };
        let mut work = Work {
            nodes: vec![(out, info)],
            pending: Vec::new(),
        };
        let target = match &decl.kind {
            DeclKind::File => Target::File,
            DeclKind::Const { ty, value } => {
                let t = self.compile_type(n, ty, &ImplicitParams::default());
                let body = match t {
                    Some(t) => {
                        let v = work.pending(value.clone(), t.clone());
                        Body::Const(t, v)
                    }
                    None => Body::Const(Type::Void, Value::Void),
                };
                work.nodes[0].0.body = body;
                Target::Const
            }
            DeclKind::Annotation { targets, .. } => {
                let t = self.annotation_info(n).map_or(Type::Void, |(t, _)| t);
                work.nodes[0].0.body = Body::Annotation(t, *targets);
                Target::Annotation
            }
            DeclKind::Enum => {
                self.translate_enum(n, &decl, &mut work);
                Target::Enum
            }
            DeclKind::Struct => {
                work.nodes[0].0.body = Body::Struct(Default::default());
                StructTranslator::new(self, n, &mut work, 0, ImplicitParams::default())
                    .translate_struct(&decl.nested);
                Target::Struct
            }
            DeclKind::Interface { superclasses } => {
                self.translate_interface(n, &decl, superclasses, &mut work);
                Target::Interface
            }
            _ => Target::File,
        };
        let anns = self.compile_annotations(n, &decl.annotations, target, &mut work);
        work.nodes[0].0.annotations = anns;
        let _ = file;
        work
    }

    fn translate_enum(&mut self, n: usize, decl: &Decl, work: &mut Work) {
        let file = self.nodes[n].file;
        let mut list: Vec<(u64, u16, &Decl)> = Vec::new();
        for (code, d) in decl
            .nested
            .iter()
            .filter(|d| d.kind == DeclKind::Enumerant)
            .enumerate()
        {
            let ord = match d.id {
                DeclId::Ordinal(o, _) => o,
                _ => 0,
            };
            list.push((ord, code as u16, d));
        }
        list.sort_by_key(|(o, _, _)| *o);
        let mut check = OrdinalChecker::default();
        let mut out = Vec::new();
        let mut docs = Vec::new();
        for (ord, code, d) in list {
            if let DeclId::Ordinal(_, span) = d.id {
                check.check(self, file, ord, span);
            }
            docs.push(d.doc.clone());
            let anns = self.compile_annotations(n, &d.annotations, Target::Enumerant, work);
            out.push(EnumerantOut {
                name: d.name.clone(),
                code_order: code,
                annotations: anns,
            });
        }
        work.nodes[0].0.body = Body::Enum(out);
        work.nodes[0].1.members = Some(docs);
    }

    fn translate_interface(&mut self, n: usize, decl: &Decl, supers: &[Expr], work: &mut Work) {
        let file = self.nodes[n].file;
        let scope = self.scope_for_node(n);
        let mut superclasses = Vec::new();
        for s in supers {
            let mut entry = (0, None);
            if let Some(d) = self.compile_decl_expr(n, &scope, s, &ImplicitParams::default()) {
                let text = self.text(file, s.span);
                match d.kind() {
                    Some(Kind::Interface) => entry = self.id_and_brand(file, &d),
                    Some(_) => self.error(file, s.span, format!("'{text}' is not an interface.")),
                    None => self.error(file, s.span, format!("'{text}' is an unbound generic parameter; extending one is not supported.")),
                }
            }
            superclasses.push(entry);
        }
        let mut list: Vec<(u64, u16, &Decl)> = Vec::new();
        for (code, d) in decl
            .nested
            .iter()
            .filter(|d| matches!(d.kind, DeclKind::Method { .. }))
            .enumerate()
        {
            let ord = match d.id {
                DeclId::Ordinal(o, _) => o,
                _ => 0,
            };
            list.push((ord, code as u16, d));
        }
        list.sort_by_key(|(o, _, _)| *o);
        let mut check = OrdinalChecker::default();
        let mut methods = Vec::new();
        let mut docs = Vec::new();
        for (ord, code, d) in list {
            if let DeclId::Ordinal(_, span) = d.id {
                check.check(self, file, ord, span);
            }
            docs.push(d.doc.clone());
            let DeclKind::Method { params, results } = &d.kind else {
                continue;
            };
            let implicit: Vec<String> = d.params.iter().map(|(p, _)| p.clone()).collect();
            if let ParamList::Stream(span) = params {
                self.error(
                    file,
                    *span,
                    "'stream' can only appear after '->', not before.",
                );
            }
            let (param_id, param_brand) =
                self.compile_param_list(n, &d.name, ord as u16, false, params, &implicit, work);
            let empty = ParamList::Named(Vec::new(), d.span);
            let results = results.as_ref().unwrap_or(&empty);
            let (result_id, result_brand) =
                self.compile_param_list(n, &d.name, ord as u16, true, results, &implicit, work);
            let anns = self.compile_annotations(n, &d.annotations, Target::Method, work);
            methods.push(MethodOut {
                name: d.name.clone(),
                code_order: code,
                implicit_params: implicit,
                param_id,
                param_brand,
                result_id,
                result_brand,
                annotations: anns,
            });
        }
        work.nodes[0].0.body = Body::Interface {
            methods,
            superclasses,
        };
        work.nodes[0].1.members = Some(docs);
    }

    #[allow(clippy::too_many_arguments)]
    fn compile_param_list(
        &mut self,
        n: usize,
        method: &str,
        ordinal: u16,
        is_results: bool,
        list: &ParamList,
        implicit: &[String],
        work: &mut Work,
    ) -> (u64, Option<crate::model::Brand>) {
        let file = self.nodes[n].file;
        match list {
            ParamList::Named(params, _) => {
                let parent = &work.nodes[0].0;
                let type_name = format!(
                    "{method}{}",
                    if is_results { "$Results" } else { "$Params" }
                );
                let id = ids::method_params_id(parent.id, ordinal, is_results);
                let display_name = format!("{}.{}", parent.display_name, type_name);
                let node = NodeOut {
                    id,
                    prefix_len: (display_name.len() - type_name.len()) as u32,
                    display_name,
                    scope_id: 0,
                    nested: None,
                    annotations: Vec::new(),
                    params: implicit.to_vec(),
                    is_generic: parent.is_generic || !implicit.is_empty(),
                    body: Body::Struct(Default::default()),
                };
                work.nodes.push((
                    node,
                    SourceInfoOut {
                        id: 0,
                        doc: None,
                        members: None,
                    },
                ));
                let root = work.nodes.len() - 1;
                let imp = ImplicitParams {
                    scope_id: id,
                    names: implicit.to_vec(),
                };
                StructTranslator::new(self, n, work, root, imp).translate_params(params);
                let scope = self.scope_for_node(n);
                // The reference compiler binds the implicit parameters on a copy of this scope
                // and then drops it, so the brand only carries the enclosing scopes.
                let brand = Self::push_scope(&scope, id, implicit.len() as u32);
                (id, self.compile_brand(file, &brand))
            }
            ParamList::Type(e) => {
                let scope = self.scope_for_node(n);
                let imp = ImplicitParams {
                    scope_id: 0,
                    names: implicit.to_vec(),
                };
                let text = self.text(file, e.span);
                match self.compile_decl_expr(n, &scope, e, &imp) {
                    Some(d) => match d.kind() {
                        Some(Kind::Struct) => self.id_and_brand(file, &d),
                        Some(_) => {
                            self.error(file, e.span, format!("'{text}' is not a struct type."));
                            (0, None)
                        }
                        None => {
                            self.error(file, e.span, "Cannot use a generic parameter as the whole input or output of a method. Instead, use a parameter/result list containing a field with this type.");
                            (0, None)
                        }
                    },
                    None => (0, None),
                }
            }
            ParamList::Stream(span) => {
                match self.resolve_import(file, "/capnp/stream.capnp") {
                    Some(f) => {
                        let root = self.files[f].root;
                        if self.resolve_member(root, "StreamResult").is_none() {
                            self.error(file, *span, "The '/capnp/stream.capnp' found in the import path does not declare StreamResult.");
                        }
                    }
                    None => self.error(file, *span, "A method uses streaming, but '/capnp/stream.capnp' was not found in the import path."),
                }
                (crate::stdlib::STREAM_RESULT_ID, None)
            }
        }
    }
}
