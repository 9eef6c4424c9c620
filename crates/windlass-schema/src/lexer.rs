//! The lexer: source text to statements of token trees, as the reference compiler's lexer does.
//!
//! A statement is a run of tokens ended by `;` or by a `{ ... }` block of statements. Parentheses
//! and brackets are lexed as nested comma-separated lists. A `#` comment directly after the `;`
//! or `{` (on the same line or the next, with no blank line) is the statement's doc comment;
//! other comments are discarded.

use crate::error::{Diagnostic, Span};

/// One token; lists carry their comma-separated items.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind {
    /// `[A-Za-z_][A-Za-z0-9_]*`
    Ident(String),
    /// `"..."` with escapes interpreted.
    Str(String),
    /// `0x"..."`
    Binary(Vec<u8>),
    /// Decimal, `0x` hex or `0` octal.
    Int(u64),
    /// A number with a fraction or exponent.
    Float(f64),
    /// A run of operator characters.
    Op(String),
    /// `( a, b )`: the items.
    Paren(Vec<Vec<Token>>),
    /// `[ a, b ]`: the items.
    Bracket(Vec<Vec<Token>>),
}

/// A token and where it is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

/// A statement: its tokens, its block if it ends with one, and its doc comment.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    pub tokens: Vec<Token>,
    pub block: Option<Vec<Statement>>,
    pub doc: Option<String>,
    pub span: Span,
}

const OP_CHARS: &[u8] = b"!$%&*+-./:<=>?@^|~";
/// How deeply parentheses, brackets and blocks may nest before the input is refused.
const MAX_DEPTH: usize = 64;

struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    depth: usize,
}

type LexResult<T> = Result<T, Diagnostic>;

