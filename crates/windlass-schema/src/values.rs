//! Values: evaluating literal expressions against their types (defaults, constants, annotation
//! values); pointer values are then encoded by `encode`.

use crate::ast::{DeclKind, Expr, ExprKind, Param};
use crate::brand::{through_brand, BrandedDecl, ImplicitParams};
use crate::compiler::{Compiler, SourceDir};
use crate::encode::{encode_root, write_bits, Img, TV};
use crate::model::{
    default_default, display_prefix_len, AnyPtr, Body, Brand, FieldKind, StructOut, Type, Value,
};
use crate::names::Kind;
use crate::work::Progress;

fn raw_bits(tv: &TV, ty: &Type) -> u64 {
    match (tv, ty) {
        (TV::Bool(b), _) => u64::from(*b),
        (TV::Enum(_, v), _) => u64::from(*v),
        (TV::Int(v), Type::Float32) => u64::from((*v as f32).to_bits()),
        (TV::Int(v), Type::Float64) => (*v as f64).to_bits(),
        (TV::UInt(v), Type::Float32) => u64::from((*v as f32).to_bits()),
        (TV::UInt(v), Type::Float64) => (*v as f64).to_bits(),
        (TV::Float(f), Type::Float32) => u64::from((*f as f32).to_bits()),
        (TV::Float(f), _) => f.to_bits(),
        (TV::Int(v), _) => *v as u64,
        (TV::UInt(v), _) => *v,
        _ => 0,
    }
}

fn value_bits(v: &Value) -> u64 {
    match v {
        Value::Bool(b) => u64::from(*b),
        Value::Int8(x) => *x as u8 as u64,
        Value::Int16(x) => *x as u16 as u64,
        Value::Int32(x) => *x as u32 as u64,
        Value::Int64(x) => *x as u64,
        Value::UInt8(x) => u64::from(*x),
        Value::UInt16(x) => u64::from(*x),
        Value::UInt32(x) => u64::from(*x),
        Value::UInt64(x) => *x,
        Value::Float32(x) => u64::from(x.to_bits()),
        Value::Float64(x) => x.to_bits(),
        Value::Enum(x) => u64::from(*x),
        _ => 0,
    }
}

fn type_name(c: &Compiler, ty: &Type) -> String {
    let node_name = |id: &u64| {
        c.node_by_id
            .get(id)
            .map(|&n| {
                let d = &c.nodes[n].display_name;
                d[display_prefix_len(d)..].to_string()
            })
            .unwrap_or_else(|| format!("@0x{id:x}"))
    };
    match ty {
        Type::List(e) => format!("List({})", type_name(c, e)),
        Type::Enum(id, _) | Type::Struct(id, _) | Type::Interface(id, _) => node_name(id),
        Type::AnyPointer(_) => "AnyPointer".into(),
        other => format!("{other:?}").replace("UInt", "UInt"),
    }
}

impl Compiler {
    /// Evaluates every pending value of node `n`.
    pub(crate) fn finish(&mut self, n: usize) {
        if self.shape(n).is_none() {
            return;
        }
        let count = match self.translated.get(&n) {
            Some(Progress::Done(w)) => w.pending.len(),
            _ => 0,
        };
        for i in 0..count {
            self.pending_value(n, i);
        }
    }

    /// The evaluated pending value `i` of node `n`.
    pub(crate) fn pending_value(&mut self, n: usize, i: usize) -> Option<Value> {
        let (expr, ty) = match self.translated.get_mut(&n) {
            Some(Progress::Done(w)) => {
                let p = w.pending.get_mut(i)?;
                if p.done {
                    return p.result.clone();
                }
                p.done = true;
                (p.expr.clone(), p.ty.clone())
            }
            _ => return None,
        };
        let v = self
            .eval(n, &expr, &ty)
            .and_then(|tv| self.value_of(&tv, &ty));
        let v = Some(v.unwrap_or_else(|| default_default(&ty)));
        if let Some(Progress::Done(w)) = self.translated.get_mut(&n) {
            if let Some(p) = w.pending.get_mut(i) {
                p.result = v.clone();
            }
        }
        v
    }

