//! Struct translation: members in ordinal order, field placement, unions, groups and their IDs,
//! in the same order and with the same numbering as the reference compiler.

use crate::ast::{AnnotationApp, Decl, DeclId, DeclKind, Expr, ExprKind, ParamDecl};
use crate::brand::ImplicitParams;
use crate::compiler::Compiler;
use crate::error::Span;
use crate::ids;
use crate::layout::{Layout, Scope};
use crate::model::{
    default_default, Body, FieldKind, FieldOut, NodeOut, SourceInfoOut, StructOut, Type, Value,
};
use crate::work::{OrdinalChecker, Target, Work};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MKind {
    Root,
    Field,
    Union,
    Group,
}

#[derive(Debug)]
struct Member {
    parent: Option<usize>,
    code_order: u16,
    index: u16,
    child_count: u16,
    child_initialized: u16,
    union_discriminant_count: u16,
    is_in_union: bool,
    name: String,
    decl_id: DeclId,
    kind: MKind,
    is_param: bool,
    field_type: Option<Expr>,
    default: Option<Expr>,
    annotations: Vec<AnnotationApp>,
    span: Span,
    doc: Option<String>,
    schema: Option<u16>,
    /// For root/union/group: the struct node index in `nodes`.
    node: Option<usize>,
    field_scope: Scope,
    union_scope: Option<usize>,
}

/// One struct (or parameter struct) being translated, with its groups.
pub(crate) struct StructTranslator<'a> {
    c: &'a mut Compiler,
    n: usize,
    work: &'a mut Work,
    implicit: ImplicitParams,
    layout: Layout,
    members: Vec<Member>,
    by_ordinal: Vec<(u64, usize)>,
    all: Vec<usize>,
    /// Index of the root struct node in `work.nodes`; groups follow as added.
    nodes: Vec<usize>,
}

fn member(parent: Option<usize>, code_order: u16, kind: MKind, scope: Scope) -> Member {
    Member {
        parent,
        code_order,
        index: 0,
        child_count: 0,
        child_initialized: 0,
        union_discriminant_count: 0,
        is_in_union: false,
        name: String::new(),
        decl_id: DeclId::Unspecified,
        kind,
        is_param: false,
        field_type: None,
        default: None,
        annotations: Vec::new(),
        span: Span::default(),
        doc: None,
        schema: None,
        node: None,
        field_scope: scope,
        union_scope: None,
    }
}

impl<'a> StructTranslator<'a> {
    pub(crate) fn new(
        c: &'a mut Compiler,
        n: usize,
        work: &'a mut Work,
        root_node: usize,
        implicit: ImplicitParams,
    ) -> Self {
        let mut root = member(None, 0, MKind::Root, Scope::Top);
        root.node = Some(0);
        StructTranslator {
            c,
            n,
            work,
            implicit,
            layout: Layout::default(),
            members: vec![root],
            by_ordinal: Vec::new(),
            all: Vec::new(),
            nodes: vec![root_node],
        }
    }

    fn file(&self) -> usize {
        self.c.nodes[self.n].file
    }

    fn member_from_decl(
        &mut self,
        parent: usize,
        code_order: u16,
        d: &Decl,
        kind: MKind,
        scope: Scope,
        in_union: bool,
    ) -> usize {
        let mut m = member(Some(parent), code_order, kind, scope);
        m.is_in_union = in_union;
        m.name = d.name.clone();
        m.decl_id = d.id;
        m.annotations = d.annotations.clone();
        m.span = d.span;
        m.doc = d.doc.clone();
        if let DeclKind::Field { ty, default } = &d.kind {
            m.field_type = Some(ty.clone());
            m.default = default.clone();
        }
        self.members.push(m);
        self.members.len() - 1
    }

    /// Translates a struct declaration's members.
    pub(crate) fn translate_struct(mut self, members: &[Decl]) {
        self.traverse_top_or_group(members, 0, Scope::Top);
        self.translate_internal();
    }

    /// Translates a method's named parameter list.
    pub(crate) fn translate_params(mut self, params: &[ParamDecl]) {
        for (i, p) in params.iter().enumerate() {
            self.members[0].child_count += 1;
            let mut m = member(Some(0), i as u16, MKind::Field, Scope::Top);
            m.name = p.name.clone();
            m.is_param = true;
            m.field_type = Some(p.ty.clone());
            m.default = p.default.clone();
            m.annotations = p.annotations.clone();
            m.span = p.name_span;
            self.members.push(m);
            let idx = self.members.len() - 1;
            self.all.push(idx);
            self.by_ordinal.push((i as u64, idx));
        }
        self.translate_internal();
    }

