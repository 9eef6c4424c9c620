//! The arithmetic of the Calculator, free of RPC: operators, arity and parameter checks.
//!
//! Every check returns an [`EvalError`] whose message is what the peer sees; `server.rs` turns it
//! into a `capnp::Error` of kind `Failed`.

use crate::calculator_capnp::calculator::Operator;

/// Why an evaluation was refused. The messages go to the peer verbatim.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// A function got a different number of arguments than it takes.
    #[error("{function} takes {expected} parameter(s) but was called with {got}")]
    Arity {
        /// What was called, for the message (e.g. `operator add`).
        function: String,
        /// How many parameters it takes.
        expected: u32,
        /// How many it was given.
        got: u32,
    },
    /// A `parameter` expression refers past the end of the parameter list.
    #[error("parameter {index} is out of range: the function has {count} parameter(s)")]
    ParameterOutOfRange {
        /// The index asked for.
        index: u32,
        /// How many parameters there are.
        count: u32,
    },
    /// A `parameter` expression outside the body of a function.
    #[error(
        "parameter {index} used outside a function body (only defFunction bodies have parameters)"
    )]
    ParameterOutsideFunction {
        /// The index asked for.
        index: u32,
    },
    /// `defFunction` with a negative parameter count.
    #[error("paramCount must not be negative, got {0}")]
    NegativeParamCount(i32),
    /// An operator number this implementation does not know.
    #[error("unknown operator {0} (known: add=0, subtract=1, multiply=2, divide=3)")]
    UnknownOperator(u16),
}

impl From<EvalError> for capnp::Error {
    fn from(e: EvalError) -> Self {
        capnp::Error::failed(e.to_string())
    }
}

/// The name of `op` as written in the schema.
pub fn operator_name(op: Operator) -> &'static str {
    match op {
        Operator::Add => "add",
        Operator::Subtract => "subtract",
        Operator::Multiply => "multiply",
        Operator::Divide => "divide",
    }
}

/// Applies a binary operator. Division follows IEEE 754, as the reference calculators do:
/// `1 / 0` is `inf`, `0 / 0` is NaN.
pub fn apply(op: Operator, a: f64, b: f64) -> f64 {
    match op {
        Operator::Add => a + b,
        Operator::Subtract => a - b,
        Operator::Multiply => a * b,
        Operator::Divide => a / b,
    }
}

/// Applies `op` to an argument list, which must hold exactly two numbers.
///
/// # Errors
/// [`EvalError::Arity`] for any other count.
pub fn apply_to(op: Operator, args: &[f64]) -> Result<f64, EvalError> {
    match args {
        [a, b] => Ok(apply(op, *a, *b)),
        _ => Err(EvalError::Arity {
            function: format!("operator {}", operator_name(op)),
            expected: 2,
            got: count(args.len()),
        }),
    }
}

/// Checks that a function taking `expected` parameters was given `got`.
///
/// # Errors
/// [`EvalError::Arity`] when they differ.
pub fn check_arity(function: &str, expected: u32, got: u32) -> Result<(), EvalError> {
    if expected == got {
        Ok(())
    } else {
        Err(EvalError::Arity {
            function: function.to_string(),
            expected,
            got,
        })
    }
}

/// The parameter at `index`, where `params` is `None` outside a function body.
///
/// # Errors
/// [`EvalError::ParameterOutsideFunction`] or [`EvalError::ParameterOutOfRange`].
pub fn parameter(params: Option<&[f64]>, index: u32) -> Result<f64, EvalError> {
    let params = params.ok_or(EvalError::ParameterOutsideFunction { index })?;
    usize::try_from(index)
        .ok()
        .and_then(|i| params.get(i).copied())
        .ok_or(EvalError::ParameterOutOfRange {
            index,
            count: count(params.len()),
        })
}

/// Converts `defFunction`'s signed `paramCount` into a count.
///
/// # Errors
/// [`EvalError::NegativeParamCount`] below zero.
pub fn param_count(raw: i32) -> Result<u32, EvalError> {
    u32::try_from(raw).map_err(|_| EvalError::NegativeParamCount(raw))
}

/// Reads an operator from the wire, where an unknown number is a peer error, not a panic.
///
/// # Errors
/// [`EvalError::UnknownOperator`].
pub fn operator(raw: Result<Operator, capnp::NotInSchema>) -> Result<Operator, EvalError> {
    raw.map_err(|capnp::NotInSchema(n)| EvalError::UnknownOperator(n))
}

/// A list length as the `u32` Cap'n Proto uses; lists longer than that cannot exist in a message.
fn count(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_follow_ieee_754() {
        assert_eq!(apply(Operator::Add, 1.5, 2.0), 3.5);
        assert_eq!(apply(Operator::Subtract, 1.0, 3.0), -2.0);
        assert_eq!(apply(Operator::Multiply, -2.0, 4.0), -8.0);
        assert_eq!(apply(Operator::Divide, 1.0, 4.0), 0.25);
        assert_eq!(apply(Operator::Divide, 1.0, 0.0), f64::INFINITY);
        assert!(apply(Operator::Divide, 0.0, 0.0).is_nan());
    }

    #[test]
    fn operators_take_exactly_two_arguments() {
        assert_eq!(apply_to(Operator::Add, &[2.0, 3.0]), Ok(5.0));
        let err = apply_to(Operator::Divide, &[1.0, 2.0, 3.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "operator divide takes 2 parameter(s) but was called with 3"
        );
        assert!(apply_to(Operator::Add, &[]).is_err());
    }

    #[test]
    fn parameters_are_checked() {
        assert_eq!(parameter(Some(&[1.0, 2.0]), 1), Ok(2.0));
        assert_eq!(
            parameter(Some(&[1.0, 2.0]), 2),
            Err(EvalError::ParameterOutOfRange { index: 2, count: 2 })
        );
        assert_eq!(
            parameter(None, 0),
            Err(EvalError::ParameterOutsideFunction { index: 0 })
        );
        assert_eq!(
            parameter(Some(&[]), u32::MAX),
            Err(EvalError::ParameterOutOfRange {
                index: u32::MAX,
                count: 0
            })
        );
    }

    #[test]
    fn arity_and_counts() {
        assert!(check_arity("f", 2, 2).is_ok());
        assert!(check_arity("f", 2, 1).is_err());
        assert_eq!(param_count(3), Ok(3));
        assert_eq!(param_count(-1), Err(EvalError::NegativeParamCount(-1)));
        assert_eq!(operator(Ok(Operator::Add)), Ok(Operator::Add));
        assert_eq!(
            operator(Err(capnp::NotInSchema(9))),
            Err(EvalError::UnknownOperator(9))
        );
    }
}
