//! Choosing the nodes of the request (as the reference compiler's eager traversal does) and
//! writing the `CodeGeneratorRequest`.

use std::collections::HashMap;

use capnp::schema_capnp::{brand, code_generator_request, node, type_, value};

use crate::compiler::Compiler;
use crate::model::{
    AnnotationOut, AnyPtr, Body, Brand, FieldKind, NodeOut, SourceInfoOut, Type, Value,
};

const NODE: u32 = 1;
const PARENTS: u32 = 2;
const CHILDREN: u32 = 4;
const DEPENDENCIES: u32 = 1 << 15;
/// What `capnp compile` asks for: the files, everything in them, and the transitive
/// dependencies of those with their parents.
pub(crate) const EAGER: u32 = NODE | CHILDREN | DEPENDENCIES | (PARENTS * DEPENDENCIES);

/// The nodes chosen so far, in the order first reached.
#[derive(Default)]
pub(crate) struct Selection {
    pub order: Vec<usize>,
    included: std::collections::HashSet<usize>,
    /// Source infos by ID, the first added kept (parameter structs all have ID 0, as in the
    /// reference compiler, so only the first of them survives).
    pub infos: Vec<SourceInfoOut>,
    info_ids: std::collections::HashSet<u64>,
}

fn type_deps(t: &Type, out: &mut Vec<u64>) {
    match t {
        Type::List(e) => type_deps(e, out),
        Type::Enum(id, b) | Type::Struct(id, b) | Type::Interface(id, b) => {
            out.push(*id);
            brand_deps(b, out);
        }
        _ => {}
    }
}

fn brand_deps(b: &Option<Brand>, out: &mut Vec<u64>) {
    if let Some(b) = b {
        for s in &b.scopes {
            for t in s.bind.iter().flatten() {
                type_deps(t, out);
            }
        }
    }
}

fn node_deps(n: &NodeOut, out: &mut Vec<u64>) {
    match &n.body {
        Body::Struct(s) => {
            for f in &s.fields {
                if let FieldKind::Slot { ty, .. } = &f.kind {
                    type_deps(ty, out);
                }
                out.extend(f.annotations.iter().map(|a| a.id));
            }
        }
        Body::Enum(es) => {
            for e in es {
                out.extend(e.annotations.iter().map(|a| a.id));
            }
        }
        Body::Interface {
            methods,
            superclasses,
        } => {
            for (id, b) in superclasses {
                if *id != 0 {
                    out.push(*id);
                }
                brand_deps(b, out);
            }
            for m in methods {
                out.push(m.param_id);
                brand_deps(&m.param_brand, out);
                out.push(m.result_id);
                brand_deps(&m.result_brand, out);
                out.extend(m.annotations.iter().map(|a| a.id));
            }
        }
        Body::Const(t, _) | Body::Annotation(t, _) => type_deps(t, out),
        Body::File => {}
    }
    out.extend(n.annotations.iter().map(|a| a.id));
}

impl Compiler {
    /// Visits node `n` with the given eagerness, as `Compiler::Node::traverse` does.
    pub(crate) fn traverse(
        &mut self,
        n: usize,
        e: u32,
        seen: &mut HashMap<usize, u32>,
        sel: &mut Selection,
    ) {
        let slot = seen.entry(n).or_insert(0);
        if *slot & e == e {
            return;
        }
        *slot |= e;
        self.finish(n);
        if sel.included.insert(n) {
            sel.order.push(n);
        }
        if e / DEPENDENCIES != 0 {
            let new_e = (e & !(DEPENDENCIES - 1)) | (e / DEPENDENCIES);
            let mut deps = Vec::new();
            if let Some(w) = self.shape(n) {
                for (node, _) in &w.nodes {
                    node_deps(node, &mut deps);
                }
            }
            for id in deps {
                if let Some(&d) = self.node_by_id.get(&id) {
                    self.traverse(d, new_e, seen, sel);
                }
            }
        }
        if let Some(w) = self.shape(n) {
            for (_, info) in &w.nodes {
                if sel.info_ids.insert(info.id) {
                    sel.infos.push(info.clone());
                }
            }
        }
        if e & PARENTS != 0 {
            if let Some(p) = self.nodes[n].parent {
                self.traverse(p, e, seen, sel);
            }
        }
        if e & CHILDREN != 0 {
            for c in self.nodes[n].children.clone() {
                self.traverse(c, e, seen, sel);
            }
            let mut names: Vec<String> = self.nodes[n].aliases.keys().cloned().collect();
            names.sort();
            for name in names {
                self.resolve_member(n, &name);
            }
        }
    }

