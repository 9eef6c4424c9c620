//! Infix arithmetic (`(4 + 5) * 3 - 1 / 2`) parsed into an expression tree, with no RPC.
//!
//! Grammar, with the usual precedence and left associativity:
//!
//! ```text
//! expr    := term (('+' | '-') term)*
//! term    := unary (('*' | '/') unary)*
//! unary   := '-' unary | primary
//! primary := number | '(' expr ')'
//! number  := digits ['.' digits] [('e' | 'E') ['+' | '-'] digits]   (or '.' digits ...)
//! ```

use std::fmt;

use super::ops;
use crate::calculator_capnp::calculator::Operator;

/// The deepest tree one `evaluate` message carries. Each level of the tree is a `call` nested in
/// the request message, and the server reads requests with capnp's default nesting limit of 64
/// pointers, of which one level of the tree uses two (a struct and a list); 24 leaves room for
/// the request's own pointers and is measured in `tests/calculator.rs`.
///
/// [`evaluate`](super::evaluate) sends a deeper tree as several pipelined `evaluate` calls: a
/// subtree that would reach past this depth is evaluated on its own and its `Value` used in its
/// place as a `previousResult`. The server computes exactly what one message would have asked
/// for (the same operations in the same order, so the same floating-point result), and it is
/// still one round trip.
pub const MAX_DEPTH: usize = 24;

/// The deepest tree [`parse`] builds, e.g. a chain of 1 024 numbers joined by operators (each
/// operator of a left-to-right chain is one level). Evaluating, printing and dropping a tree
/// recurse once per level, so this keeps them well within a thread's stack; longer chains are
/// refused with a message naming the limit.
pub const MAX_TREE_DEPTH: usize = 1024;

/// How many parentheses and unary minus signs may nest, whatever the tree depth: bounds the
/// parser's recursion on hostile input such as a million `(`.
const MAX_SYNTAX_NESTING: usize = 256;

/// An arithmetic expression tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number.
    Number(f64),
    /// `-x` for an `x` that is not a plain number (a negated number is folded into [`Expr::Number`]).
    Neg(Box<Expr>),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: Operator,
        /// The left operand.
        lhs: Box<Expr>,
        /// The right operand.
        rhs: Box<Expr>,
    },
}

impl Expr {
    /// Evaluates the tree locally, with the same arithmetic as the server.
    pub fn eval(&self) -> f64 {
        match self {
            Expr::Number(n) => *n,
            Expr::Neg(x) => -x.eval(),
            Expr::Binary { op, lhs, rhs } => ops::apply(*op, lhs.eval(), rhs.eval()),
        }
    }

    /// How many levels the tree has (a number is 1).
    pub fn depth(&self) -> usize {
        match self {
            Expr::Number(_) => 1,
            Expr::Neg(x) => 1 + x.depth(),
            Expr::Binary { lhs, rhs, .. } => 1 + lhs.depth().max(rhs.depth()),
        }
    }
}

/// Why an expression did not parse, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct ParseError {
    /// 1-based column (in characters) where the problem is.
    pub column: usize,
    /// What is wrong there.
    pub message: String,
    input: String,
}

impl ParseError {
    /// The input with a caret under the offending column, for showing to a person:
    ///
    /// ```text
    /// (4 + ) * 3
    ///      ^ expected a number, '-' or '(' but found ')'
    /// ```
    pub fn pointer(&self) -> String {
        let pad = " ".repeat(self.column.saturating_sub(1));
        format!("{}\n{pad}^ {}", self.input, self.message)
    }
}

