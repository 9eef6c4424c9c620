//! The parser: statements of tokens to declarations, following the reference grammar.
//!
//! Each statement is tried against the declaration forms allowed where it appears, in the
//! reference compiler's order; when none matches, the error points at the furthest token any form
//! reached and says what that form expected there.

use crate::ast::{
    AnnotationApp, Decl, DeclId, DeclKind, Expr, ExprKind, Param, ParamDecl, ParamList,
    TARGET_NAMES,
};
use crate::error::{Diagnostic, Span};
use crate::lexer::{Statement, Token, TokenKind};

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
    let mut p = P {
        toks: &st.tokens,
        pos: 0,
        best: 0,
        expected: "a declaration",
        errors: Vec::new(),
    };
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

struct P<'a> {
    toks: &'a [Token],
    pos: usize,
    best: usize,
    expected: &'static str,
    errors: Vec<Diagnostic>,
}

type R<T> = Option<T>;

fn new_decl(name: String, name_span: Span, kind: DeclKind) -> Decl {
    Decl {
        name,
        name_span,
        id: DeclId::Unspecified,
        params: Vec::new(),
        annotations: Vec::new(),
        doc: None,
        span: Span::default(),
        kind,
        nested: Vec::new(),
    }
}

impl<'a> P<'a> {
    fn fail<T>(&mut self, expected: &'static str) -> R<T> {
        if self.pos >= self.best {
            self.best = self.pos;
            self.expected = expected;
        }
        None
    }

    fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Tries `f` as a whole-statement alternative; rewinds on failure.
    fn alt(&mut self, f: impl FnOnce(&mut Self) -> R<Decl>) -> R<Decl> {
        let start = self.pos;
        let n_err = self.errors.len();
        match f(self) {
            Some(d) if self.at_end() => Some(d),
            Some(_) => {
                self.fail::<()>("the end of the declaration (';' or '{')");
                self.pos = start;
                self.errors.truncate(n_err);
                None
            }
            None => {
                self.pos = start;
                self.errors.truncate(n_err);
                None
            }
        }
    }

    fn file_level(&mut self) -> R<Decl> {
        if let Some(d) = self.generic_decl() {
            return Some(d);
        }
        if let Some(d) = self.alt(|p| {
            let (id, span) = p.uid()?;
            let mut d = new_decl(String::new(), span, DeclKind::NakedId(id));
            d.id = DeclId::Uid(id, span);
            Some(d)
        }) {
            return Some(d);
        }
        self.alt(|p| {
            let a = p.annotation()?;
            Some(new_decl(
                String::new(),
                Span::default(),
                DeclKind::NakedAnnotation(a),
            ))
        })
    }

    fn struct_level(&mut self) -> R<Decl> {
        if let Some(d) = self.alt(|p| p.union_decl()) {
            return Some(d);
        }
        if let Some(d) = self.alt(|p| p.field()) {
            return Some(d);
        }
        if let Some(d) = self.alt(|p| p.group()) {
            return Some(d);
        }
        self.generic_decl()
    }

    fn interface_level(&mut self) -> R<Decl> {
        if let Some(d) = self.alt(|p| p.method()) {
            return Some(d);
        }
        self.generic_decl()
    }

    fn generic_decl(&mut self) -> R<Decl> {
        let kw = match self.peek().map(|t| &t.kind) {
            Some(TokenKind::Ident(k)) => k.as_str(),
            _ => {
                return self
                    .fail("a declaration (struct, enum, interface, const, annotation, using)")
            }
        };
        match kw {
            "using" => self.alt(|p| p.using()),
            "const" => self.alt(|p| p.const_decl()),
            "annotation" => self.alt(|p| p.annotation_decl()),
            "enum" => self.alt(|p| p.named_decl("enum", DeclKind::Enum, false)),
            "struct" => self.alt(|p| p.named_decl("struct", DeclKind::Struct, true)),
            "interface" => self.alt(|p| p.interface_decl()),
            _ => self.fail("a declaration (struct, enum, interface, const, annotation, using)"),
        }
    }

    // ---- tokens ----

