//! Load: many concurrent connections, every call answered. Heavy, so `#[ignore]`d; `.ci/run`
//! runs it explicitly (after `ulimit -n 4096`).

mod common;

use std::time::{Duration, Instant};

use common::{eval, run_local};
use windlass::server::Options;
use windlass_calculator as calculator;

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[test]
#[ignore = "heavy: 1,000 connections × 20 calls; run by .ci/run with ulimit -n 4096"]
fn a_thousand_concurrent_connections_twenty_calls_each_no_errors() {
    const CONNECTIONS: usize = 1000;
    const CALLS: usize = 20;
    // Client and server ends of every connection live in this process.
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= 2 * CONNECTIONS as u64 + 100,
            "open-file limit {limit} is too low for this test: run it after `ulimit -n 4096`"
        );
    }
    let handle = windlass::Server::bind("127.0.0.1:0", Options::new(), |_| {
        calculator::new_client().client
    })
    .expect("spawn");
    let addr = handle.local_addr();
    let start = Instant::now();
    let errors = run_local(async move {
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            tasks.push(tokio::task::spawn_local(async move {
                let mut errors = Vec::new();
                let conn = match windlass::client::connect(&addr.to_string()).await {
                    Ok(conn) => conn,
                    Err(e) => return vec![format!("connect: {e}")],
                };
                let calc = conn.bootstrap();
                for i in 0..CALLS {
                    match eval(&calc, &format!("{i} + 1")).await {
                        Ok(v) if v == (i + 1) as f64 => {}
                        other => errors.push(format!("call {i}: {other:?}")),
                    }
                }
                let _ = conn.close().await;
                errors
            }));
        }
        let mut errors = Vec::new();
        for task in tasks {
            errors.extend(task.await.expect("task"));
        }
        errors
    });
    println!(
        "{CONNECTIONS} connections × {CALLS} calls in {:?}, {} errors",
        start.elapsed(),
        errors.len()
    );
    assert!(
        errors.is_empty(),
        "{} errors, first: {:?}",
        errors.len(),
        &errors[..errors.len().min(5)]
    );
    assert!(
        handle.wait_idle(Duration::from_secs(30)),
        "connections left open"
    );
    assert_eq!(handle.stats().rejected, 0);
}