    /// The compiled nodes and source infos of the selection, values patched in.
    pub(crate) fn collect(&mut self, sel: &Selection) -> Vec<(NodeOut, SourceInfoOut)> {
        let mut out = Vec::new();
        for &n in &sel.order {
            let Some(w) = self.shape(n) else { continue };
            let mut w = w.clone();
            let values: Vec<Option<Value>> = w.pending.iter().map(|p| p.result.clone()).collect();
            for (node, _) in &mut w.nodes {
                patch_node(node, &values);
            }
            out.extend(w.nodes);
        }
        out
    }
}

fn patch(v: &mut Value, values: &[Option<Value>]) {
    if let Value::Pending(i) = v {
        if let Some(Some(r)) = values.get(*i) {
            *v = r.clone();
        } else {
            *v = Value::Void;
        }
    }
}

fn patch_anns(a: &mut [AnnotationOut], values: &[Option<Value>]) {
    for x in a {
        patch(&mut x.value, values);
    }
}

fn patch_node(n: &mut NodeOut, values: &[Option<Value>]) {
    patch_anns(&mut n.annotations, values);
    match &mut n.body {
        Body::Struct(s) => {
            for f in &mut s.fields {
                patch_anns(&mut f.annotations, values);
                if let FieldKind::Slot { default, .. } = &mut f.kind {
                    patch(default, values);
                }
            }
        }
        Body::Enum(es) => es
            .iter_mut()
            .for_each(|e| patch_anns(&mut e.annotations, values)),
        Body::Interface { methods, .. } => methods
            .iter_mut()
            .for_each(|m| patch_anns(&mut m.annotations, values)),
        Body::Const(_, v) => patch(v, values),
        _ => {}
    }
}

/// A requested file: its ID, name and import table.
pub(crate) type RequestedFile = (u64, String, Vec<(u64, String)>);

/// Writes the request.
pub(crate) fn write_request(
    req: &mut code_generator_request::Builder<'_>,
    nodes: &[(NodeOut, SourceInfoOut)],
    infos: &[SourceInfoOut],
    requested: &[RequestedFile],
) -> capnp::Result<()> {
    let mut v = req.reborrow().init_capnp_version();
    v.set_major(0);
    v.set_minor(9);
    v.set_micro(2);
    let mut list = req.reborrow().init_nodes(nodes.len() as u32);
    for (i, (n, _)) in nodes.iter().enumerate() {
        write_node(list.reborrow().get(i as u32), n)?;
    }
    let mut list = req.reborrow().init_source_info(infos.len() as u32);
    for (i, s) in infos.iter().enumerate() {
        let mut b = list.reborrow().get(i as u32);
        b.set_id(s.id);
        if let Some(d) = &s.doc {
            b.set_doc_comment(d.as_str());
        }
        if let Some(m) = &s.members {
            let mut ml = b.init_members(m.len() as u32);
            for (j, d) in m.iter().enumerate() {
                if let Some(d) = d {
                    ml.reborrow().get(j as u32).set_doc_comment(d.as_str());
                }
            }
        }
    }
    let mut files = req.reborrow().init_requested_files(requested.len() as u32);
    for (i, (id, name, imports)) in requested.iter().enumerate() {
        let mut f = files.reborrow().get(i as u32);
        f.set_id(*id);
        f.set_filename(name.as_str());
        let mut il = f.init_imports(imports.len() as u32);
        for (j, (iid, iname)) in imports.iter().enumerate() {
            let mut b = il.reborrow().get(j as u32);
            b.set_id(*iid);
            b.set_name(iname.as_str());
        }
    }
    Ok(())
}

