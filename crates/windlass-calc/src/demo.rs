//! The scenario `windlass-calc demo` runs: every Calculator feature, checked.
//!
//! Each check runs against a live `Calculator` capability and reports PASS or FAIL, the value
//! it got and how long it took. The same scenario is run by `examples/calculator_client.rs` and
//! by the integration tests, so what the demo shows is what the tests check.

use std::future::Future;
use std::time::{Duration, Instant};

use capnp::Error;

use windlass_calculator::calculator_capnp::calculator::{evaluate_params, evaluate_results};
use windlass_calculator::{self as calculator, Calculator, Operator, Operators};

type EvaluateRequest = capnp::capability::Request<evaluate_params::Owned, evaluate_results::Owned>;

/// The outcome of one check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// The value the check expects.
    pub expected: f64,
    /// The value the server returned, or the error.
    pub outcome: Result<f64, String>,
    /// From sending the first request to receiving the result.
    pub latency: Duration,
}

impl Check {
    /// Whether the server returned exactly the expected value.
    pub fn passed(&self) -> bool {
        matches!(self.outcome, Ok(v) if v == self.expected)
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verdict = if self.passed() { "PASS" } else { "FAIL" };
        let micros = self.latency.as_secs_f64() * 1e6;
        match &self.outcome {
            Ok(v) => write!(
                f,
                "{verdict}  {:<44} = {v:<8} (expected {}, {micros:.0} µs)",
                self.name, self.expected
            ),
            Err(e) => write!(
                f,
                "{verdict}  {:<44} error: {e} ({micros:.0} µs)",
                self.name
            ),
        }
    }
}

/// How long each check of [`run`] may take.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs every check in order against `calc` and returns their outcomes. A failing check does
/// not stop the others; each may take [`CHECK_TIMEOUT`].
pub async fn run(calc: &Calculator) -> Vec<Check> {
    run_with_timeout(calc, CHECK_TIMEOUT).await
}

/// [`run`], with each check failing once it has taken `timeout` (its calls are then cancelled),
/// so a server that accepts and never answers cannot hang the demo.
pub async fn run_with_timeout(calc: &Calculator, timeout: Duration) -> Vec<Check> {
    let check = Checker(timeout);
    let mut checks = Vec::new();
    checks.push(check.run("literal 123", 123.0, literal(calc)).await);
    checks.push(
        check
            .run(
                "123 + 45 - 67 with pipelined operators",
                101.0,
                arithmetic(calc),
            )
            .await,
    );
    checks.push(
        check
            .run(
                "pipelined previousResult: (4 * 6) + 3",
                27.0,
                previous_result(calc),
            )
            .await,
    );
    checks.push(
        check
            .run(
                "defFunction f(12, 34) + g(21) = 1234 + 4244",
                5478.0,
                functions(calc),
            )
            .await,
    );
    checks.push(
        check
            .run("client callback pow(2, 4 + 5)", 512.0, callback(calc))
            .await,
    );
    checks.push(
        check
            .run("parsed \"(4 + 5) * 3 - 1 / 2\"", 26.5, parsed(calc))
            .await,
    );
    checks
}

/// Runs checks with one timeout each.
struct Checker(Duration);

impl Checker {
    async fn run<F>(&self, name: &'static str, expected: f64, work: F) -> Check
    where
        F: Future<Output = Result<f64, Error>>,
    {
        check(name, expected, work, self.0).await
    }
}

async fn check<F>(name: &'static str, expected: f64, work: F, timeout: Duration) -> Check
where
    F: Future<Output = Result<f64, Error>>,
{
    let start = Instant::now();
    let outcome = match tokio::time::timeout(timeout, work).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("no answer within {timeout:?} (demo --timeout)")),
    };
    Check {
        name,
        expected,
        outcome,
        latency: start.elapsed(),
    }
}

/// Sends an `evaluate` and, without waiting for it, `read()` on the value it will return: both
/// calls travel together, so the answer costs one round trip.
async fn send_and_read(request: EvaluateRequest) -> Result<f64, Error> {
    let value = request.send().pipeline.get_value();
    Ok(value
        .read_request()
        .send()
        .promise
        .await?
        .get()?
        .get_value())
}

/// `evaluate(literal)` then `read()`, pipelined: one round trip.
async fn literal(calc: &Calculator) -> Result<f64, Error> {
    let mut request = calc.evaluate_request();
    request.get().init_expression().set_literal(123.0);
    send_and_read(request).await
}

