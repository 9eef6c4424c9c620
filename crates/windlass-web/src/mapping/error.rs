//! Why a value does not fit a schema, naming where in the value.

use std::fmt;

/// One step of a path into a value: a field or a list index.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Step {
    Field(String),
    Index(u32),
}

/// A value that does not fit the schema (or a message that does not fit it), with the path
/// of the offending field: "`expression.call.params[1].literal`: expected a number, got
/// string". The path is empty when the problem is the whole value.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub(crate) struct MapError {
    /// Outermost step last: errors are made at the leaf and steps pushed while unwinding.
    steps: Vec<Step>,
    message: String,
}

impl MapError {
    /// An error about the value at the current position.
    pub(crate) fn new(message: impl Into<String>) -> MapError {
        MapError {
            steps: Vec::new(),
            message: message.into(),
        }
    }

    /// "expected `want`, got <type of `got`>".
    pub(crate) fn expected(want: &str, got: &crate::Value) -> MapError {
        MapError::new(format!("expected {want}, got {}", got.type_name()))
    }

    /// The same error, seen from the struct holding field `name`.
    pub(crate) fn in_field(mut self, name: &str) -> MapError {
        self.steps.push(Step::Field(name.to_string()));
        self
    }

    /// The same error, seen from the list holding element `index`.
    pub(crate) fn in_index(mut self, index: u32) -> MapError {
        self.steps.push(Step::Index(index));
        self
    }

    /// The path to the offending value (`expression.call.params[1].literal`), or `""`.
    pub(crate) fn path(&self) -> String {
        let mut out = String::new();
        for step in self.steps.iter().rev() {
            match step {
                Step::Field(name) if out.is_empty() => out.push_str(name),
                Step::Field(name) => {
                    out.push('.');
                    out.push_str(name);
                }
                Step::Index(i) => {
                    // `fmt::Write` on a String cannot fail.
                    let _ = fmt::Write::write_fmt(&mut out, format_args!("[{i}]"));
                }
            }
        }
        out
    }

    fn render(&self) -> String {
        let path = self.path();
        if path.is_empty() {
            self.message.clone()
        } else {
            format!("`{path}`: {}", self.message)
        }
    }
}

impl From<capnp::Error> for MapError {
    /// A message the layout readers refused (corrupt, or over the traversal limit).
    fn from(error: capnp::Error) -> MapError {
        MapError::new(format!("malformed message: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_path_outermost_first() {
        let e = MapError::new("expected a number, got string")
            .in_field("literal")
            .in_index(1)
            .in_field("params")
            .in_field("call")
            .in_field("expression");
        assert_eq!(e.path(), "expression.call.params[1].literal");
        assert_eq!(
            e.to_string(),
            "`expression.call.params[1].literal`: expected a number, got string"
        );
    }

    #[test]
    fn no_path_no_backticks() {
        assert_eq!(MapError::new("too many").to_string(), "too many");
    }
}
