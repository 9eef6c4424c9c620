//! What a call across threads costs through `Shared<T>`, against a same-thread call, in CPU time
//! per call of the whole process (every thread, from `/proc`), measured in one run.
//!
//! ```text
//! cargo bench -p windlass-bench --bench shared [-- --calls 20000 --runs 5]
//! ```
//!
//! The capability is a trivial `Function` (adds its two arguments) so the figures are the cost of
//! the call path itself, the worst case for any overhead:
//!
//! - `same thread`: called on the thread that owns it (a local capnp-rpc call, no serialization);
//! - `Shared::call`: from a multi-threaded tokio runtime; the closure runs on the owner thread;
//! - `proxy`: from another thread's `LocalSet` through `Shared::client` (a Cap'n Proto connection
//!   between the two threads, one serialization per hop);
//! - `TCP loopback`: the same call to a windlass server on 127.0.0.1 (1 worker), for scale.
//!
//! Each case makes its calls one after another (latency-bound) and then 64 at a time
//! (throughput-bound). Prints CPU µs per call (median of the runs) and the ratio to the same
//! thread's figure for the same shape.

use std::time::{Duration, Instant};

use windlass::server::{ConnectionInfo, Options, Server};
use windlass::{HomeThread, Shared};
use windlass_bench::CpuProbe;
use windlass_calculator as calculator;
use windlass_calculator::calculator_capnp::calculator::function;

/// Calls in flight at once in the concurrent shape.
const CONCURRENCY: usize = 64;

struct Args {
    calls: usize,
    runs: usize,
}

fn args() -> Args {
    let mut args = Args {
        calls: 20_000,
        runs: 5,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < argv.len() {
        let number = |at: usize| -> usize {
            argv.get(at)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{} needs a number", argv[i]))
        };
        match argv[i].as_str() {
            "--calls" => {
                args.calls = number(i + 1);
                i += 1;
            }
            "--runs" => {
                args.runs = number(i + 1);
                i += 1;
            }
            // `cargo bench` passes --bench.
            "--bench" => {}
            other => panic!("unknown argument {other} (expected --calls N, --runs N)"),
        }
        i += 1;
    }
    args
}

fn adder() -> function::Client {
    calculator::function("add", 2, |a| a[0] + a[1])
}

async fn call(f: &function::Client, a: f64) -> f64 {
    let mut request = f.call_request();
    let mut params = request.get().init_params(2);
    params.set(0, a);
    params.set(1, 1.0);
    let response = request.send().promise.await.expect("call");
    response.get().expect("results").get_value()
}

/// Calls `f` `calls` times, `concurrency` at a time, checking each result.
async fn drive(f: &function::Client, calls: usize, concurrency: usize) {
    let mut next = 0;
    while next < calls {
        let batch = concurrency.min(calls - next);
        let results =
            futures::future::join_all((next..next + batch).map(|i| call(f, i as f64))).await;
        for (i, got) in (next..).zip(results) {
            assert_eq!(got, i as f64 + 1.0, "call {i}");
        }
        next += batch;
    }
}

/// CPU time of the whole process around `work`, per call.
fn per_call(calls: usize, work: impl FnOnce()) -> Duration {
    let probe = CpuProbe::Process(std::process::id());
    let before = probe.read().expect("/proc CPU time");
    work();
    let after = probe.read().expect("/proc CPU time");
    (after - before) / calls as u32
}

fn local_set<F: std::future::Future>(f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&runtime, f)
}

fn same_thread(calls: usize, concurrency: usize) -> Duration {
    local_set(async {
        let f = adder();
        drive(&f, 100, concurrency).await; // warm up
        let start = CpuProbe::Process(std::process::id()).read().expect("cpu");
        drive(&f, calls, concurrency).await;
        let end = CpuProbe::Process(std::process::id()).read().expect("cpu");
        (end - start) / calls as u32
    })
}

