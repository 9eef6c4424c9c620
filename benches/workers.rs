//! Does throughput grow with worker threads? Calculator calls/s with many connections against a
//! server with 1 worker and with N workers, measured in the same run, with the server's CPU time
//! per call read from `/proc` by `windlass::bench::CpuProbe` (on a small machine the load generator
//! competes for the cores).
//!
//! ```text
//! cargo bench --bench workers                 # 16 connections, 3 s per configuration
//! cargo bench --bench workers -- 32 5         # 32 connections, 5 s
//! ```
//!
//! Each connection keeps `DEPTH` pipelined `evaluate(literal)` + `read()` pairs in flight, so the
//! client spends little CPU per call; the client runs on one thread with its own runtime.

use std::time::{Duration, Instant};

use windlass::bench::CpuProbe;
use windlass::calculator::{self, Calculator};
use windlass::server::{ConnectionInfo, Options, Server};

const DEPTH: usize = 8;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with('-'));
    let conns: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let secs: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("workers benchmark: {conns} connections x {DEPTH} pipelined calls, {secs} s each, {cores} cores");
    let mut results = Vec::new();
    for workers in [1, cores.max(2)] {
        let (rate, cpu_per_call) = measure(workers, conns, Duration::from_secs(secs));
        println!(
            "  {workers} worker(s): {rate:>9.0} calls/s   server CPU {:>6.1} µs/call",
            cpu_per_call * 1e6
        );
        results.push(rate);
    }
    println!(
        "  ratio {} workers / 1 worker: {:.2}x",
        cores.max(2),
        results[1] / results[0]
    );
}

/// Runs the load against a fresh server; returns calls/s and server CPU seconds per call.
fn measure(workers: usize, conns: usize, duration: Duration) -> (f64, f64) {
    let prefix = format!("bw{workers}");
    let options = Options::new()
        .with_workers(workers)
        .with_thread_name(prefix.clone());
    let server = Server::bind("127.0.0.1:0", options, |_: &ConnectionInfo| {
        calculator::new_client().client
    })
    .expect("server starts");
    let addr = server.local_addr().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let probe = CpuProbe::ThreadsNamed(prefix);
    let cpu_before = probe.read().unwrap_or_default();
    let calls = tokio::task::LocalSet::new().block_on(&runtime, load(&addr, conns, duration));
    let cpu = probe
        .read()
        .unwrap_or_default()
        .saturating_sub(cpu_before)
        .as_secs_f64();
    server.shutdown().expect("clean shutdown");
    let calls = calls as f64;
    (calls / duration.as_secs_f64(), cpu / calls.max(1.0))
}

async fn load(addr: &str, conns: usize, duration: Duration) -> u64 {
    let mut tasks = Vec::new();
    let deadline = Instant::now() + duration;
    for _ in 0..conns {
        let conn = windlass::client::connect(addr).await.expect("connect");
        tasks.push(tokio::task::spawn_local(async move {
            let calc: Calculator = conn.bootstrap();
            let mut done = 0u64;
            while Instant::now() < deadline {
                let batch = (0..DEPTH).map(|i| one_call(&calc, i as f64));
                for result in futures::future::join_all(batch).await {
                    result.expect("call succeeds");
                    done += 1;
                }
            }
            drop(calc);
            let _ = conn.close().await;
            done
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("load task");
    }
    total
}

async fn one_call(calc: &Calculator, n: f64) -> Result<f64, capnp::Error> {
    let mut request = calc.evaluate_request();
    request.get().init_expression().set_literal(n);
    let value = request.send().pipeline.get_value();
    Ok(value
        .read_request()
        .send()
        .promise
        .await?
        .get()?
        .get_value())
}