    fn new_group_node(&mut self, parent_member: usize, name: &str) -> usize {
        let parent_node = self.nodes[self.members[parent_member].node.unwrap_or(0)];
        let parent = &self.work.nodes[parent_node].0;
        let display_name = format!("{}.{}", parent.display_name, name);
        let node = NodeOut {
            id: 0,
            prefix_len: (display_name.len() - name.len()) as u32,
            display_name,
            scope_id: 0,
            nested: None,
            annotations: Vec::new(),
            params: Vec::new(),
            is_generic: parent.is_generic,
            body: Body::Struct(StructOut {
                is_group: true,
                ..Default::default()
            }),
        };
        self.work.nodes.push((node, SourceInfoOut::default()));
        self.nodes.push(self.work.nodes.len() - 1);
        self.nodes.len() - 1
    }

    fn traverse_union(
        &mut self,
        decl: &Decl,
        members: &[Decl],
        parent: usize,
        u: usize,
        code_order: &mut u16,
    ) {
        if members.len() < 2 {
            let f = self.file();
            self.c
                .error(f, decl.span, "Union must have at least two members.");
        }
        for m in members {
            let mut ordinal = None;
            match &m.kind {
                DeclKind::Field { .. } => {
                    self.members[parent].child_count += 1;
                    let g = self.layout.new_group(u);
                    let idx = self.member_from_decl(parent, *code_order, m, MKind::Field, g, true);
                    *code_order += 1;
                    self.all.push(idx);
                    if let DeclId::Ordinal(o, _) = m.id {
                        ordinal = Some((o, idx));
                    }
                }
                DeclKind::Union => {
                    if m.name.is_empty() {
                        let f = self.file();
                        self.c
                            .error(f, m.span, "Unions cannot contain unnamed unions.");
                        continue;
                    }
                    self.members[parent].child_count += 1;
                    let g = self.layout.new_group(u);
                    let inner = self.layout.new_union(g);
                    let idx = self.member_from_decl(parent, *code_order, m, MKind::Union, g, true);
                    *code_order += 1;
                    let node = self.new_group_node(parent, &m.name);
                    self.members[idx].node = Some(node);
                    self.all.push(idx);
                    self.members[idx].union_scope = Some(inner);
                    let mut sub = 0;
                    self.traverse_union(m, &m.nested, idx, inner, &mut sub);
                    if let DeclId::Ordinal(o, _) = m.id {
                        ordinal = Some((o, idx));
                    }
                }
                DeclKind::Group => {
                    self.members[parent].child_count += 1;
                    let g = self.layout.new_group(u);
                    let idx = self.member_from_decl(parent, *code_order, m, MKind::Group, g, true);
                    *code_order += 1;
                    let node = self.new_group_node(parent, &m.name);
                    self.members[idx].node = Some(node);
                    self.all.push(idx);
                    self.traverse_group(m, &m.nested, idx, g);
                }
                _ => {}
            }
            if let Some(o) = ordinal {
                self.by_ordinal.push(o);
            }
        }
    }

    fn traverse_group(&mut self, decl: &Decl, members: &[Decl], parent: usize, scope: Scope) {
        if members.is_empty() {
            let f = self.file();
            self.c
                .error(f, decl.span, "Group must have at least one member.");
        }
        self.traverse_top_or_group(members, parent, scope);
    }

