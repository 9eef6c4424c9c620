//! The load loops: Calculator calls over open connections, one shape per [`Mode`], each call's
//! latency recorded in an HDR histogram, stopped by a shared [`Budget`] of time and operations.
//!
//! Everything runs on the caller's thread (capabilities are `!Send`); several connections are
//! driven by one `join_all`, not by spawned tasks, so the load generator costs one core at most
//! and its CPU time can be read from that one thread.

use std::cell::Cell;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;

use super::{BenchError, Mode};
use windlass::client::Connection;
use windlass_calculator::calculator_capnp::calculator::{expression, function, value};
use windlass_calculator::{Calculator, Operator};

/// When a run stops: at the deadline or after `remaining` operations, whichever comes first.
pub(crate) struct Budget {
    deadline: Instant,
    remaining: Cell<u64>,
}

impl Budget {
    pub(crate) fn new(duration: Duration, max_ops: u64) -> Self {
        Self {
            deadline: Instant::now() + duration,
            remaining: Cell::new(max_ops),
        }
    }

    /// Claims one operation; `false` once the budget is spent.
    pub(crate) fn take(&self) -> bool {
        let left = self.remaining.get();
        if left == 0 || Instant::now() >= self.deadline {
            return false;
        }
        self.remaining.set(left - 1);
        true
    }
}

/// The slowest latency a histogram tells apart; slower operations are recorded as this.
const MAX_LATENCY_NANOS: u64 = 100_000_000_000;

/// A latency histogram in nanoseconds, 1 ns to 100 s, 3 significant figures (~400 KiB).
pub(crate) fn histogram() -> Histogram<u64> {
    // Bounds 1 <= 2 * 1 <= 1e11 and 3 significant figures (0..=5 allowed): cannot fail.
    Histogram::new_with_bounds(1, MAX_LATENCY_NANOS, 3).expect("valid histogram bounds")
}

/// Records `since.elapsed()`.
pub(crate) fn record(latency: &mut Histogram<u64>, since: Instant) {
    let nanos = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
    latency.saturating_record(nanos.max(1));
}

/// What one call evaluates: a literal, or a tree of `adds` calls on the server's `add`.
enum Work {
    Literal,
    Adds { add: function::Client, adds: u32 },
}

impl Work {
    /// The work for `adds` calls per evaluate; fetches `calc`'s `add` function when needed (one
    /// round trip, in [`prepare`], before the clock starts).
    async fn fetch(calc: &Calculator, adds: u32) -> Result<Self, BenchError> {
        if adds == 0 {
            return Ok(Work::Literal);
        }
        let mut request = calc.get_operator_request();
        request.get().set_op(Operator::Add);
        let add = request.send().promise.await?.get()?.get_func()?;
        Ok(Work::Adds { add, adds })
    }
}

/// Each connection's calculator and what its calls carry, made ready before the clock starts.
pub(crate) struct Prepared {
    calculators: Vec<Calculator>,
    works: Vec<Work>,
}

/// Bootstraps a calculator on each of `conns` and fetches what `work` needs (see
/// [`Plan::work`](super::Plan::work)).
pub(crate) async fn prepare(conns: &[Connection], work: u32) -> Result<Prepared, BenchError> {
    let calculators: Vec<Calculator> = conns.iter().map(Connection::bootstrap).collect();
    let mut works = Vec::with_capacity(calculators.len());
    for calc in &calculators {
        works.push(Work::fetch(calc, work).await?);
    }
    Ok(Prepared { calculators, works })
}

/// Runs `mode` over the prepared connections until `budget` is spent; returns the operations
/// done and their latencies. There is one connection per [`Mode::connections`].
pub(crate) async fn drive(
    mode: Mode,
    prepared: &Prepared,
    budget: &Budget,
) -> Result<(u64, Histogram<u64>), BenchError> {
    let Prepared { calculators, works } = prepared;
    let mut latency = histogram();
    let ops = match mode {
        Mode::Seq => sequential(&calculators[0], &works[0], budget, &mut latency).await?,
        Mode::Pipe { depth } => {
            pipelined(&calculators[0], &works[0], depth, budget, &mut latency).await?
        }
        Mode::Conns { .. } => {
            let loops = calculators
                .iter()
                .zip(works)
                .map(|(calc, work)| async move {
                    let mut mine = histogram();
                    let ops = sequential(calc, work, budget, &mut mine).await?;
                    Ok::<_, BenchError>((ops, mine))
                });
            let mut total = 0;
            for result in futures::future::join_all(loops).await {
                let (ops, mine) = result?;
                total += ops;
                // Same bounds on both sides, so no value is out of range.
                latency
                    .add(&mine)
                    .expect("histograms with equal bounds add");
            }
            total
        }
        Mode::Chain { depth } => chains(&calculators[0], depth, budget, &mut latency).await?,
    };
    Ok((ops, latency))
}

