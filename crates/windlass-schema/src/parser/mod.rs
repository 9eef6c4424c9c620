//! The parser: statements of tokens to declarations, following the reference grammar.
//!
//! Each statement is tried against the declaration forms allowed where it appears, in the
//! reference compiler's order; when none matches, the error points at the furthest token any form
//! reached and says what that form expected there.
//!
//! `tokens` holds the parser state and the token-level matchers, `decl` the declaration forms
//! and `expr` expressions.

mod decl;
mod expr;
mod tokens;

use crate::ast::{Decl, DeclId, DeclKind};
use crate::error::{Diagnostic, Span};
use crate::lexer::Statement;

use tokens::Parser;

/// Which declarations may appear at a level.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Level {
    File,
    Struct,
    Enum,
    Interface,
}

/// Parses a lexed file into its root declaration; errors are collected into `errors`.
pub(crate) fn parse_file(stmts: &[Statement], errors: &mut Vec<Diagnostic>) -> Decl {
    let mut root = Decl {
        name: String::new(),
        name_span: Span::default(),
        id: DeclId::Unspecified,
        params: Vec::new(),
        annotations: Vec::new(),
        doc: None,
        span: Span::default(),
        kind: DeclKind::File,
        nested: Vec::new(),
    };
    for st in stmts {
        let Some(decl) = parse_statement(st, Level::File, errors) else {
            continue;
        };
        match decl.kind {
            DeclKind::NakedId(id) => {
                if let DeclId::Uid(..) = root.id {
                    errors.push(Diagnostic::new(
                        decl.span,
                        "File can only have one ID.".into(),
                    ));
                } else {
                    root.id = decl.id;
                    let _ = id;
                    if decl.doc.is_some() {
                        root.doc = decl.doc;
                    }
                }
            }
            DeclKind::NakedAnnotation(app) => root.annotations.push(app),
            _ => root.nested.push(decl),
        }
    }
    root
}

fn parse_statement(st: &Statement, level: Level, errors: &mut Vec<Diagnostic>) -> Option<Decl> {
    let mut p = Parser::new(&st.tokens, "a declaration");
    let result = match level {
        Level::File => p.file_level(),
        Level::Struct => p.struct_level(),
        Level::Enum => p.alt(|p| p.enumerant()),
        Level::Interface => p.interface_level(),
    };
    errors.append(&mut p.errors);
    let Some(mut decl) = result else {
        let at = if p.best < st.tokens.len() {
            st.tokens[p.best].span
        } else if let Some(last) = st.tokens.last() {
            Span::new(last.span.end as usize, last.span.end as usize)
        } else {
            st.span
        };
        errors.push(Diagnostic::new(
            at,
            format!("parse error: expected {}", p.expected),
        ));
        return None;
    };
    decl.doc = st.doc.clone();
    decl.span = st.span;
    let member_level = match decl.kind {
        DeclKind::Struct | DeclKind::Union | DeclKind::Group => Some(Level::Struct),
        DeclKind::Enum => Some(Level::Enum),
        DeclKind::Interface { .. } => Some(Level::Interface),
        _ => None,
    };
    match (&st.block, member_level) {
        (Some(block), Some(lvl)) => {
            for member in block {
                if let Some(d) = parse_statement(member, lvl, errors) {
                    decl.nested.push(d);
                }
            }
        }
        (Some(_), None) => errors.push(Diagnostic::new(
            st.span,
            "This statement should end with a semicolon, not a block.".into(),
        )),
        (None, Some(_)) => errors.push(Diagnostic::new(
            st.span,
            "This statement should end with a block, not a semicolon.".into(),
        )),
        (None, None) => {}
    }
    Some(decl)
}