    fn traverse_top_or_group(&mut self, members: &[Decl], parent: usize, scope: Scope) {
        let mut code_order: u16 = 0;
        for m in members {
            let mut ordinal = None;
            match &m.kind {
                DeclKind::Field { .. } => {
                    self.members[parent].child_count += 1;
                    let idx =
                        self.member_from_decl(parent, code_order, m, MKind::Field, scope, false);
                    code_order += 1;
                    self.all.push(idx);
                    if let DeclId::Ordinal(o, _) = m.id {
                        ordinal = Some((o, idx));
                    }
                }
                DeclKind::Union => {
                    let u = self.layout.new_union(scope);
                    let idx = if m.name.is_empty() {
                        parent
                    } else {
                        self.members[parent].child_count += 1;
                        let idx = self.member_from_decl(
                            parent,
                            code_order,
                            m,
                            MKind::Union,
                            scope,
                            false,
                        );
                        code_order += 1;
                        let node = self.new_group_node(parent, &m.name);
                        self.members[idx].node = Some(node);
                        self.all.push(idx);
                        idx
                    };
                    self.members[idx].union_scope = Some(u);
                    if idx == parent {
                        self.traverse_union(m, &m.nested, idx, u, &mut code_order);
                    } else {
                        let mut sub = 0;
                        self.traverse_union(m, &m.nested, idx, u, &mut sub);
                    }
                    if let DeclId::Ordinal(o, _) = m.id {
                        ordinal = Some((o, idx));
                    }
                }
                DeclKind::Group => {
                    self.members[parent].child_count += 1;
                    let idx =
                        self.member_from_decl(parent, code_order, m, MKind::Group, scope, false);
                    code_order += 1;
                    let node = self.new_group_node(parent, &m.name);
                    self.members[idx].node = Some(node);
                    self.all.push(idx);
                    self.traverse_group(m, &m.nested, idx, scope);
                }
                _ => {}
            }
            if let Some(o) = ordinal {
                self.by_ordinal.push(o);
            }
        }
    }

    fn struct_mut(&mut self, node: usize) -> &mut StructOut {
        let wi = self.nodes[node];
        match &mut self.work.nodes[wi].0.body {
            Body::Struct(s) => s,
            _ => unreachable_struct(),
        }
    }

    fn field_mut(&mut self, m: usize) -> &mut FieldOut {
        let idx = self.get_schema(m) as usize;
        let parent = self.members[m].parent.unwrap_or(0);
        let node = self.members[parent].node.unwrap_or(0);
        &mut self.struct_mut(node).fields[idx]
    }

    fn get_schema(&mut self, m: usize) -> u16 {
        if let Some(s) = self.members[m].schema {
            return s;
        }
        let Some(parent) = self.members[m].parent else {
            return 0;
        };
        let index = self.members[parent].child_initialized;
        self.members[m].index = index;
        self.add_member_schema(parent);
        let disc = if self.members[m].is_in_union {
            let d = self.members[parent].union_discriminant_count;
            self.members[parent].union_discriminant_count += 1;
            d
        } else {
            0xffff
        };
        let name = self.members[m].name.clone();
        let code_order = self.members[m].code_order;
        let doc = self.members[m].doc.clone();
        let node = self.members[parent].node.unwrap_or(0);
        let f = &mut self.struct_mut(node).fields[index as usize];
        f.name = name;
        f.code_order = code_order;
        f.discriminant = disc;
        let wi = self.nodes[node];
        if let Some(members) = &mut self.work.nodes[wi].1.members {
            if let Some(slot) = members.get_mut(index as usize) {
                *slot = doc;
            }
        }
        self.members[m].schema = Some(index);
        index
    }

    fn add_member_schema(&mut self, p: usize) {
        let node = self.members[p].node.unwrap_or(0);
        let count = self.members[p].child_count as usize;
        if self.struct_mut(node).fields.is_empty()
            && count > 0
            && self.members[p].child_initialized == 0
        {
            if self.members[p].parent.is_some() {
                self.get_schema(p);
            }
            let blank = FieldOut {
                name: String::new(),
                code_order: 0,
                annotations: Vec::new(),
                discriminant: 0xffff,
                kind: FieldKind::Slot {
                    offset: 0,
                    ty: Type::Void,
                    default: Value::Void,
                    explicit: false,
                },
                ordinal: None,
            };
            self.struct_mut(node).fields = vec![blank; count];
            let wi = self.nodes[node];
            self.work.nodes[wi].1.members = Some(vec![None; count]);
        }
        self.members[p].child_initialized += 1;
    }