    fn value_of(&mut self, tv: &TV, ty: &Type) -> Option<Value> {
        let bits = raw_bits(tv, ty);
        Some(match ty {
            Type::Void => Value::Void,
            Type::Bool => Value::Bool(bits != 0),
            Type::Int8 => Value::Int8(bits as i8),
            Type::Int16 => Value::Int16(bits as i16),
            Type::Int32 => Value::Int32(bits as i32),
            Type::Int64 => Value::Int64(bits as i64),
            Type::UInt8 => Value::UInt8(bits as u8),
            Type::UInt16 => Value::UInt16(bits as u16),
            Type::UInt32 => Value::UInt32(bits as u32),
            Type::UInt64 => Value::UInt64(bits),
            Type::Float32 => Value::Float32(f32::from_bits(bits as u32)),
            Type::Float64 => Value::Float64(f64::from_bits(bits)),
            Type::Enum(..) => Value::Enum(bits as u16),
            Type::Text => match tv {
                TV::Text(s) => Value::Text(Some(s.clone())),
                _ => Value::Text(None),
            },
            Type::Data => match tv {
                TV::Data(d) => Value::Data(Some(d.clone())),
                _ => Value::Data(None),
            },
            Type::Interface(..) => Value::Interface,
            Type::List(_) => Value::List(encode_root(tv)),
            Type::Struct(..) => Value::Struct(encode_root(tv)),
            Type::AnyPointer(_) => Value::AnyPointer(encode_root(tv)),
        })
    }

    /// Evaluates `e` as a value of type `ty`, names resolved from node `n`.
    pub(crate) fn eval(&mut self, n: usize, e: &Expr, ty: &Type) -> Option<TV> {
        let file = self.nodes[n].file;
        if matches!(
            ty,
            Type::AnyPointer(AnyPtr::Parameter(..) | AnyPtr::Implicit(_))
        ) {
            self.error(file, e.span, "Cannot interpret value because the type is a generic type parameter which is not yet bound. We don't know what type to expect here.");
            return None;
        }
        let raw = self.eval_inner(n, e, ty)?;
        self.check(file, e, raw, ty)
    }

    fn mismatch(&mut self, file: usize, e: &Expr, ty: &Type) -> Option<TV> {
        let t = type_name(self, ty);
        let found = self.text(file, e.span);
        self.error(
            file,
            e.span,
            format!("Type mismatch: expected a value of type {t}, found `{found}`."),
        );
        None
    }

    fn check(&mut self, file: usize, e: &Expr, raw: TV, ty: &Type) -> Option<TV> {
        let range: Option<(i128, i128)> = match ty {
            Type::Int8 => Some((i8::MIN.into(), i8::MAX.into())),
            Type::Int16 => Some((i16::MIN.into(), i16::MAX.into())),
            Type::Int32 => Some((i32::MIN.into(), i32::MAX.into())),
            Type::Int64 => Some((i64::MIN.into(), i64::MAX.into())),
            Type::UInt8 => Some((0, u8::MAX.into())),
            Type::UInt16 => Some((0, u16::MAX.into())),
            Type::UInt32 => Some((0, u32::MAX.into())),
            Type::UInt64 => Some((0, u64::MAX.into())),
            Type::Float32 | Type::Float64 => Some((i64::MIN.into(), u64::MAX.into())),
            _ => None,
        };
        let ok = match (&raw, ty) {
            (TV::Void, Type::Void) | (TV::Bool(_), Type::Bool) => true,
            (TV::Int(_) | TV::UInt(_), _) if range.is_some() => {
                let v: i128 = match raw {
                    TV::Int(v) => v.into(),
                    TV::UInt(v) => v.into(),
                    _ => 0,
                };
                let (lo, hi) = range.unwrap_or((0, 0));
                if v < lo || v > hi {
                    self.error(
                        file,
                        e.span,
                        format!(
                            "Integer value out of range: {v} does not fit in {}.",
                            type_name(self, ty)
                        ),
                    );
                    return Some(if v < lo {
                        TV::Int(lo as i64)
                    } else {
                        TV::UInt(hi as u64)
                    });
                }
                true
            }
            (TV::Float(_), Type::Float32 | Type::Float64) => true,
            (TV::Text(_), Type::Text) | (TV::Data(_), Type::Data) => true,
            (TV::List(et, ..), Type::List(want)) => *et == **want,
            (TV::List(..), Type::AnyPointer(AnyPtr::AnyKind | AnyPtr::List)) => true,
            (TV::Enum(id, _), Type::Enum(want, _)) => id == want,
            (TV::Struct(id, _), Type::Struct(want, _)) => id == want,
            (TV::Struct(..), Type::AnyPointer(AnyPtr::AnyKind | AnyPtr::Struct)) => true,
            _ => false,
        };
        if ok {
            Some(raw)
        } else {
            self.mismatch(file, e, ty)
        }
    }

