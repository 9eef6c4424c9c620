//! Errors with a place: `file:line:column: message`, then the offending line and a caret.

use std::fmt;

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// The range `start..end` (saturating at 4 GiB).
    pub fn new(start: usize, end: usize) -> Self {
        let c = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Span {
            start: c(start),
            end: c(end.max(start)),
        }
    }

    /// The smallest range covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// An error inside one file, before it is given the file's name and text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Diagnostic {
    pub span: Span,
    pub message: String,
}

impl Diagnostic {
    pub(crate) fn new(span: Span, message: String) -> Self {
        Diagnostic { span, message }
    }
}

/// One error, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The file as named on the command line or in the import.
    pub file: String,
    /// 1-based line (0 when the error is about the file as a whole).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and, where it helps, what was expected.
    pub message: String,
    /// The source line the error is on, if any.
    pub source_line: Option<String>,
    /// How many characters of `source_line` the offending text covers (at least 1).
    pub width: usize,
}

impl Error {
    /// An error about a whole file (not found, unreadable), or a command-line problem.
    pub fn whole_file(file: &str, message: String) -> Self {
        Error {
            file: file.to_string(),
            line: 0,
            column: 0,
            message,
            source_line: None,
            width: 0,
        }
    }

    pub(crate) fn locate(file: &str, text: &str, d: &Diagnostic) -> Self {
        let start = (d.span.start as usize).min(text.len());
        let end = (d.span.end as usize).clamp(start, text.len());
        let line_start = text[..floor_char(text, start)]
            .rfind('\n')
            .map_or(0, |i| i + 1);
        let line_end = text[line_start..]
            .find('\n')
            .map_or(text.len(), |i| line_start + i);
        let line = text[..line_start].matches('\n').count() + 1;
        let col_text = &text[line_start..floor_char(text, start)];
        let column = col_text.chars().count() + 1;
        let covered_end = floor_char(text, end.min(line_end));
        let width = text[floor_char(text, start)..covered_end.max(floor_char(text, start))]
            .chars()
            .count()
            .max(1);
        Error {
            file: file.to_string(),
            line,
            column,
            message: d.message.clone(),
            source_line: Some(
                text[line_start..line_end]
                    .trim_end_matches('\r')
                    .to_string(),
            ),
            width,
        }
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: error: {}", self.file, self.message);
        }
        write!(
            f,
            "{}:{}:{}: error: {}",
            self.file, self.line, self.column, self.message
        )?;
        if let Some(src) = &self.source_line {
            let pad: String = src
                .chars()
                .take(self.column.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(f, "\n  {src}\n  {pad}{}", "^".repeat(self.width.min(80)))?;
        }
        Ok(())
    }
}

/// Every error found in one compilation, in the order found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Errors(pub Vec<Error>);

impl fmt::Display for Errors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Errors {}