/// Parses an infix expression.
///
/// # Errors
/// [`ParseError`] naming the column of the first problem: an unexpected character, a missing
/// operand or parenthesis, a malformed number, more than 256 nested parentheses and signs, or a
/// tree deeper than [`MAX_TREE_DEPTH`].
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    let mut parser = Parser {
        chars: input.chars().collect(),
        pos: 0,
        input,
    };
    let expr = parser.expr(0)?;
    parser.skip_space();
    if let Some(c) = parser.peek() {
        return Err(parser.error(format!("expected an operator or the end but found '{c}'")));
    }
    Ok(expr)
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn expr(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut lhs = self.term(depth)?;
        while let Some(op) = self.operator(&[('+', Operator::Add), ('-', Operator::Subtract)]) {
            let rhs = self.term(depth)?;
            lhs = self.binary(op, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn term(&mut self, depth: usize) -> Result<Expr, ParseError> {
        let mut lhs = self.unary(depth)?;
        while let Some(op) = self.operator(&[('*', Operator::Multiply), ('/', Operator::Divide)]) {
            let rhs = self.unary(depth)?;
            lhs = self.binary(op, lhs, rhs)?;
        }
        Ok(lhs)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.skip_space();
        if depth > MAX_SYNTAX_NESTING {
            // Parentheses and signs that add no tree depth still recurse in the parser.
            return Err(self.error(format!(
                "more than {MAX_SYNTAX_NESTING} nested parentheses or signs"
            )));
        }
        if self.peek() == Some('-') {
            let start = self.pos;
            self.pos += 1;
            return match self.unary(depth + 1)? {
                Expr::Number(n) => Ok(Expr::Number(-n)),
                x => self.limit(Expr::Neg(Box::new(x)), start),
            };
        }
        self.primary(depth)
    }

    fn primary(&mut self, depth: usize) -> Result<Expr, ParseError> {
        self.skip_space();
        match self.peek() {
            Some('(') => {
                let open = self.pos;
                self.pos += 1;
                let inner = self.expr(depth + 1)?;
                self.skip_space();
                if self.peek() == Some(')') {
                    self.pos += 1;
                    Ok(inner)
                } else {
                    let found = self.describe_here();
                    Err(self.error(format!(
                        "expected ')' to close the '(' at column {} but found {found}",
                        open + 1
                    )))
                }
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            _ => {
                let found = self.describe_here();
                Err(self.error(format!("expected a number, '-' or '(' but found {found}")))
            }
        }
    }

    fn number(&mut self) -> Result<Expr, ParseError> {
        let start = self.pos;
        self.digits();
        if self.peek() == Some('.') {
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            self.pos += 1;
            if matches!(self.peek(), Some('+' | '-')) {
                self.pos += 1;
            }
            self.digits();
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() => Ok(Expr::Number(n)),
            Ok(_) => Err(self.error_at(start, format!("number '{text}' is too large"))),
            Err(_) => Err(self.error_at(start, format!("malformed number '{text}'"))),
        }
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
    }

    fn operator(&mut self, ops: &[(char, Operator)]) -> Option<(Operator, usize)> {
        self.skip_space();
        let c = self.peek()?;
        let &(_, op) = ops.iter().find(|(sym, _)| *sym == c)?;
        let at = self.pos;
        self.pos += 1;
        Some((op, at))
    }

    fn binary(
        &self,
        (op, at): (Operator, usize),
        lhs: Expr,
        rhs: Expr,
    ) -> Result<Expr, ParseError> {
        let expr = Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        };
        self.limit(expr, at)
    }

    fn limit(&self, expr: Expr, at: usize) -> Result<Expr, ParseError> {
        if expr.depth() > MAX_TREE_DEPTH {
            Err(self.error_at(
                at,
                format!(
                    "expression is too long or nested too deeply (more than {MAX_TREE_DEPTH} \
                     levels, e.g. a chain of {MAX_TREE_DEPTH} numbers); split it into several \
                     evaluations"
                ),
            ))
        } else {
            Ok(expr)
        }
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn describe_here(&self) -> String {
        match self.peek() {
            Some(c) => format!("'{c}'"),
            None => "the end of the expression".to_string(),
        }
    }

    fn error(&self, message: String) -> ParseError {
        self.error_at(self.pos, message)
    }

    fn error_at(&self, pos: usize, message: String) -> ParseError {
        ParseError {
            column: pos + 1,
            message,
            input: self.input.to_string(),
        }
    }
}

impl fmt::Display for Expr {
    /// Writes the tree back as fully parenthesised infix.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Neg(x) => write!(f, "-({x})"),
            Expr::Binary { op, lhs, rhs } => {
                let sym = match op {
                    Operator::Add => '+',
                    Operator::Subtract => '-',
                    Operator::Multiply => '*',
                    Operator::Divide => '/',
                };
                write!(f, "({lhs} {sym} {rhs})")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(input: &str) -> f64 {
        match parse(input) {
            Ok(expr) => expr.eval(),
            Err(e) => panic!("{input:?} should parse: {e}"),
        }
    }

    fn error(input: &str) -> ParseError {
        match parse(input) {
            Ok(expr) => panic!("{input:?} should not parse, got {expr}"),
            Err(e) => e,
        }
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(value("(4 + 5) * 3 - 1 / 2"), 26.5);
        assert_eq!(value("1 - 2 - 3"), -4.0);
        assert_eq!(value("8 / 4 / 2"), 1.0);
        assert_eq!(value("2 + 3 * 4"), 14.0);
        assert_eq!(value("2 * (3 + 4)"), 14.0);
        assert_eq!(value("  7  "), 7.0);
    }

    #[test]
    fn numbers() {
        assert_eq!(value("1.5"), 1.5);
        assert_eq!(value(".25"), 0.25);
        assert_eq!(value("3."), 3.0);
        assert_eq!(value("1e3"), 1000.0);
        assert_eq!(value("2.5E-1"), 0.25);
    }

    #[test]
    fn unary_minus() {
        assert_eq!(parse("-3"), Ok(Expr::Number(-3.0)));
        assert_eq!(value("--3"), 3.0);
        assert_eq!(value("-(2 + 3)"), -5.0);
        assert_eq!(value("4 * -2"), -8.0);
        assert_eq!(value("1 - -1"), 2.0);
        assert!(matches!(parse("-(1)"), Ok(Expr::Number(n)) if n == -1.0));
    }

    #[test]
    fn errors_point_at_the_column() {
        let e = error("(4 + ) * 3");
        assert_eq!(e.column, 6);
        assert!(e.message.contains("found ')'"), "{e}");
        assert_eq!(
            e.pointer(),
            "(4 + ) * 3\n     ^ expected a number, '-' or '(' but found ')'"
        );

        let e = error("(1 + 2");
        assert_eq!(e.column, 7);
        assert!(e.message.contains("column 1"), "{e}");

        assert_eq!(error("1 2").column, 3);
        assert_eq!(error("").column, 1);
        assert_eq!(error("1 + x").column, 5);
        assert_eq!(error("1e").message, "malformed number '1e'");
        assert_eq!(error("1e999").message, "number '1e999' is too large");
        assert_eq!(error("1 % 2").column, 3);
    }

    #[test]
    fn depth_is_bounded() {
        // Only the tree's depth counts, not how it is spelled: parentheses and chains alike.
        let deep = format!("{}1{}", "(1 + ".repeat(200), ")".repeat(200));
        assert_eq!(value(&deep), 201.0);
        let long_sum = vec!["1"; MAX_DEPTH + 1].join(" + ");
        assert_eq!(value(&long_sum), (MAX_DEPTH + 1) as f64);
        let longest = vec!["1"; MAX_TREE_DEPTH].join(" + ");
        let tree = parse(&longest).expect("a chain at the limit parses");
        assert_eq!(tree.depth(), MAX_TREE_DEPTH);
        assert_eq!(tree.eval(), MAX_TREE_DEPTH as f64);
        // Printing and dropping recurse once per level too: fine at the limit.
        assert_eq!(tree.to_string().matches('(').count(), MAX_TREE_DEPTH - 1);
        drop(tree);
        let too_long = vec!["1"; MAX_TREE_DEPTH + 1].join(" - ");
        let e = error(&too_long);
        assert!(e.message.contains("more than 1024 levels"), "{e}");
        let parens = format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(error(&parens).message.contains("nested parentheses"));
        assert!(error(&"-".repeat(100_000))
            .message
            .contains("nested parentheses"));
        assert_eq!(
            value(&format!("{}1{}", "(".repeat(200), ")".repeat(200))),
            1.0
        );
    }

    #[test]
    fn display_round_trips() {
        let expr = parse("(4 + 5) * 3 - -1 / 2").expect("parses");
        assert_eq!(parse(&expr.to_string()), Ok(expr));
    }
}