    fn eval_inner(&mut self, n: usize, e: &Expr, ty: &Type) -> Option<TV> {
        let file = self.nodes[n].file;
        match &e.kind {
            ExprKind::RelName(id) => {
                if let Type::Enum(eid, _) = ty {
                    if let Some(v) = self.enumerant_value(*eid, id) {
                        return Some(TV::Enum(*eid, v));
                    }
                } else {
                    match id.as_str() {
                        "void" => return Some(TV::Void),
                        "true" => return Some(TV::Bool(true)),
                        "false" => return Some(TV::Bool(false)),
                        "nan" => return Some(TV::Float(f64::NAN)),
                        "inf" => return Some(TV::Float(f64::INFINITY)),
                        _ => {}
                    }
                }
                self.const_ref(n, e)
            }
            ExprKind::AbsName(_)
            | ExprKind::Import(_)
            | ExprKind::Application(..)
            | ExprKind::Member(..) => self.const_ref(n, e),
            ExprKind::Embed(path) => {
                let bytes = self.read_embed(file, path);
                let Some(bytes) = bytes else {
                    self.error(
                        file,
                        e.span,
                        format!("Embed failed: \"{path}\" was not found."),
                    );
                    return None;
                };
                match ty {
                    Type::Text => Some(TV::Text(String::from_utf8_lossy(&bytes).into_owned())),
                    Type::Data => Some(TV::Data(bytes)),
                    Type::Struct(..) => {
                        self.error(
                            file,
                            e.span,
                            "unsupported: embedding a Cap'n Proto message as a struct value",
                        );
                        None
                    }
                    _ => {
                        self.error(
                            file,
                            e.span,
                            "Embeds can only be used when Text, Data, or a struct is expected.",
                        );
                        None
                    }
                }
            }
            ExprKind::PosInt(v) => Some(TV::UInt(*v)),
            ExprKind::NegInt(v) => {
                if *v > 1 << 63 {
                    self.error(file, e.span, "Integer is too big to be negative.");
                    None
                } else {
                    Some(TV::Int((*v as i64).wrapping_neg()))
                }
            }
            ExprKind::Float(f) => Some(TV::Float(*f)),
            ExprKind::Str(s) => Some(if *ty == Type::Data {
                TV::Data(s.as_bytes().to_vec())
            } else {
                TV::Text(s.clone())
            }),
            ExprKind::Binary(b) => {
                if *ty != Type::Data {
                    return self.mismatch(file, e, ty);
                }
                Some(TV::Data(b.clone()))
            }
            ExprKind::List(items) => {
                let Type::List(elem) = ty else {
                    return self.mismatch(file, e, ty);
                };
                let size = match &**elem {
                    Type::Struct(id, _) => self.struct_size(*id),
                    _ => None,
                };
                let mut out = Vec::new();
                for item in items {
                    out.push(self.eval(n, item, elem).unwrap_or(TV::Null));
                }
                Some(TV::List((**elem).clone(), size, out))
            }
            ExprKind::Tuple(params) => {
                let Type::Struct(id, brand) = ty else {
                    return self.mismatch(file, e, ty);
                };
                let (dw, pc) = self.struct_size(*id)?;
                let mut img = Img::new(dw, pc);
                self.fill_struct(n, *id, brand.as_ref(), &mut img, params);
                Some(TV::Struct(*id, Box::new(img)))
            }
        }
    }

    fn read_embed(&mut self, file: usize, path: &str) -> Option<Vec<u8>> {
        let candidates: Vec<std::path::PathBuf> = if let Some(abs) = path.strip_prefix('/') {
            let mut dirs = self.opts.import_paths.clone();
            if self.opts.standard_paths {
                dirs.push("/usr/local/include".into());
                dirs.push("/usr/include".into());
            }
            dirs.into_iter().map(|d| d.join(abs)).collect()
        } else {
            match &self.files[file].dir {
                SourceDir::Disk(d) => {
                    let name = &self.files[file].name;
                    let parent = name.rfind('/').map_or("", |i| &name[..i]);
                    vec![d.join(parent).join(path)]
                }
                SourceDir::Embedded | SourceDir::Memory => Vec::new(),
            }
        };
        candidates.into_iter().find_map(|p| std::fs::read(p).ok())
    }

    /// The struct (or group) with this ID: its owner node and section sizes.
    fn struct_size(&mut self, id: u64) -> Option<(u16, u16)> {
        let s = self.struct_of(id)?;
        Some((s.data_words, s.pointers))
    }

    fn struct_of(&mut self, id: u64) -> Option<StructOut> {
        let owner = match self.node_by_id.get(&id) {
            Some(&n) => n,
            None => *self.aux_owner.get(&id)?,
        };
        let w = self.shape(owner)?;
        w.nodes.iter().find_map(|(node, _)| match &node.body {
            Body::Struct(s) if node.id == id => Some(s.clone()),
            _ => None,
        })
    }

    fn enumerant_value(&mut self, enum_id: u64, name: &str) -> Option<u16> {
        let &n = self.node_by_id.get(&enum_id)?;
        let w = self.shape(n)?;
        match &w.nodes[0].0.body {
            Body::Enum(list) => list.iter().position(|x| x.name == name).map(|i| i as u16),
            _ => None,
        }
    }

