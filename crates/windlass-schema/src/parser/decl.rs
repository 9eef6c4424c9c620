//! Declaration forms: what may appear at file, struct, enum and interface level, each tried in
//! the reference compiler's order.

use crate::ast::{
    AnnotationApp, Decl, DeclId, DeclKind, Expr, ExprKind, ParamDecl, ParamList, TARGET_NAMES,
};
use crate::error::{Diagnostic, Span};
use crate::lexer::{Token, TokenKind};

use super::tokens::{Parser, R};

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

impl Parser<'_> {
    pub(super) fn file_level(&mut self) -> R<Decl> {
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

    pub(super) fn struct_level(&mut self) -> R<Decl> {
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

    pub(super) fn interface_level(&mut self) -> R<Decl> {
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

    pub(super) fn enumerant(&mut self) -> R<Decl> {
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
                    let mut sub = Parser::new(item, "");
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
}