fn write_node(mut b: node::Builder<'_>, n: &NodeOut) -> capnp::Result<()> {
    b.set_id(n.id);
    b.set_display_name(n.display_name.as_str());
    b.set_display_name_prefix_length(n.prefix_len);
    b.set_scope_id(n.scope_id);
    if let Some(nested) = &n.nested {
        let mut l = b.reborrow().init_nested_nodes(nested.len() as u32);
        for (i, (name, id)) in nested.iter().enumerate() {
            let mut x = l.reborrow().get(i as u32);
            x.set_name(name.as_str());
            x.set_id(*id);
        }
    }
    if !n.params.is_empty() {
        let mut l = b.reborrow().init_parameters(n.params.len() as u32);
        for (i, p) in n.params.iter().enumerate() {
            l.reborrow().get(i as u32).set_name(p.as_str());
        }
    }
    b.set_is_generic(n.is_generic);
    write_annotations(&mut b.reborrow(), &n.annotations)?;
    match &n.body {
        Body::File => b.set_file(()),
        Body::Struct(s) => {
            let mut sb = b.init_struct();
            sb.set_data_word_count(s.data_words);
            sb.set_pointer_count(s.pointers);
            sb.set_preferred_list_encoding(capnp::schema_capnp::ElementSize::InlineComposite);
            sb.set_is_group(s.is_group);
            sb.set_discriminant_count(s.discriminant_count);
            sb.set_discriminant_offset(s.discriminant_offset);
            if !s.fields.is_empty() {
                let mut fl = sb.init_fields(s.fields.len() as u32);
                for (i, f) in s.fields.iter().enumerate() {
                    let mut fb = fl.reborrow().get(i as u32);
                    fb.set_name(f.name.as_str());
                    fb.set_code_order(f.code_order);
                    fb.set_discriminant_value(f.discriminant);
                    if !f.annotations.is_empty() {
                        let mut al = fb.reborrow().init_annotations(f.annotations.len() as u32);
                        for (j, a) in f.annotations.iter().enumerate() {
                            write_annotation(al.reborrow().get(j as u32), a)?;
                        }
                    }
                    match &f.kind {
                        FieldKind::Slot {
                            offset,
                            ty,
                            default,
                            explicit,
                        } => {
                            let mut slot = fb.reborrow().init_slot();
                            slot.set_offset(*offset);
                            write_type(slot.reborrow().init_type(), ty);
                            write_value(slot.reborrow().init_default_value(), default)?;
                            slot.set_had_explicit_default(*explicit);
                        }
                        FieldKind::Group(id) => fb.reborrow().init_group().set_type_id(*id),
                    }
                    match f.ordinal {
                        Some(o) => fb.init_ordinal().set_explicit(o),
                        None => fb.init_ordinal().set_implicit(()),
                    }
                }
            }
        }
        Body::Enum(es) => {
            let mut l = b.init_enum().init_enumerants(es.len() as u32);
            for (i, e) in es.iter().enumerate() {
                let mut eb = l.reborrow().get(i as u32);
                eb.set_name(e.name.as_str());
                eb.set_code_order(e.code_order);
                if !e.annotations.is_empty() {
                    let mut al = eb.init_annotations(e.annotations.len() as u32);
                    for (j, a) in e.annotations.iter().enumerate() {
                        write_annotation(al.reborrow().get(j as u32), a)?;
                    }
                }
            }
        }
        Body::Interface {
            methods,
            superclasses,
        } => {
            let mut ib = b.init_interface();
            let mut ml = ib.reborrow().init_methods(methods.len() as u32);
            for (i, m) in methods.iter().enumerate() {
                let mut mb = ml.reborrow().get(i as u32);
                mb.set_name(m.name.as_str());
                mb.set_code_order(m.code_order);
                let mut ip = mb
                    .reborrow()
                    .init_implicit_parameters(m.implicit_params.len() as u32);
                for (j, p) in m.implicit_params.iter().enumerate() {
                    ip.reborrow().get(j as u32).set_name(p.as_str());
                }
                mb.set_param_struct_type(m.param_id);
                if let Some(br) = &m.param_brand {
                    write_brand(mb.reborrow().init_param_brand(), br);
                }
                mb.set_result_struct_type(m.result_id);
                if let Some(br) = &m.result_brand {
                    write_brand(mb.reborrow().init_result_brand(), br);
                }
                if !m.annotations.is_empty() {
                    let mut al = mb.init_annotations(m.annotations.len() as u32);
                    for (j, a) in m.annotations.iter().enumerate() {
                        write_annotation(al.reborrow().get(j as u32), a)?;
                    }
                }
            }
            let mut sl = ib.init_superclasses(superclasses.len() as u32);
            for (i, (id, br)) in superclasses.iter().enumerate() {
                let mut s = sl.reborrow().get(i as u32);
                s.set_id(*id);
                if let Some(br) = br {
                    write_brand(s.init_brand(), br);
                }
            }
        }
        Body::Const(t, v) => {
            let mut cb = b.init_const();
            write_type(cb.reborrow().init_type(), t);
            write_value(cb.init_value(), v)?;
        }
        Body::Annotation(t, targets) => {
            let mut ab = b.init_annotation();
            write_type(ab.reborrow().init_type(), t);
            ab.set_targets_file(targets[0]);
            ab.set_targets_const(targets[1]);
            ab.set_targets_enum(targets[2]);
            ab.set_targets_enumerant(targets[3]);
            ab.set_targets_struct(targets[4]);
            ab.set_targets_field(targets[5]);
            ab.set_targets_union(targets[6]);
            ab.set_targets_group(targets[7]);
            ab.set_targets_interface(targets[8]);
            ab.set_targets_method(targets[9]);
            ab.set_targets_param(targets[10]);
            ab.set_targets_annotation(targets[11]);
        }
    }
    Ok(())
}

