//! The demo scenario against a Calculator server at an address: literals, operators,
//! pipelining with `previousResult`, `defFunction` and a client-side callback.
//!
//! ```text
//! cargo run --example calculator_server -- 127.0.0.1:4000 &
//! cargo run --example calculator_client -- 127.0.0.1:4000
//! ```
//!
//! Works against any server of the reference calculator protocol. Exits non-zero if a check
//! fails.

use windlass::calculator::{self, Calculator};

fn main() -> anyhow::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4000".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    // capnp-rpc is `!Send`: clients live in a `LocalSet`.
    let local = tokio::task::LocalSet::new();
    let all_passed = local.block_on(&runtime, async {
        let conn = windlass::client::connect(&addr).await?;
        let calc: Calculator = conn.bootstrap();

        let checks = windlass::demo::run(&calc).await;
        for check in &checks {
            println!("{check}");
        }

        // Beyond the scenario: any infix expression, in one round trip.
        let expr = calculator::parse("(1 + 2) * (3 + 4) / 2")?;
        println!("{expr} = {}", calculator::evaluate(&calc, &expr).await?);

        drop(calc);
        conn.close().await?;
        anyhow::Ok(checks.iter().all(|c| c.passed()))
    })?;
    if !all_passed {
        anyhow::bail!("some checks failed");
    }
    Ok(())
}