    fn finish_group(&mut self, m: usize) {
        if let Some(u) = self.members[m].union_scope {
            self.layout.add_discriminant(u);
            let count = self.members[m].union_discriminant_count;
            let off = self.layout.discriminant_offset(u);
            let node = self.members[m].node.unwrap_or(0);
            let s = self.struct_mut(node);
            s.discriminant_count = count;
            s.discriminant_offset = off;
        }
        if let Some(p) = self.members[m].parent {
            self.get_schema(m);
            let parent_node = self.nodes[self.members[p].node.unwrap_or(0)];
            let parent_id = self.work.nodes[parent_node].0.id;
            let gid = ids::group_id(parent_id, self.members[m].index);
            let wi = self.nodes[self.members[m].node.unwrap_or(0)];
            self.work.nodes[wi].0.id = gid;
            self.work.nodes[wi].0.scope_id = parent_id;
            self.work.nodes[wi].1.id = gid;
            self.work.nodes[wi].1.doc = self.members[m].doc.clone();
            self.field_mut(m).kind = FieldKind::Group(gid);
        }
    }

    fn translate_internal(&mut self) {
        let file = self.file();
        self.by_ordinal.sort_by_key(|(o, _)| *o);
        let mut dup = OrdinalChecker::default();
        let entries = self.by_ordinal.clone();
        for (ord, m) in entries {
            if let DeclId::Ordinal(v, span) = self.members[m].decl_id {
                dup.check(v, span, |at, msg| self.c.error(file, at, msg));
            }
            self.get_schema(m);
            self.field_mut(m).ordinal = Some(ord as u16);
            match self.members[m].kind {
                MKind::Field => self.translate_field(m),
                MKind::Union => {
                    let u = self.members[m].union_scope.unwrap_or(0);
                    if !self.layout.add_discriminant(u) {
                        let span = match self.members[m].decl_id {
                            DeclId::Ordinal(_, s) => s,
                            _ => self.members[m].span,
                        };
                        self.c.error(file, span, "Union ordinal, if specified, must be greater than no more than one of its member ordinals (i.e. there can only be one field retroactively unionized).");
                    }
                }
                _ => {}
            }
        }
        self.finish_group(0);
        for m in self.all.clone() {
            let target = if self.members[m].is_param {
                Target::Param
            } else {
                match self.members[m].kind {
                    MKind::Union => {
                        self.finish_group(m);
                        Target::Union
                    }
                    MKind::Group => {
                        self.finish_group(m);
                        Target::Group
                    }
                    _ => Target::Field,
                }
            };
            let apps = self.members[m].annotations.clone();
            let anns = self.c.compile_annotations(self.n, &apps, target, self.work);
            self.field_mut(m).annotations = anns;
        }
        let (dw, pc) = (self.layout.data_words as u16, self.layout.pointers as u16);
        for i in 0..self.nodes.len() {
            let s = self.struct_mut(i);
            s.data_words = dw;
            s.pointers = pc;
        }
    }

    fn translate_field(&mut self, m: usize) {
        let n = self.n;
        let file = self.file();
        let Some(ty_expr) = self.members[m].field_type.clone() else {
            return;
        };
        let scope = self.c.scope_for_node(n);
        let ty = self
            .c
            .compile_decl_expr(n, &scope, &ty_expr, &self.implicit)
            .and_then(|d| self.c.compile_as_type(file, &d));
        let (ty, ok) = match ty {
            Some(t) => (t, true),
            None => (Type::Void, false),
        };
        let mut explicit = false;
        let default = match (&self.members[m].default, ok) {
            (Some(d), true) => {
                explicit = true;
                let is_null = matches!(&d.kind, ExprKind::RelName(x) if x == "null");
                if self.members[m].is_param && is_null {
                    if !ty.is_pointer() {
                        self.c.error(
                            file,
                            d.span,
                            "Only pointer parameters can declare their default as 'null'.",
                        );
                    }
                    default_default(&ty)
                } else {
                    self.work.pending(d.clone(), ty.clone())
                }
            }
            _ => default_default(&ty),
        };
        let scope = self.members[m].field_scope;
        let offset = match ty.data_lg_size() {
            None => self.layout.add_pointer(scope),
            Some(-1) => {
                self.layout.add_void(scope);
                0
            }
            Some(lg) => self.layout.add_data(scope, lg as u32),
        };
        self.field_mut(m).kind = FieldKind::Slot {
            offset,
            ty,
            default,
            explicit,
        };
    }
}

fn unreachable_struct() -> ! {
    // Every node a StructTranslator touches was created as a struct by it or its caller.
    panic!("internal error: struct translator node is not a struct")
}