fn write_annotations(b: &mut node::Builder<'_>, anns: &[AnnotationOut]) -> capnp::Result<()> {
    if anns.is_empty() {
        return Ok(());
    }
    let mut l = b.reborrow().init_annotations(anns.len() as u32);
    for (i, a) in anns.iter().enumerate() {
        write_annotation(l.reborrow().get(i as u32), a)?;
    }
    Ok(())
}

fn write_annotation(
    mut b: capnp::schema_capnp::annotation::Builder<'_>,
    a: &AnnotationOut,
) -> capnp::Result<()> {
    b.set_id(a.id);
    write_value(b.reborrow().init_value(), &a.value)?;
    if let Some(br) = &a.brand {
        write_brand(b.init_brand(), br);
    }
    Ok(())
}

fn write_brand(b: brand::Builder<'_>, br: &Brand) {
    if br.scopes.is_empty() {
        return;
    }
    let mut sl = b.init_scopes(br.scopes.len() as u32);
    for (i, s) in br.scopes.iter().enumerate() {
        let mut sb = sl.reborrow().get(i as u32);
        sb.set_scope_id(s.scope_id);
        match &s.bind {
            None => sb.set_inherit(()),
            Some(types) => {
                let mut bl = sb.init_bind(types.len() as u32);
                for (j, t) in types.iter().enumerate() {
                    write_type(bl.reborrow().get(j as u32).init_type(), t);
                }
            }
        }
    }
}

