//! Promise pipelining costs one round trip, not one per call.
//!
//! A proxy between client and server delays every byte by `DELAY` in each direction, so one round
//! trip takes at least `2 * DELAY`. A chain of dependent calls sent with pipelining must finish in
//! well under 3 round trips; the same chain with an `await` after each call needs one round trip
//! per call. This is a structural check with wide margins, not a speed test.

mod common;

use std::time::{Duration, Instant};

use common::{calculator_server, connect, run_local, DelayProxy};
use windlass_calculator::calculator_capnp::calculator::value;
use windlass_calculator::{Calculator, Operator, Operators};

const DELAY: Duration = Duration::from_millis(100);
const ROUND_TRIP: Duration = Duration::from_millis(200);
const CHAIN: usize = 10;

/// `evaluate(previous + 1)` on top of `previous`, without waiting.
fn add_one(
    calc: &Calculator,
    ops: &mut Operators,
    previous: value::Client,
) -> capnp::capability::RemotePromise<
    windlass_calculator::calculator_capnp::calculator::evaluate_results::Owned,
> {
    let mut request = calc.evaluate_request();
    let mut call = request.get().init_expression().init_call();
    call.set_function(ops.get(Operator::Add));
    let mut args = call.init_params(2);
    args.reborrow().get(0).set_previous_result(previous);
    args.get(1).set_literal(1.0);
    request.send()
}

fn literal(calc: &Calculator, n: f64) -> value::Client {
    let mut request = calc.evaluate_request();
    request.get().init_expression().set_literal(n);
    request.send().pipeline.get_value()
}

async fn read(value: &value::Client) -> f64 {
    let response = value.read_request().send().promise.await.expect("read");
    response.get().expect("results").get_value()
}

#[test]
fn a_pipelined_chain_costs_one_round_trip_and_an_awaited_one_costs_one_per_call() {
    let server = calculator_server();
    let proxy = DelayProxy::start(server.local_addr(), DELAY);
    run_local(async {
        let (_conn, calc) = connect(proxy.addr()).await;
        let mut ops = Operators::new(&calc);
        // Warm up: bootstrap resolved and the add operator fetched, so both chains start equal.
        let add = ops.get(Operator::Add);
        let start = Instant::now();
        assert_eq!(read(&literal(&calc, 0.0)).await, 0.0);
        let warm_up = start.elapsed();
        assert!(
            warm_up >= ROUND_TRIP,
            "the proxy must delay: one call took {warm_up:?}"
        );
        drop(add);

        // Pipelined: every call is sent before any answer arrives.
        let start = Instant::now();
        let mut value = literal(&calc, 0.0);
        for _ in 0..CHAIN {
            value = add_one(&calc, &mut ops, value).pipeline.get_value();
        }
        assert_eq!(read(&value).await, CHAIN as f64);
        let pipelined = start.elapsed();

        // Awaited: each call waits for the previous answer before the next is sent.
        let start = Instant::now();
        let mut value = literal(&calc, 0.0);
        for _ in 0..CHAIN {
            let response = add_one(&calc, &mut ops, value)
                .promise
                .await
                .expect("evaluate");
            value = response.get().expect("results").get_value().expect("value");
        }
        assert_eq!(read(&value).await, CHAIN as f64);
        let awaited = start.elapsed();

        eprintln!(
            "round trip >= {ROUND_TRIP:?}: pipelined chain {pipelined:?}, awaited {awaited:?}"
        );
        assert!(
            pipelined < ROUND_TRIP * 3,
            "{CHAIN} pipelined calls took {pipelined:?}, more than 3 round trips"
        );
        assert!(
            awaited >= ROUND_TRIP * (CHAIN as u32 - 2),
            "{CHAIN} awaited calls took only {awaited:?}: are the answers really awaited?"
        );
    });
}

#[test]
fn a_parsed_expression_with_every_operator_costs_one_round_trip() {
    let server = calculator_server();
    let proxy = DelayProxy::start(server.local_addr(), DELAY);
    run_local(async {
        let (_conn, calc) = connect(proxy.addr()).await;
        // First use includes the bootstrap and the operator fetches: all pipelined together.
        let expr = windlass_calculator::parse("((4 + 5) * 3 - 1 / 2) * -(2 - 8)").expect("parses");
        let start = Instant::now();
        let value = windlass_calculator::evaluate(&calc, &expr)
            .await
            .expect("evaluates");
        let took = start.elapsed();
        assert_eq!(value, expr.eval());
        assert!(
            took < ROUND_TRIP * 3,
            "one expression took {took:?}, more than 3 round trips"
        );
    });
}