/// Two `getOperator` calls, an `evaluate` using both, and a `read()`: four calls, one round trip.
async fn arithmetic(calc: &Calculator) -> Result<f64, Error> {
    let mut ops = Operators::new(calc);
    let mut request = calc.evaluate_request();
    {
        let mut subtract = request.get().init_expression().init_call();
        subtract.set_function(ops.get(Operator::Subtract));
        let mut args = subtract.init_params(2);
        args.reborrow().get(1).set_literal(67.0);
        let mut add = args.get(0).init_call();
        add.set_function(ops.get(Operator::Add));
        let mut args = add.init_params(2);
        args.reborrow().get(0).set_literal(123.0);
        args.get(1).set_literal(45.0);
    }
    send_and_read(request).await
}

/// `evaluate(4 * 6)` and, before its answer, `evaluate(previousResult + 3)` on the promised value.
async fn previous_result(calc: &Calculator) -> Result<f64, Error> {
    let mut ops = Operators::new(calc);
    let mut first = calc.evaluate_request();
    {
        let mut call = first.get().init_expression().init_call();
        call.set_function(ops.get(Operator::Multiply));
        let mut args = call.init_params(2);
        args.reborrow().get(0).set_literal(4.0);
        args.get(1).set_literal(6.0);
    }
    let product = first.send().pipeline.get_value();

    let mut second = calc.evaluate_request();
    {
        let mut call = second.get().init_expression().init_call();
        call.set_function(ops.get(Operator::Add));
        let mut args = call.init_params(2);
        args.reborrow().get(0).set_previous_result(product);
        args.get(1).set_literal(3.0);
    }
    send_and_read(second).await
}

/// Defines `f(x, y) = x * 100 + y` and `g(x) = f(x, x + 1) * 2` on the server, then evaluates
/// `f(12, 34) + g(21)`, all pipelined.
async fn functions(calc: &Calculator) -> Result<f64, Error> {
    let mut ops = Operators::new(calc);
    let f = {
        let mut request = calc.def_function_request();
        let mut def = request.get();
        def.set_param_count(2);
        let mut add = def.init_body().init_call();
        add.set_function(ops.get(Operator::Add));
        let mut args = add.init_params(2);
        args.reborrow().get(1).set_parameter(1);
        let mut multiply = args.get(0).init_call();
        multiply.set_function(ops.get(Operator::Multiply));
        let mut args = multiply.init_params(2);
        args.reborrow().get(0).set_parameter(0);
        args.get(1).set_literal(100.0);
        request.send().pipeline.get_func()
    };
    let g = {
        let mut request = calc.def_function_request();
        let mut def = request.get();
        def.set_param_count(1);
        let mut multiply = def.init_body().init_call();
        multiply.set_function(ops.get(Operator::Multiply));
        let mut args = multiply.init_params(2);
        args.reborrow().get(1).set_literal(2.0);
        let mut call_f = args.get(0).init_call();
        call_f.set_function(f.clone());
        let mut args = call_f.init_params(2);
        args.reborrow().get(0).set_parameter(0);
        let mut add = args.get(1).init_call();
        add.set_function(ops.get(Operator::Add));
        let mut args = add.init_params(2);
        args.reborrow().get(0).set_parameter(0);
        args.get(1).set_literal(1.0);
        request.send().pipeline.get_func()
    };

    let mut request = calc.evaluate_request();
    {
        let mut add = request.get().init_expression().init_call();
        add.set_function(ops.get(Operator::Add));
        let mut args = add.init_params(2);
        let mut call_f = args.reborrow().get(0).init_call();
        call_f.set_function(f);
        let mut f_args = call_f.init_params(2);
        f_args.reborrow().get(0).set_literal(12.0);
        f_args.get(1).set_literal(34.0);
        let mut call_g = args.get(1).init_call();
        call_g.set_function(g);
        call_g.init_params(1).get(0).set_literal(21.0);
    }
    send_and_read(request).await
}

/// `pow(2, 4 + 5)` where `pow` lives in this process: the server calls back into the client.
async fn callback(calc: &Calculator) -> Result<f64, Error> {
    let mut ops = Operators::new(calc);
    let pow = calculator::function("pow", 2, |args| args[0].powf(args[1]));
    let mut request = calc.evaluate_request();
    {
        let mut call = request.get().init_expression().init_call();
        call.set_function(pow);
        let mut args = call.init_params(2);
        args.reborrow().get(0).set_literal(2.0);
        let mut add = args.get(1).init_call();
        add.set_function(ops.get(Operator::Add));
        let mut args = add.init_params(2);
        args.reborrow().get(0).set_literal(4.0);
        args.get(1).set_literal(5.0);
    }
    send_and_read(request).await
}

/// The infix parser and [`calculator::evaluate`]: a whole expression in one round trip.
async fn parsed(calc: &Calculator) -> Result<f64, Error> {
    let expr =
        calculator::parse("(4 + 5) * 3 - 1 / 2").map_err(|e| Error::failed(e.to_string()))?;
    calculator::evaluate(calc, &expr).await
}