fn write_type(mut b: type_::Builder<'_>, t: &Type) {
    match t {
        Type::Void => b.set_void(()),
        Type::Bool => b.set_bool(()),
        Type::Int8 => b.set_int8(()),
        Type::Int16 => b.set_int16(()),
        Type::Int32 => b.set_int32(()),
        Type::Int64 => b.set_int64(()),
        Type::UInt8 => b.set_uint8(()),
        Type::UInt16 => b.set_uint16(()),
        Type::UInt32 => b.set_uint32(()),
        Type::UInt64 => b.set_uint64(()),
        Type::Float32 => b.set_float32(()),
        Type::Float64 => b.set_float64(()),
        Type::Text => b.set_text(()),
        Type::Data => b.set_data(()),
        Type::List(e) => write_type(b.init_list().init_element_type(), e),
        Type::Enum(id, br) => {
            let mut x = b.init_enum();
            x.set_type_id(*id);
            if let Some(br) = br {
                write_brand(x.init_brand(), br);
            }
        }
        Type::Struct(id, br) => {
            let mut x = b.init_struct();
            x.set_type_id(*id);
            if let Some(br) = br {
                write_brand(x.init_brand(), br);
            }
        }
        Type::Interface(id, br) => {
            let mut x = b.init_interface();
            x.set_type_id(*id);
            if let Some(br) = br {
                write_brand(x.init_brand(), br);
            }
        }
        Type::AnyPointer(a) => {
            let ap = b.init_any_pointer();
            match a {
                AnyPtr::AnyKind => ap.init_unconstrained().set_any_kind(()),
                AnyPtr::Struct => ap.init_unconstrained().set_struct(()),
                AnyPtr::List => ap.init_unconstrained().set_list(()),
                AnyPtr::Capability => ap.init_unconstrained().set_capability(()),
                AnyPtr::Parameter(s, i) => {
                    let mut p = ap.init_parameter();
                    p.set_scope_id(*s);
                    p.set_parameter_index(*i);
                }
                AnyPtr::Implicit(i) => ap.init_implicit_method_parameter().set_parameter_index(*i),
            }
        }
    }
}

fn set_pointer(
    mut b: capnp::any_pointer::Builder<'_>,
    words: &Option<Vec<capnp::Word>>,
) -> capnp::Result<()> {
    let Some(words) = words else {
        return Ok(());
    };
    let bytes = capnp::Word::words_to_bytes(words);
    let segs: [&[u8]; 1] = [bytes];
    let reader = capnp::message::Reader::new(
        capnp::message::SegmentArray::new(&segs),
        capnp::message::ReaderOptions::new(),
    );
    let root: capnp::any_pointer::Reader<'_> = reader.get_root()?;
    b.set_as(root)
}

fn write_value(mut b: value::Builder<'_>, v: &Value) -> capnp::Result<()> {
    match v {
        Value::Void | Value::Pending(_) => b.set_void(()),
        Value::Bool(x) => b.set_bool(*x),
        Value::Int8(x) => b.set_int8(*x),
        Value::Int16(x) => b.set_int16(*x),
        Value::Int32(x) => b.set_int32(*x),
        Value::Int64(x) => b.set_int64(*x),
        Value::UInt8(x) => b.set_uint8(*x),
        Value::UInt16(x) => b.set_uint16(*x),
        Value::UInt32(x) => b.set_uint32(*x),
        Value::UInt64(x) => b.set_uint64(*x),
        Value::Float32(x) => b.set_float32(*x),
        Value::Float64(x) => b.set_float64(*x),
        Value::Text(t) => match t {
            Some(t) => b.set_text(t.as_str()),
            None => null_member(b, "text")?,
        },
        Value::Data(d) => match d {
            Some(d) => b.set_data(d),
            None => null_member(b, "data")?,
        },
        Value::List(w) => set_pointer(b.init_list(), w)?,
        Value::Enum(x) => b.set_enum(*x),
        Value::Struct(w) => set_pointer(b.init_struct(), w)?,
        Value::Interface => b.set_interface(()),
        Value::AnyPointer(w) => set_pointer(b.init_any_pointer(), w)?,
    }
    Ok(())
}

/// Selects a pointer member of `Value`'s union and leaves it null ("no default").
fn null_member(b: value::Builder<'_>, name: &str) -> capnp::Result<()> {
    let dv: capnp::dynamic_value::Builder<'_> = b.into();
    let mut ds: capnp::dynamic_struct::Builder<'_> = dv.downcast();
    ds.clear_named(name)
}