async fn sequential(
    calc: &Calculator,
    work: &Work,
    budget: &Budget,
    latency: &mut Histogram<u64>,
) -> Result<u64, BenchError> {
    let mut ops = 0;
    while budget.take() {
        let start = Instant::now();
        worked_call(calc, work, ops as f64).await?;
        record(latency, start);
        ops += 1;
    }
    Ok(ops)
}

async fn pipelined(
    calc: &Calculator,
    work: &Work,
    depth: usize,
    budget: &Budget,
    latency: &mut Histogram<u64>,
) -> Result<u64, BenchError> {
    let timed = |n: u64| async move {
        let start = Instant::now();
        worked_call(calc, work, n as f64).await.map(|()| start)
    };
    let mut in_flight = FuturesUnordered::new();
    let mut sent = 0u64;
    while in_flight.len() < depth.max(1) && budget.take() {
        in_flight.push(timed(sent));
        sent += 1;
    }
    let mut ops = 0;
    while let Some(result) = in_flight.next().await {
        record(latency, result?);
        ops += 1;
        if budget.take() {
            in_flight.push(timed(sent));
            sent += 1;
        }
    }
    Ok(ops)
}

/// One `evaluate` — of the literal `n`, or of `work`'s tree starting from `n` — and a pipelined
/// `read()` of its value: one round trip.
async fn worked_call(calc: &Calculator, work: &Work, n: f64) -> Result<(), BenchError> {
    let mut request = calc.evaluate_request();
    let mut expression = request.get().init_expression();
    let expected = match work {
        Work::Literal => {
            expression.set_literal(n);
            n
        }
        Work::Adds { add, adds } => {
            add_tree(expression, add, *adds, n);
            n + f64::from(*adds)
        }
    };
    read_checked(request.send().pipeline.get_value(), expected).await
}

/// `read()` of `value` (pipelined: it may still be on its way), checked against `expected`.
async fn read_checked(value: value::Client, expected: f64) -> Result<(), BenchError> {
    let got = value
        .read_request()
        .send()
        .promise
        .await?
        .get()?
        .get_value();
    check(expected, got)
}

/// A balanced tree of `adds` calls on `add` whose leftmost leaf is `first` and every other leaf
/// 1: it evaluates to `first + adds`, and is ⌈log2(adds + 1)⌉ calls deep.
fn add_tree(mut expr: expression::Builder<'_>, add: &function::Client, adds: u32, first: f64) {
    if adds == 0 {
        expr.set_literal(first);
        return;
    }
    let left = (adds - 1) / 2;
    let mut call = expr.init_call();
    call.set_function(add.clone());
    let mut params = call.init_params(2);
    add_tree(params.reborrow().get(0), add, left, first);
    add_tree(params.get(1), add, adds - 1 - left, 1.0);
}

async fn chains(
    calc: &Calculator,
    depth: usize,
    budget: &Budget,
    latency: &mut Histogram<u64>,
) -> Result<u64, BenchError> {
    // The `add` function is fetched once, pipelined; the first chain's calls wait for it.
    let mut request = calc.get_operator_request();
    request.get().set_op(Operator::Add);
    let add = request.send().pipeline.get_func();
    let mut ops = 0;
    while budget.take() {
        let start = Instant::now();
        one_chain(calc, &add, depth, ops as f64).await?;
        record(latency, start);
        ops += 1;
    }
    Ok(ops)
}

/// `depth` calls where each `evaluate` adds 1 to the previous one's (pipelined) `Value`, then
/// one `read()` of the last: one round trip if pipelining works, `depth` if it does not.
async fn one_chain(
    calc: &Calculator,
    add: &function::Client,
    depth: usize,
    start: f64,
) -> Result<(), BenchError> {
    let mut request = calc.evaluate_request();
    request.get().init_expression().set_literal(start);
    let mut value = request.send().pipeline.get_value();
    for _ in 1..depth.max(1) {
        let mut request = calc.evaluate_request();
        let mut call = request.get().init_expression().init_call();
        call.set_function(add.clone());
        let mut params = call.init_params(2);
        params.reborrow().get(0).set_previous_result(value);
        params.get(1).set_literal(1.0);
        value = request.send().pipeline.get_value();
    }
    read_checked(value, start + (depth.max(1) - 1) as f64).await
}

fn check(expected: f64, got: f64) -> Result<(), BenchError> {
    if got == expected {
        Ok(())
    } else {
        Err(BenchError::WrongResult { expected, got })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_counts_operations() {
        let budget = Budget::new(Duration::from_secs(60), 2);
        assert!(budget.take());
        assert!(budget.take());
        assert!(!budget.take());
    }

    #[test]
    fn the_budget_ends_at_the_deadline() {
        let budget = Budget::new(Duration::ZERO, 10);
        assert!(!budget.take());
    }
}