    fn owner_of(&self, id: u64) -> Option<usize> {
        self.node_by_id
            .get(&id)
            .copied()
            .or_else(|| self.aux_owner.get(&id).copied())
    }

    /// Writes the literal `params` into `img`, a struct `id` of brand `brand` (whose bindings
    /// give the generic fields their types: `Box(Text)`'s `value :T` takes a Text).
    fn fill_struct(
        &mut self,
        n: usize,
        id: u64,
        brand: Option<&Brand>,
        img: &mut Img,
        params: &[Param],
    ) {
        let file = self.nodes[n].file;
        let Some(s) = self.struct_of(id) else {
            return;
        };
        for p in params {
            let Some((fname, fspan)) = &p.name else {
                self.error(
                    file,
                    p.value.span,
                    "Missing field name: write `name = value`.",
                );
                continue;
            };
            let Some(field) = s.fields.iter().find(|f| &f.name == fname) else {
                self.error(
                    file,
                    *fspan,
                    format!("Struct has no field named '{fname}'."),
                );
                continue;
            };
            if field.discriminant != 0xffff {
                let off = s.discriminant_offset as usize * 16;
                write_bits(img.sections_mut().0, off, 16, u64::from(field.discriminant));
            }
            match &field.kind {
                FieldKind::Slot {
                    offset,
                    ty,
                    default,
                    ..
                } => {
                    let ty = &through_brand(ty, brand);
                    let Some(tv) = self.eval(n, &p.value, ty) else {
                        continue;
                    };
                    match ty.data_lg_size() {
                        Some(-1) => {}
                        Some(lg) => {
                            let width = 1usize << lg;
                            let def = match default {
                                Value::Pending(i) => {
                                    let owner = self.owner_of(id).unwrap_or(n);
                                    self.pending_value(owner, *i).map_or(0, |v| value_bits(&v))
                                }
                                v => value_bits(v),
                            };
                            let bits = raw_bits(&tv, ty) ^ def;
                            write_bits(img.sections_mut().0, *offset as usize * width, width, bits);
                        }
                        None => {
                            if let Some(slot) = img.sections_mut().1.get_mut(*offset as usize) {
                                *slot = tv;
                            }
                        }
                    }
                }
                FieldKind::Group(gid) => match &p.value.kind {
                    ExprKind::Tuple(inner) => self.fill_struct(n, *gid, brand, img, inner),
                    _ => self.error(
                        file,
                        p.value.span,
                        "Type mismatch: expected a group value `(field = value, ...)`.",
                    ),
                },
            }
        }
    }

    /// The value of the constant named by `e`.
    fn const_ref(&mut self, n: usize, e: &Expr) -> Option<TV> {
        let file = self.nodes[n].file;
        let scope = self.scope_for_node(n);
        let d = self.compile_decl_expr(n, &scope, e, &ImplicitParams::default())?;
        let text = self.text(file, e.span);
        let c = match &d {
            BrandedDecl::Decl { decl, .. } if decl.kind == Kind::Const => decl.node?,
            _ => {
                self.error(
                    file,
                    e.span,
                    format!("'{text}' does not refer to a constant."),
                );
                return None;
            }
        };
        if let ExprKind::RelName(name) = &e.kind {
            let parent = match self.nodes[c].parent {
                Some(p) if self.nodes[p].parent.is_some() => {
                    let d = &self.nodes[p].display_name;
                    d[display_prefix_len(d)..].to_string()
                }
                _ => String::new(),
            };
            self.error(file, e.span, format!("Constant names must be qualified to avoid confusion. Please replace '{name}' with '{parent}.{name}', if that's what you intended."));
        }
        match self.const_values.get(&c) {
            Some(Progress::Done(v)) => return v.clone().map(|(tv, _)| tv),
            Some(Progress::InProgress) => {
                self.error(
                    file,
                    e.span,
                    format!("Cyclic constant: the value of '{text}' depends on itself."),
                );
                return None;
            }
            _ => {}
        }
        self.const_values.insert(c, Progress::InProgress);
        let v = self.const_tv(c);
        self.const_values.insert(c, Progress::Done(v.clone()));
        v.map(|(tv, _)| tv)
    }

    fn const_tv(&mut self, c: usize) -> Option<(TV, Type)> {
        let expr = match &self.nodes[c].decl.kind {
            DeclKind::Const { value, .. } => value.clone(),
            _ => return None,
        };
        let w = self.shape(c)?;
        let ty = match &w.nodes[0].0.body {
            Body::Const(t, _) => t.clone(),
            _ => return None,
        };
        let tv = self.eval(c, &expr, &ty)?;
        Some((tv, ty))
    }
}