fn shared_call(shared: &Shared<function::Client>, calls: usize, concurrency: usize) -> Duration {
    let shared = shared.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let one = move |i: usize| {
        let shared = shared.clone();
        async move {
            let got = shared
                .call(move |f: function::Client| async move { call(&f, i as f64).await })
                .await
                .expect("owner alive");
            assert_eq!(got, i as f64 + 1.0);
        }
    };
    runtime.block_on(async {
        for i in 0..100 {
            one(i).await;
        }
    });
    // `concurrency` tasks, each making its share of the calls one after another, so a call's
    // only thread hops are the ones `Shared::call` itself makes.
    per_call(calls, || {
        runtime.block_on(async {
            let tasks: Vec<_> = (0..concurrency)
                .map(|t| {
                    let one = one.clone();
                    tokio::spawn(async move {
                        for i in (t..calls).step_by(concurrency) {
                            one(i).await;
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
        })
    })
}

fn proxy(shared: &Shared<function::Client>, calls: usize, concurrency: usize) -> Duration {
    let shared = shared.clone();
    std::thread::spawn(move || {
        local_set(async move {
            let f = shared.client();
            drive(&f, 100, concurrency).await;
            let start = CpuProbe::Process(std::process::id()).read().expect("cpu");
            drive(&f, calls, concurrency).await;
            let end = CpuProbe::Process(std::process::id()).read().expect("cpu");
            (end - start) / calls as u32
        })
    })
    .join()
    .expect("proxy thread")
}

fn tcp(addr: &str, calls: usize, concurrency: usize) -> Duration {
    local_set(async {
        let conn = windlass::client::connect(addr).await.expect("connect");
        let f: function::Client = conn.bootstrap();
        drive(&f, 100, concurrency).await;
        let start = CpuProbe::Process(std::process::id()).read().expect("cpu");
        drive(&f, calls, concurrency).await;
        let end = CpuProbe::Process(std::process::id()).read().expect("cpu");
        drop(f);
        let _ = conn.close().await;
        (end - start) / calls as u32
    })
}

/// A measurement: CPU per call for (calls, concurrency).
type Case<'a> = (&'a str, &'a dyn Fn(usize, usize) -> Duration);

/// Runs `cases` and prints each against the first.
fn group(title: &str, args: &Args, cases: &[Case<'_>]) {
    println!("# {title}");
    let mut base = (0.0, 0.0);
    for (i, (name, case)) in cases.iter().enumerate() {
        let seq = median((0..args.runs).map(|_| case(args.calls, 1)).collect());
        let conc = median(
            (0..args.runs)
                .map(|_| case(args.calls, CONCURRENCY))
                .collect(),
        );
        let (s, c) = (seq.as_secs_f64() * 1e6, conc.as_secs_f64() * 1e6);
        if i == 0 {
            base = (s, c);
        }
        println!(
            "{name:<24} {s:>12.2} {:>8.2} {c:>12.2} {:>8.2}",
            s / base.0,
            c / base.1
        );
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let args = args();
    let home = HomeThread::spawn("bench-home").expect("home thread");
    let shared: Shared<function::Client> = home.share(adder).expect("share");
    let server = Server::bind(
        "127.0.0.1:0",
        Options::new().with_workers(1),
        |_: &ConnectionInfo| adder().client,
    )
    .expect("server");
    let addr = server.local_addr().to_string();
    let started = Instant::now();
    println!(
        "# Shared<T>: CPU time per call of the whole process, median of {} runs of {} calls",
        args.runs, args.calls
    );
    println!(
        "{:<24} {:>12} {:>8} {:>12} {:>8}",
        "case", "seq µs/call", "ratio", "c64 µs/call", "ratio"
    );
    group(
        "a local capability (a trivial call: the worst case for any overhead)",
        &args,
        &[
            ("same thread", &same_thread),
            ("Shared::call", &|n, c| shared_call(&shared, n, c)),
            ("proxy (Shared::client)", &|n, c| proxy(&shared, n, c)),
        ],
    );
    // The usual case: the shared capability is a connection's bootstrap (connect_shared).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let remote: Shared<function::Client> = runtime
        .block_on(windlass::Connector::new(&addr).connect_shared())
        .expect("connect_shared");
    group(
        "a capability over TCP loopback (windlass server, 1 worker)",
        &args,
        &[
            ("same thread", &|n, c| tcp(&addr, n, c)),
            ("Shared::call", &|n, c| shared_call(&remote, n, c)),
            ("proxy (Shared::client)", &|n, c| proxy(&remote, n, c)),
        ],
    );
    println!("# {:.1} s", started.elapsed().as_secs_f64());
    server.shutdown().expect("shutdown");
}
