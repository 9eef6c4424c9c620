//! The parser's state over one statement's tokens, and the token-level matchers every form is
//! built from. A failed match records how far it got and what it expected there.

use crate::ast::{Decl, DeclId};
use crate::error::{Diagnostic, Span};
use crate::lexer::{Token, TokenKind};

/// A parse over one token list (a statement, or one item of a parenthesized list).
pub(super) struct Parser<'a> {
    pub(super) toks: &'a [Token],
    pub(super) pos: usize,
    /// The furthest position any alternative reached, and what it expected there.
    pub(super) best: usize,
    pub(super) expected: &'static str,
    /// Errors that do not stop the parse (kept only if the alternative succeeds).
    pub(super) errors: Vec<Diagnostic>,
}

/// A parse result: `None` when the form does not match (the reason is recorded in the parser).
pub(super) type R<T> = Option<T>;

impl<'a> Parser<'a> {
    /// A parser at the start of `toks`; `expected` is reported if nothing matches at all.
    pub(super) fn new(toks: &'a [Token], expected: &'static str) -> Self {
        Parser {
            toks,
            pos: 0,
            best: 0,
            expected,
            errors: Vec::new(),
        }
    }

    pub(super) fn fail<T>(&mut self, expected: &'static str) -> R<T> {
        if self.pos >= self.best {
            self.best = self.pos;
            self.expected = expected;
        }
        None
    }

    pub(super) fn peek(&self) -> Option<&'a Token> {
        self.toks.get(self.pos)
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos >= self.toks.len()
    }

    /// Tries `f` as a whole-statement alternative; rewinds on failure.
    pub(super) fn alt(&mut self, f: impl FnOnce(&mut Self) -> R<Decl>) -> R<Decl> {
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

    pub(super) fn keyword(&mut self, kw: &str) -> R<Span> {
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

    pub(super) fn op(&mut self, op: &str) -> R<Span> {
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

    pub(super) fn ident(&mut self) -> R<(String, Span)> {
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

    pub(super) fn int(&mut self) -> R<(u64, Span)> {
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

    pub(super) fn uid(&mut self) -> R<(u64, Span)> {
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

    pub(super) fn ordinal(&mut self) -> R<(u64, Span)> {
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

    pub(super) fn opt_uid(&mut self) -> DeclId {
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == "@") {
            let save = self.pos;
            if let Some((v, s)) = self.uid() {
                return DeclId::Uid(v, s);
            }
            self.pos = save;
        }
        DeclId::Unspecified
    }

    pub(super) fn peek_op(&mut self, op: &str) -> bool {
        if matches!(self.peek().map(|t| &t.kind), Some(TokenKind::Op(o)) if o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A parenthesized list of identifiers (generic parameters); `None` if absent.
    pub(super) fn ident_list(&mut self, bracket: bool) -> R<Vec<(String, Span)>> {
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
}
