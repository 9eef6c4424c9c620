//! A client of the reference calculator protocol: expressions in one round trip, an operator
//! fetched once and reused, and a client-side callback the server calls.
//!
//! ```text
//! cargo run --example calculator_server -- 127.0.0.1:4000 &
//! cargo run --example calculator_client -- 127.0.0.1:4000
//! ```
//!
//! Works against any server of the reference calculator protocol (C++, pycapnp, windlass);
//! `windlass-calc demo --connect ADDR` runs the full checked scenario. Exits non-zero if a result
//! is not what local arithmetic gives.

use anyhow::ensure;
use windlass_calculator::{self as calculator, Calculator, Operator, Operators};

fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4000".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // capnp-rpc is `!Send`: clients live in a `LocalSet`.
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async {
        let conn = windlass::client::connect(&addr).await?;
        let calc: Calculator = conn.bootstrap();

        // Any infix expression, in one round trip: operators and the read are pipelined.
        let mut operators = Operators::new(&calc);
        for text in ["123", "(4 + 5) * 3 - 1 / 2", "(1 + 2) * (3 + 4) / 2"] {
            let expr = calculator::parse(text)?;
            let value = calculator::evaluate_with(&calc, &expr, &mut operators).await?;
            println!("{text} = {value}");
            ensure!(
                value == expr.eval(),
                "{text}: server said {value}, expected {}",
                expr.eval()
            );
        }

        // A callback: the server calls `pow` back in this process while evaluating.
        let pow = calculator::function("pow", 2, |args| args[0].powf(args[1]));
        let mut request = calc.evaluate_request();
        {
            let mut call = request.get().init_expression().init_call();
            call.set_function(pow);
            let mut params = call.init_params(2);
            let mut base = params.reborrow().get(0).init_call();
            base.set_function(operators.get(Operator::Add));
            let mut terms = base.init_params(2);
            terms.reborrow().get(0).set_literal(1.0);
            terms.get(1).set_literal(1.0);
            params.get(1).set_literal(10.0);
        }
        let value = request.send().pipeline.get_value();
        let result = value
            .read_request()
            .send()
            .promise
            .await?
            .get()?
            .get_value();
        println!("pow(1 + 1, 10) = {result} (pow ran in this client)");
        ensure!(result == 1024.0, "pow(2, 10): server said {result}");

        drop((calc, operators));
        conn.close().await?;
        anyhow::Ok(())
    })
}
