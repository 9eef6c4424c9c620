//! Node translation: a declaration to its `Node` (and its groups or parameter structs), values
//! left pending until [`Compiler::finish`] evaluates them. Struct bodies are translated by
//! `structs`, annotations by `annotations`.

use crate::ast::{Decl, DeclId, DeclKind, Expr, ParamList};
use crate::brand::{BrandScope, ImplicitParams};
use crate::compiler::Compiler;
use crate::error::Span;
use crate::model::{
    display_prefix_len, Body, Brand, EnumerantOut, MethodOut, NodeOut, SourceInfoOut, Type, Value,
};
use crate::names::Kind;
use crate::structs::StructTranslator;
use crate::work::{OrdinalChecker, Progress, Target, Work};
use crate::{ids, stdlib};

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
            prefix_len: display_prefix_len(&node.display_name) as u32,
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
            is_generic: scope.is_generic(),
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
                check.check(ord, span, |at, msg| self.error(file, at, msg));
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
                check.check(ord, span, |at, msg| self.error(file, at, msg));
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
    ) -> (u64, Option<Brand>) {
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
                let brand = BrandScope::push(&scope, id, implicit.len() as u32);
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
                (stdlib::STREAM_RESULT_ID, None)
            }
        }
    }
}