    fn keyword(&mut self, kw: &str) -> R<Span> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Ident(s),
                span,
            }) if s == kw => {
                self.pos += 1;
                Some(*span)
            }
            _ => self.fail(match kw {
                "union" => "'union'",
                "group" => "'group'",
                "extends" => "'extends'",
                _ => "a keyword",
            }),
        }
    }

    fn op(&mut self, op: &str) -> R<Span> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Op(s),
                span,
            }) if s == op => {
                self.pos += 1;
                Some(*span)
            }
            _ => self.fail(match op {
                ":" => "':'",
                "=" => "'='",
                "@" => "'@' and a number",
                "$" => "'$'",
                "." => "'.'",
                "->" => "'->'",
                _ => "an operator",
            }),
        }
    }

    fn ident(&mut self) -> R<(String, Span)> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Ident(s),
                span,
            }) => {
                self.pos += 1;
                Some((s.clone(), *span))
            }
            _ => self.fail("an identifier"),
        }
    }

    fn int(&mut self) -> R<(u64, Span)> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Int(v),
                span,
            }) => {
                self.pos += 1;
                Some((*v, *span))
            }
            _ => self.fail("an integer"),
        }
    }

    fn uid(&mut self) -> R<(u64, Span)> {
        let at = self.op("@")?;
        let (v, span) = self.int()?;
        if v < 1 << 63 {
            self.errors.push(Diagnostic::new(
                span,
                "Invalid ID: an ID must have its high bit set (generate one with `capnp id`)."
                    .into(),
            ));
        }
        Some((v, at.to(span)))
    }

    fn ordinal(&mut self) -> R<(u64, Span)> {
        let at = self.op("@")?;
        let (v, span) = self.int()?;
        if v >= 65536 {
            self.errors.push(Diagnostic::new(
                span,
                "Ordinals cannot be greater than 65535.".into(),
            ));
        }
        Some((v, at.to(span)))
    }

    fn annotations(&mut self) -> Vec<AnnotationApp> {
        let mut out = Vec::new();
        loop {
            let save = self.pos;
            match self.annotation() {
                Some(a) => out.push(a),
                None => {
                    self.pos = save;
                    return out;
                }
            }
        }
    }

    fn annotation(&mut self) -> R<AnnotationApp> {
        self.op("$")?;
        let e = self.expr()?;
        Some(match e.kind {
            ExprKind::Application(f, params) => {
                let value = if params.len() == 1 && params[0].name.is_none() {
                    params.into_iter().next().map(|p| p.value)
                } else {
                    let start = params.first().map_or(e.span, |p| p.value.span);
                    Some(Expr {
                        kind: ExprKind::Tuple(params),
                        span: start.to(e.span),
                    })
                };
                AnnotationApp { name: *f, value }
            }
            _ => AnnotationApp {
                name: e,
                value: None,
            },
        })
    }

    /// A parenthesized list of identifiers (generic parameters); `None` if absent.
    fn ident_list(&mut self, bracket: bool) -> R<Vec<(String, Span)>> {
        let items = match self.peek() {
            Some(Token {
                kind: TokenKind::Paren(items),
                ..
            }) if !bracket => items,
            Some(Token {
                kind: TokenKind::Bracket(items),
                ..
            }) if bracket => items,
            _ => return self.fail("a parameter list"),
        };
        let mut out = Vec::new();
        for item in items {
            match item.as_slice() {
                [Token {
                    kind: TokenKind::Ident(s),
                    span,
                }] => out.push((s.clone(), *span)),
                _ => return self.fail("a list of parameter names"),
            }
        }
        self.pos += 1;
        Some(out)
    }

    // ---- declarations ----

    fn using(&mut self) -> R<Decl> {
        self.keyword("using")?;
        let save = self.pos;
        let named = (|| {
            let n = self.ident()?;
            self.op("=")?;
            Some(n)
        })();
        if named.is_none() {
            self.pos = save;
        }
        let target = self.expr()?;
        let (name, span) = match named {
            Some(n) => n,
            None => match &target.kind {
                ExprKind::Member(_, n, s) => (n.clone(), *s),
                _ => {
                    self.errors.push(Diagnostic::new(
                        target.span,
                        "'using' declaration without '=' must specify a named declaration from \
                         a different scope."
                            .into(),
                    ));
                    (String::new(), target.span)
                }
            },
        };
        Some(new_decl(name, span, DeclKind::Using(target)))
    }

    fn opt_uid(&mut self) -> DeclId {
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == "@") {
            let save = self.pos;
            if let Some((v, s)) = self.uid() {
                return DeclId::Uid(v, s);
            }
            self.pos = save;
        }
        DeclId::Unspecified
    }

    fn const_decl(&mut self) -> R<Decl> {
        self.keyword("const")?;
        let (name, span) = self.ident()?;
        let id = self.opt_uid();
        self.op(":")?;
        let ty = self.expr()?;
        self.op("=")?;
        let value = self.expr()?;
        let mut d = new_decl(name, span, DeclKind::Const { ty, value });
        d.id = id;
        d.annotations = self.annotations();
        Some(d)
    }

    fn named_decl(&mut self, kw: &str, kind: DeclKind, generic: bool) -> R<Decl> {
        self.keyword(kw)?;
        let (name, span) = self.ident()?;
        let mut d = new_decl(name, span, kind);
        d.id = self.opt_uid();
        if generic && matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Paren(_))) {
            d.params = self.ident_list(false)?;
        }
        d.annotations = self.annotations();
        Some(d)
    }

    fn interface_decl(&mut self) -> R<Decl> {
        let mut d = self.named_decl_head()?;
        let mut supers = Vec::new();
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Ident(k)) if k == "extends") {
            self.pos += 1;
            let Some(Token {
                kind: TokenKind::Paren(items),
                ..
            }) = self.peek()
            else {
                return self.fail("'(' and the interfaces to extend");
            };
            self.pos += 1;
            for item in items {
                supers.push(self.sub_expr(item)?);
            }
        }
        d.annotations = self.annotations();
        d.kind = DeclKind::Interface {
            superclasses: supers,
        };
        Some(d)
    }

    fn named_decl_head(&mut self) -> R<Decl> {
        self.keyword("interface")?;
        let (name, span) = self.ident()?;
        let mut d = new_decl(
            name,
            span,
            DeclKind::Interface {
                superclasses: Vec::new(),
            },
        );
        d.id = self.opt_uid();
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Paren(_))) {
            d.params = self.ident_list(false)?;
        }
        Some(d)
    }

    fn annotation_decl(&mut self) -> R<Decl> {
        self.keyword("annotation")?;
        let (name, span) = self.ident()?;
        let id = self.opt_uid();
        let Some(Token {
            kind: TokenKind::Paren(items),
            ..
        }) = self.peek()
        else {
            return self.fail("'(' and the annotation's targets, e.g. (struct, field) or (*)");
        };
        self.pos += 1;
        let mut targets = [false; 12];
        for item in items {
            match item.as_slice() {
                [Token {
                    kind: TokenKind::Op(o),
                    span,
                }] if o == "*" => {
                    if items.len() > 1 {
                        self.errors.push(Diagnostic::new(
                            *span,
                            "Wildcard should not be specified together with other targets.".into(),
                        ));
                    }
                    targets = [true; 12];
                }
                [Token {
                    kind: TokenKind::Ident(t),
                    span,
                }] => match TARGET_NAMES.iter().position(|n| n == t) {
                    Some(i) => {
                        if targets[i] {
                            self.errors.push(Diagnostic::new(
                                *span,
                                "Duplicate target specification.".into(),
                            ));
                        }
                        targets[i] = true;
                    }
                    None => self.errors.push(Diagnostic::new(
                        *span,
                        format!(
                            "Not a valid annotation target: '{t}' (expected one of: {}, or *)",
                            TARGET_NAMES.join(", ")
                        ),
                    )),
                },
                _ => return self.fail("an annotation target name"),
            }
        }
        self.op(":")?;
        let ty = self.expr()?;
        let mut d = new_decl(name, span, DeclKind::Annotation { ty, targets });
        d.id = id;
        d.annotations = self.annotations();
        Some(d)
    }

    fn enumerant(&mut self) -> R<Decl> {
        let (name, span) = self.ident()?;
        let (ord, os) = self.ordinal()?;
        let mut d = new_decl(name, span, DeclKind::Enumerant);
        d.id = DeclId::Ordinal(ord, os);
        d.annotations = self.annotations();
        Some(d)
    }

    fn field(&mut self) -> R<Decl> {
        let (name, span) = self.ident()?;
        let (ord, os) = self.ordinal()?;
        self.op(":")?;
        let ty = self.expr()?;
        let mut default = None;
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == "=") {
            self.pos += 1;
            default = Some(self.expr()?);
        }
        let mut d = new_decl(name, span, DeclKind::Field { ty, default });
        d.id = DeclId::Ordinal(ord, os);
        d.annotations = self.annotations();
        Some(d)
    }

    fn union_decl(&mut self) -> R<Decl> {
        if self.toks.len() == 1 {
            let span = self.keyword("union")?;
            return Some(new_decl(String::new(), span, DeclKind::Union));
        }
        let (name, span) = self.ident()?;
        let mut id = DeclId::Unspecified;
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == "@") {
            let (ord, os) = self.ordinal()?;
            id = DeclId::Ordinal(ord, os);
            let bang = self.peek_op("!");
            let colon = self.peek_op(":");
            if !bang {
                self.errors.push(Diagnostic::new(
                    os,
                    "Unions no longer take a number; remove the @n, or if it is needed for \
                     compatibility with an old protocol write `@n!`, e.g. `foo @1! :union {`."
                        .into(),
                ));
            }
            if !colon {
                self.errors.push(Diagnostic::new(
                    os,
                    "The 'union' keyword should be prefixed with a colon for named unions, \
                     e.g. `foo :union {`."
                        .into(),
                ));
            }
        } else {
            self.op(":")?;
        }
        self.keyword("union")?;
        let mut d = new_decl(name, span, DeclKind::Union);
        d.id = id;
        d.annotations = self.annotations();
        Some(d)
    }

    fn peek_op(&mut self, op: &str) -> bool {
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn group(&mut self) -> R<Decl> {
        let (name, span) = self.ident()?;
        self.op(":")?;
        self.keyword("group")?;
        let mut d = new_decl(name, span, DeclKind::Group);
        d.annotations = self.annotations();
        Some(d)
    }

    fn method(&mut self) -> R<Decl> {
        let (name, span) = self.ident()?;
        let (ord, os) = self.ordinal()?;
        let mut implicit = Vec::new();
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Bracket(_))) {
            implicit = self.ident_list(true)?;
        }
        let params = self.param_list()?;
        let mut results = None;
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == "->") {
            self.pos += 1;
            results = Some(self.param_list()?);
        }
        let mut d = new_decl(name, span, DeclKind::Method { params, results });
        d.id = DeclId::Ordinal(ord, os);
        d.params = implicit;
        d.annotations = self.annotations();
        Some(d)
    }

    fn param_list(&mut self) -> R<ParamList> {
        match self.peek() {
            Some(Token {
                kind: TokenKind::Paren(items),
                span,
            }) => {
                self.pos += 1;
                let mut out = Vec::new();
                for item in items {
                    let mut sub = P {
                        toks: item,
                        pos: 0,
                        best: 0,
                        expected: "",
                        errors: Vec::new(),
                    };
                    let parsed = sub.param();
                    self.errors.append(&mut sub.errors);
                    match parsed {
                        Some(p) if sub.at_end() => out.push(p),
                        _ => {
                            self.best = self.pos;
                            self.expected = "a parameter `name :Type`";
                            return None;
                        }
                    }
                }
                Some(ParamList::Named(out, *span))
            }
            Some(Token {
                kind: TokenKind::Ident(k),
                span,
            }) if k == "stream" => {
                self.pos += 1;
                Some(ParamList::Stream(*span))
            }
            Some(_) => Some(ParamList::Type(self.expr()?)),
            None => self.fail("a parameter list '(...)'"),
        }
    }

    fn param(&mut self) -> R<ParamDecl> {
        let (name, name_span) = self.ident()?;
        self.op(":")?;
        let ty = self.expr()?;
        let mut default = None;
        if self.peek_op("=") {
            default = Some(self.expr()?);
        }
        let annotations = self.annotations();
        Some(ParamDecl {
            name,
            name_span,
            ty,
            default,
            annotations,
        })
    }

    // ---- expressions ----

    /// Parses a whole token list (one list item) as an expression.
    fn sub_expr(&mut self, toks: &[Token]) -> R<Expr> {
        let mut sub = P {
            toks,
            pos: 0,
            best: 0,
            expected: "",
            errors: Vec::new(),
        };
        let e = sub.expr();
        self.errors.append(&mut sub.errors);
        match e {
            Some(e) if sub.at_end() => Some(e),
            _ => {
                self.best = self.pos.max(self.best);
                self.expected = "an expression";
                None
            }
        }
    }

    fn tuple(&mut self, items: &[Vec<Token>]) -> R<Vec<Param>> {
        let mut out = Vec::new();
        for item in items {
            let named = match item.as_slice() {
                [Token {
                    kind: TokenKind::Ident(n),
                    span,
                }, Token {
                    kind: TokenKind::Op(eq),
                    ..
                }, rest @ ..]
                    if eq == "=" && !rest.is_empty() =>
                {
                    Some(((n.clone(), *span), rest))
                }
                _ => None,
            };
            match named {
                Some((name, rest)) => out.push(Param {
                    name: Some(name),
                    value: self.sub_expr(rest)?,
                }),
                None => out.push(Param {
                    name: None,
                    value: self.sub_expr(item)?,
                }),
            }
        }
        Some(out)
    }

    fn expr(&mut self) -> R<Expr> {
        let Some(tok) = self.peek() else {
            return self.fail("an expression");
        };
        let span = tok.span;
        let mut base = match &tok.kind {
            TokenKind::Int(v) => {
                self.pos += 1;
                Expr {
                    kind: ExprKind::PosInt(*v),
                    span,
                }
            }
            TokenKind::Float(v) => {
                self.pos += 1;
                Expr {
                    kind: ExprKind::Float(*v),
                    span,
                }
            }
            TokenKind::Op(o) if o == "-" => {
                self.pos += 1;
                match self.peek() {
                    Some(Token {
                        kind: TokenKind::Int(v),
                        span: s,
                    }) => {
                        self.pos += 1;
                        Expr {
                            kind: ExprKind::NegInt(*v),
                            span: span.to(*s),
                        }
                    }
                    Some(Token {
                        kind: TokenKind::Float(v),
                        span: s,
                    }) => {
                        self.pos += 1;
                        Expr {
                            kind: ExprKind::Float(-*v),
                            span: span.to(*s),
                        }
                    }
                    Some(Token {
                        kind: TokenKind::Ident(k),
                        span: s,
                    }) if k == "inf" => {
                        self.pos += 1;
                        Expr {
                            kind: ExprKind::Float(f64::NEG_INFINITY),
                            span: span.to(*s),
                        }
                    }
                    _ => return self.fail("a number after '-'"),
                }
            }
            TokenKind::Str(_) => {
                let mut text = String::new();
                let mut end = span;
                while let Some(Token {
                    kind: TokenKind::Str(s),
                    span: sp,
                }) = self.peek()
                {
                    text.push_str(s);
                    end = *sp;
                    self.pos += 1;
                }
                Expr {
                    kind: ExprKind::Str(text),
                    span: span.to(end),
                }
            }
            TokenKind::Binary(b) => {
                self.pos += 1;
                Expr {
                    kind: ExprKind::Binary(b.clone()),
                    span,
                }
            }
            TokenKind::Bracket(items) => {
                self.pos += 1;
                let mut out = Vec::new();
                for item in items {
                    out.push(self.sub_expr(item)?);
                }
                Expr {
                    kind: ExprKind::List(out),
                    span,
                }
            }
            TokenKind::Paren(items) => {
                self.pos += 1;
                let mut params = self.tuple(items)?;
                if params.len() == 1 && params[0].name.is_none() {
                    params.remove(0).value
                } else {
                    Expr {
                        kind: ExprKind::Tuple(params),
                        span,
                    }
                }
            }
            TokenKind::Ident(k)
                if (k == "import" || k == "embed")
                    && matches!(
                        self.toks.get(self.pos + 1).map(|t| &t.kind),
                        Some(TokenKind::Str(_))
                    ) =>
            {
                let is_import = k == "import";
                self.pos += 1;
                let Some(Token {
                    kind: TokenKind::Str(s),
                    span: sp,
                }) = self.peek()
                else {
                    return self.fail("a file name string");
                };
                self.pos += 1;
                Expr {
                    kind: if is_import {
                        ExprKind::Import(s.clone())
                    } else {
                        ExprKind::Embed(s.clone())
                    },
                    span: span.to(*sp),
                }
            }
            TokenKind::Op(o) if o == "." => {
                self.pos += 1;
                let (name, s) = self.ident()?;
                Expr {
                    kind: ExprKind::AbsName(name),
                    span: span.to(s),
                }
            }
            TokenKind::Ident(name) => {
                self.pos += 1;
                Expr {
                    kind: ExprKind::RelName(name.clone()),
                    span,
                }
            }
            _ => return self.fail("an expression (a value, a type or a name)"),
        };
        loop {
            match self.peek() {
                Some(Token {
                    kind: TokenKind::Op(o),
                    ..
                }) if o == "." => {
                    self.pos += 1;
                    let (name, s) = self.ident()?;
                    let span = base.span.to(s);
                    base = Expr {
                        kind: ExprKind::Member(Box::new(base), name, s),
                        span,
                    };
                }
                Some(Token {
                    kind: TokenKind::Paren(items),
                    span: s,
                }) => {
                    let s = *s;
                    self.pos += 1;
                    let params = self.tuple(items)?;
                    let span = base.span.to(s);
                    base = Expr {
                        kind: ExprKind::Application(Box::new(base), params),
                        span,
                    };
                }
                _ => return Some(base),
            }
        }
    }
}
