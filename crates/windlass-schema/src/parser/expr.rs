//! Expressions: values, types and names (`Foo.Bar(Baz)`, `.Foo`, `import "x"`, literals,
//! lists and tuples).

use crate::ast::{Expr, ExprKind, Param};
use crate::lexer::{Token, TokenKind};

use super::tokens::{Parser, R};

impl Parser<'_> {
    /// Parses a whole token list (one list item) as an expression.
    pub(super) fn sub_expr(&mut self, toks: &[Token]) -> R<Expr> {
        let mut sub = Parser::new(toks, "");
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

    pub(super) fn expr(&mut self) -> R<Expr> {
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
