//! Client-side helpers: sending a parsed expression in one round trip, and serving callbacks.

use std::rc::Rc;

use capnp::Error;

use super::ops;
use super::parse::{Expr, MAX_DEPTH};
use crate::calculator_capnp::calculator::{self, expression, function, value, Operator};

/// Operator capabilities of one Calculator, fetched at most once each.
///
/// [`Operators::get`] returns the *pipelined* result of `getOperator`: the request is sent but
/// not awaited, so the capability can be used in an expression right away and the server
/// resolves it when the expression arrives — no round trip is spent on operators.
pub struct Operators {
    calculator: calculator::Client,
    cache: [Option<function::Client>; 4],
}

impl Operators {
    /// An empty cache for `calculator`.
    pub fn new(calculator: &calculator::Client) -> Self {
        Self {
            calculator: calculator.clone(),
            cache: Default::default(),
        }
    }

    /// The `Function` for `op`, requesting it (pipelined) on first use.
    pub fn get(&mut self, op: Operator) -> function::Client {
        let calculator = &self.calculator;
        self.cache[op as usize]
            .get_or_insert_with(|| {
                let mut request = calculator.get_operator_request();
                request.get().set_op(op);
                request.send().pipeline.get_func()
            })
            .clone()
    }
}

/// Writes `expr` into `builder`, using `operators` for every operator node.
///
/// The whole tree goes into this one message: a tree deeper than [`MAX_DEPTH`] may exceed the
/// server's nesting limit. [`evaluate`] splits such trees; use it unless you need the builder.
pub fn build_expression(
    expr: &Expr,
    mut builder: expression::Builder<'_>,
    operators: &mut Operators,
) {
    match expr {
        Expr::Number(n) => {
            builder.set_literal(*n);
        }
        Expr::Neg(x) => {
            // -x is multiply(-1, x): exact negation in IEEE 754, with the sign of zero kept.
            build_call(
                builder,
                operators,
                Operator::Multiply,
                &Expr::Number(-1.0),
                x,
            );
        }
        Expr::Binary { op, lhs, rhs } => build_call(builder, operators, *op, lhs, rhs),
    }
}

fn build_call(
    builder: expression::Builder<'_>,
    operators: &mut Operators,
    op: Operator,
    lhs: &Expr,
    rhs: &Expr,
) {
    let mut call = builder.init_call();
    call.set_function(operators.get(op));
    let mut params = call.init_params(2);
    build_expression(lhs, params.reborrow().get(0), operators);
    build_expression(rhs, params.get(1), operators);
}

/// Evaluates `expr` on the server in one network round trip: the operators, the `evaluate` and
/// the `read` of its result are all pipelined. A tree deeper than [`MAX_DEPTH`] goes as several
/// pipelined `evaluate` calls (see [`MAX_DEPTH`]), still in one round trip, with the same result.
///
/// # Errors
/// Whatever the server or the connection reports.
pub async fn evaluate(calculator: &calculator::Client, expr: &Expr) -> Result<f64, Error> {
    let mut operators = Operators::new(calculator);
    evaluate_with(calculator, expr, &mut operators).await
}

/// [`evaluate`] reusing an operator cache across expressions.
///
/// # Errors
/// Whatever the server or the connection reports.
pub async fn evaluate_with(
    calculator: &calculator::Client,
    expr: &Expr,
    operators: &mut Operators,
) -> Result<f64, Error> {
    let value = send(calculator, expr, operators);
    let response = value.read_request().send().promise.await?;
    Ok(response.get()?.get_value())
}

/// Sends `evaluate(expr)` and returns its pipelined `Value`. A subtree that would reach past
/// [`MAX_DEPTH`] levels of this message is sent first, as an `evaluate` of its own, and stands
/// here as a `previousResult`: every message stays within the server's nesting limit, the
/// server performs the same operations in the same order, and nothing waits for an answer.
fn send(calculator: &calculator::Client, expr: &Expr, operators: &mut Operators) -> value::Client {
    let mut request = calculator.evaluate_request();
    let builder = request.get().init_expression();
    build_within(expr, builder, calculator, operators, MAX_DEPTH);
    request.send().pipeline.get_value()
}

/// [`build_expression`], with at most `levels` levels in this message.
fn build_within(
    expr: &Expr,
    mut builder: expression::Builder<'_>,
    calculator: &calculator::Client,
    operators: &mut Operators,
    levels: usize,
) {
    let (op, lhs, rhs) = match expr {
        Expr::Number(n) => {
            builder.set_literal(*n);
            return;
        }
        _ if levels <= 1 => {
            builder.set_previous_result(send(calculator, expr, operators));
            return;
        }
        Expr::Neg(x) => (Operator::Multiply, &Expr::Number(-1.0), &**x),
        Expr::Binary { op, lhs, rhs } => (*op, &**lhs, &**rhs),
    };
    let mut call = builder.init_call();
    call.set_function(operators.get(op));
    let mut params = call.init_params(2);
    build_within(
        lhs,
        params.reborrow().get(0),
        calculator,
        operators,
        levels - 1,
    );
    build_within(rhs, params.get(1), calculator, operators, levels - 1);
}

/// A `Function` capability that runs `f` in this process: pass it to the server in an
/// expression and the server calls back into it over the same connection.
///
/// `arity` is checked before `f` runs, so `f` may index its slice freely.
///
/// ```no_run
/// # fn main() {
/// let pow = windlass_calculator::function("pow", 2, |args| args[0].powf(args[1]));
/// # }
/// ```
pub fn function<F>(name: &str, arity: u32, f: F) -> function::Client
where
    F: Fn(&[f64]) -> f64 + 'static,
{
    capnp_rpc::new_client(LocalFunction {
        name: name.to_string(),
        arity,
        f,
    })
}

struct LocalFunction<F> {
    name: String,
    arity: u32,
    f: F,
}

impl<F: Fn(&[f64]) -> f64 + 'static> function::Server for LocalFunction<F> {
    async fn call(
        self: Rc<Self>,
        params: function::CallParams,
        mut results: function::CallResults,
    ) -> Result<(), Error> {
        let args: Vec<f64> = params.get()?.get_params()?.iter().collect();
        let got = u32::try_from(args.len()).unwrap_or(u32::MAX);
        ops::check_arity(&self.name, self.arity, got).map_err(capnp::Error::from)?;
        results.get().set_value((self.f)(&args));
        Ok(())
    }
}