/// Lexes a whole file into its top-level statements.
pub(crate) fn lex(src: &str) -> LexResult<Vec<Statement>> {
    let mut lx = Lexer {
        src: src.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let stmts = lx.statements()?;
    if lx.pos < lx.src.len() {
        return Err(lx.err_here(match lx.src[lx.pos] {
            b'}' => "unexpected '}': no block is open here",
            _ => "parse error: expected a declaration ending with ';' or a '{ ... }' block",
        }));
    }
    Ok(stmts)
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Lexer<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.get(self.pos).copied()
    }

    fn peek_at(&self, off: usize) -> Option<u8> {
        self.src.get(self.pos + off).copied()
    }

    fn span_from(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    fn err_here(&self, msg: &str) -> Diagnostic {
        let end = (self.pos + 1).min(self.src.len());
        Diagnostic::new(Span::new(self.pos, end.max(self.pos)), msg.to_string())
    }

    fn enter(&mut self) -> LexResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_here("nesting is too deep"));
        }
        Ok(())
    }

    /// Whitespace, byte-order marks and (discarded) comments.
    fn skip_space(&mut self) {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => self.pos += 1,
                Some(0xef) if self.peek_at(1) == Some(0xbb) && self.peek_at(2) == Some(0xbf) => {
                    self.pos += 3
                }
                Some(b'#') => {
                    while let Some(c) = self.peek() {
                        self.pos += 1;
                        if c == b'\n' {
                            break;
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// A doc comment: line whitespace, at most one newline, then one or more comment lines.
    fn doc_comment(&mut self) -> Option<String> {
        let save = self.pos;
        self.skip_line_space();
        match self.peek() {
            Some(b'\n') => self.pos += 1,
            Some(b'\r') => {
                self.pos += 1;
                if self.peek() == Some(b'\n') {
                    self.pos += 1;
                }
            }
            _ => {}
        }
        let mut lines: Vec<String> = Vec::new();
        loop {
            let line_start = self.pos;
            self.skip_line_space();
            if self.peek() != Some(b'#') {
                self.pos = line_start;
                break;
            }
            self.pos += 1;
            if self.peek() == Some(b' ') {
                self.pos += 1;
            }
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'\n' {
                    break;
                }
                self.pos += 1;
            }
            lines.push(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned());
            if self.peek() == Some(b'\n') {
                self.pos += 1;
            }
        }
        if lines.is_empty() {
            self.pos = save;
            return None;
        }
        let mut text = String::new();
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        Some(text)
    }

    fn skip_line_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_ascii_whitespace() && c != b'\n' && c != b'\r' || c == 0x0b {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    fn statements(&mut self) -> LexResult<Vec<Statement>> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None | Some(b'}') => return Ok(out),
                _ => out.push(self.statement()?),
            }
        }
    }

    fn statement(&mut self) -> LexResult<Statement> {
        let start = self.pos;
        let tokens = self.token_sequence()?;
        match self.peek() {
            Some(b';') => {
                self.pos += 1;
                let doc = self.doc_comment();
                Ok(Statement {
                    tokens,
                    block: None,
                    doc,
                    span: self.span_from(start),
                })
            }
            Some(b'{') => {
                self.pos += 1;
                self.enter()?;
                let doc = self.doc_comment();
                let body = self.statements()?;
                if self.peek() != Some(b'}') {
                    return Err(self.err_here("expected '}' to close the block"));
                }
                self.pos += 1;
                self.depth -= 1;
                let late = self.doc_comment();
                Ok(Statement {
                    tokens,
                    block: Some(body),
                    doc: doc.or(late),
                    span: self.span_from(start),
                })
            }
            None => Err(self.err_here("unexpected end of file: expected ';' or '{'")),
            Some(_) => Err(self.err_here("unexpected character: expected ';' or '{'")),
        }
    }

    fn token_sequence(&mut self) -> LexResult<Vec<Token>> {
        let mut out = Vec::new();
        loop {
            self.skip_space();
            match self.token()? {
                Some(t) => out.push(t),
                None => return Ok(out),
            }
        }
    }

    fn list(&mut self, close: u8) -> LexResult<Vec<Vec<Token>>> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            let item = self.token_sequence()?;
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    items.push(item);
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    // `()` is empty; a trailing comma is allowed.
                    if !item.is_empty() {
                        items.push(item);
                    }
                    self.depth -= 1;
                    return Ok(items);
                }
                _ => {
                    return Err(self.err_here(if close == b')' {
                        "expected ',' or ')'"
                    } else {
                        "expected ',' or ']'"
                    }))
                }
            }
        }
    }

    fn token(&mut self) -> LexResult<Option<Token>> {
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let kind = if is_ident_start(c) {
            while self.peek().is_some_and(is_ident_char) {
                self.pos += 1;
            }
            TokenKind::Ident(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
        } else if c == b'"' {
            TokenKind::Str(self.string()?)
        } else if c == b'0' && self.peek_at(1) == Some(b'x') && self.peek_at(2) == Some(b'"') {
            self.pos += 2;
            TokenKind::Binary(self.hex_binary()?)
        } else if c.is_ascii_digit() {
            self.number()?
        } else if OP_CHARS.contains(&c) {
            while self.peek().is_some_and(|c| OP_CHARS.contains(&c)) {
                self.pos += 1;
            }
            TokenKind::Op(String::from_utf8_lossy(&self.src[start..self.pos]).into_owned())
        } else if c == b'(' {
            self.pos += 1;
            TokenKind::Paren(self.list(b')')?)
        } else if c == b'[' {
            self.pos += 1;
            TokenKind::Bracket(self.list(b']')?)
        } else if c == 0 || c == 0xff || c == 0xfe {
            return Err(self.err_here(
                "Non-UTF-8 input detected. Cap'n Proto schema files must be UTF-8 text.",
            ));
        } else {
            return Ok(None);
        };
        Ok(Some(Token {
            kind,
            span: self.span_from(start),
        }))
    }

    fn string(&mut self) -> LexResult<String> {
        self.pos += 1;
        let mut bytes = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\n') => return Err(self.err_here("unterminated string literal")),
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(b'\\') => {
                    self.pos += 1;
                    bytes.push(self.escape()?);
                }
                Some(c) => {
                    bytes.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    fn escape(&mut self) -> LexResult<u8> {
        let Some(c) = self.peek() else {
            return Err(self.err_here("unterminated escape sequence"));
        };
        self.pos += 1;
        Ok(match c {
            b'a' => 7,
            b'b' => 8,
            b'f' => 12,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'v' => 11,
            b'\'' | b'"' | b'\\' | b'?' => c,
            b'x' => {
                let (Some(h), Some(l)) = (
                    self.peek().and_then(hex_val),
                    self.peek_at(1).and_then(hex_val),
                ) else {
                    return Err(self.err_here("expected two hex digits after '\\x'"));
                };
                self.pos += 2;
                h << 4 | l
            }
            b'0'..=b'7' => {
                let mut v = c - b'0';
                for _ in 0..2 {
                    match self.peek() {
                        Some(d @ b'0'..=b'7') => {
                            v = v.wrapping_shl(3) | (d - b'0');
                            self.pos += 1;
                        }
                        _ => break,
                    }
                }
                v
            }
            _ => {
                self.pos -= 1;
                return Err(self.err_here("invalid escape sequence"));
            }
        })
    }

    fn hex_binary(&mut self) -> LexResult<Vec<u8>> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                self.pos += 1;
            }
            match self.peek() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) if hex_val(c).is_some() => {
                    let (Some(h), Some(l)) = (hex_val(c), self.peek_at(1).and_then(hex_val)) else {
                        return Err(self.err_here("hex data must have an even number of digits"));
                    };
                    out.push(h << 4 | l);
                    self.pos += 2;
                }
                _ => return Err(self.err_here("expected hex digits or '\"' in 0x\"...\" data")),
            }
        }
    }

    fn number(&mut self) -> LexResult<TokenKind> {
        let start = self.pos;
        let not_followed = |lx: &Self| {
            !lx.peek()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_' || c == b'.')
        };
        // Integer forms first, as the reference lexer tries them.
        if self.peek() == Some(b'0') && self.peek_at(1) == Some(b'x') {
            self.pos += 2;
            let ds = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                self.pos += 1;
            }
            if self.pos > ds && not_followed(self) {
                return self.int_value(ds, 16);
            }
            self.pos = start;
        } else if self.peek() == Some(b'0') {
            self.pos += 1;
            while self.peek().is_some_and(|c| (b'0'..=b'7').contains(&c)) {
                self.pos += 1;
            }
            if not_followed(self) {
                return self.int_value(start, 8);
            }
            self.pos = start;
        } else {
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if not_followed(self) {
                return self.int_value(start, 10);
            }
            self.pos = start;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let mut text = String::from_utf8_lossy(&self.src[start..self.pos]).into_owned();
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.pos += 1;
            let mut exp = String::from("e");
            if let Some(s @ (b'+' | b'-')) = self.peek() {
                exp.push(s as char);
                self.pos += 1;
            }
            let ds = self.pos;
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
            if self.pos > ds {
                exp.push_str(&String::from_utf8_lossy(&self.src[ds..self.pos]));
                text.push_str(&exp);
            }
        }
        if !not_followed(self) {
            return Err(self.err_here("invalid number"));
        }
        if text.ends_with('.') {
            text.push('0');
        }
        match text.parse::<f64>() {
            Ok(v) => Ok(TokenKind::Float(v)),
            Err(_) => Err(Diagnostic::new(
                self.span_from(start),
                "invalid number".into(),
            )),
        }
    }

    fn int_value(&mut self, digits_start: usize, radix: u32) -> LexResult<TokenKind> {
        let digits = String::from_utf8_lossy(&self.src[digits_start..self.pos]).into_owned();
        if digits.is_empty() {
            return Ok(TokenKind::Int(0));
        }
        match u64::from_str_radix(&digits, radix) {
            Ok(v) => Ok(TokenKind::Int(v)),
            Err(_) => Err(Diagnostic::new(
                Span::new(digits_start, self.pos),
                "integer literal is too large (more than 64 bits)".into(),
            )),
        }
    }
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_and_docs() {
        let s = lex("@0xbf5147cbbecf40c1;\n# file doc\nstruct Foo { # d\n a @0 :Int32; # x\n}\n")
            .expect("lexes");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].doc.as_deref(), Some("file doc\n"));
        assert_eq!(s[1].doc.as_deref(), Some("d\n"));
        let body = s[1].block.as_ref().expect("block");
        assert_eq!(body[0].doc.as_deref(), Some("x\n"));
        assert_eq!(body[0].tokens.len(), 5);
    }

    #[test]
    fn lists() {
        let s = lex("x (a, b,) [] ();").expect("lexes");
        match &s[0].tokens[1].kind {
            TokenKind::Paren(items) => assert_eq!(items.len(), 2),
            k => panic!("{k:?}"),
        }
        match &s[0].tokens[2].kind {
            TokenKind::Bracket(items) => assert!(items.is_empty()),
            k => panic!("{k:?}"),
        }
    }
}
