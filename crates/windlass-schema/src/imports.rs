//! The names a file imports, for `RequestedFile.imports`: import expressions in types,
//! aliases, superclasses, method signatures and annotation names (not in values).

use std::collections::BTreeSet;

use crate::ast::{Decl, DeclKind, Expr, ExprKind, ParamList};

fn in_expr(e: &Expr, out: &mut BTreeSet<String>) {
    match &e.kind {
        ExprKind::Import(name) => {
            out.insert(name.clone());
        }
        ExprKind::List(items) => items.iter().for_each(|i| in_expr(i, out)),
        ExprKind::Tuple(ps) => ps.iter().for_each(|p| in_expr(&p.value, out)),
        ExprKind::Application(f, ps) => {
            in_expr(f, out);
            ps.iter().for_each(|p| in_expr(&p.value, out));
        }
        ExprKind::Member(parent, ..) => in_expr(parent, out),
        _ => {}
    }
}

fn in_params(p: &ParamList, out: &mut BTreeSet<String>) {
    match p {
        ParamList::Named(ps, _) => {
            for p in ps {
                in_expr(&p.ty, out);
                p.annotations.iter().for_each(|a| in_expr(&a.name, out));
            }
        }
        ParamList::Type(t) => in_expr(t, out),
        ParamList::Stream(_) => {
            out.insert("/capnp/stream.capnp".into());
        }
    }
}

/// Adds every import name in `decl` and its nested declarations to `out`.
pub(crate) fn find_in_decl(decl: &Decl, out: &mut BTreeSet<String>) {
    match &decl.kind {
        DeclKind::Using(t) => in_expr(t, out),
        DeclKind::Const { ty, .. } => in_expr(ty, out),
        DeclKind::Field { ty, .. } => in_expr(ty, out),
        DeclKind::Interface { superclasses } => superclasses.iter().for_each(|s| in_expr(s, out)),
        DeclKind::Method { params, results } => {
            in_params(params, out);
            if let Some(r) = results {
                in_params(r, out);
            }
        }
        _ => {}
    }
    decl.annotations.iter().for_each(|a| in_expr(&a.name, out));
    decl.nested.iter().for_each(|d| find_in_decl(d, out));
}
