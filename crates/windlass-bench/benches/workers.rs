//! Does throughput grow with worker threads? 1 worker against N workers (N = the CPUs, at least
//! 2), 16 connections, measured in one run with the two interleaved, printed as
//! `windlass_bench` report rows and the ratio of the medians.
//!
//! ```text
//! cargo bench --bench workers                                   # 16 conns, --work 256, 3 runs of 3 s
//! cargo bench --bench workers -- --conns 32 --work 64 --secs 2 --runs 5
//! cargo bench --bench workers -- --work 0                       # plain evaluate(literal) calls
//! ```
//!
//! The question is whether the server scales, so the load generator must not be the
//! bottleneck. On a small machine it shares the CPUs with the server, so each call carries
//! `--work` server-side `add` calls (`windlass_bench::Plan::work`): the server does about 7x the
//! load generator's CPU work per call at 256 (both are printed: `srv µs/c`, `cli µs/c`). Nothing
//! is pinned — every thread may run on every CPU, which is what a server with N workers gets.
//!
//! The machine's own ceiling is measured in the same run: N threads of pure arithmetic against
//! one (no memory traffic, no locks). On a virtual machine whose CPUs share physical cores or
//! are contended by neighbours this is well under N, and no server can beat it.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use windlass_bench::{InProcessServer, MachineTicks, Mode, Plan, Report};

struct Args {
    conns: usize,
    work: u32,
    secs: f64,
    runs: usize,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut args = Args {
            conns: 16,
            work: 256,
            secs: 3.0,
            runs: 3,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            // `cargo bench` passes `--bench` to every bench binary.
            if flag == "--bench" {
                continue;
            }
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
            match flag.as_str() {
                "--conns" => args.conns = value.parse().map_err(|e| bad(&e))?,
                "--work" => args.work = value.parse().map_err(|e| bad(&e))?,
                "--secs" => args.secs = value.parse().map_err(|e| bad(&e))?,
                "--runs" => args.runs = value.parse().map_err(|e| bad(&e))?,
                _ => {
                    return Err(format!(
                        "unknown option {flag} (--conns N, --work K, --secs S, --runs R)"
                    ))
                }
            }
        }
        Ok(args)
    }
}

fn main() -> ExitCode {
    let args = match Args::parse() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let duration = match Duration::try_from_secs_f64(args.secs) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: --secs {}: {e}", args.secs);
            return ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let many = cores.max(2);
    let plan = Plan::new(Mode::Conns { conns: args.conns }, duration).with_work(args.work);
    if let Err(e) = plan.check() {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    println!(
        "# workers: 1 against {many}, {} connections, work {} add calls per evaluate, {} runs of \
         {} s, {cores} CPUs, nothing pinned",
        args.conns, args.work, args.runs, args.secs
    );
    println!("{}", Report::table_header());
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the load generator's runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let ticks = MachineTicks::read();
    for _ in 0..args.runs.max(1) {
        for (slot, workers) in [1, many].into_iter().enumerate() {
            let run = tokio::task::LocalSet::new().block_on(&runtime, measure(workers, &plan));
            match run {
                Ok(report) => {
                    println!("{}", report.table_row());
                    rates[slot].push(report.calls_per_sec());
                }
                Err(e) => {
                    eprintln!("error: {workers} worker(s): {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let [one, n] = rates.map(median);
    let ceiling = median((0..args.runs.max(1)).map(|_| spin_ceiling(many)).collect());
    println!(
        "# median calls/s: 1 worker {one:.0}, {many} workers {n:.0}: {:.2}x",
        n / one.max(f64::MIN_POSITIVE)
    );
    println!(
        "# the machine's ceiling: {many} threads of pure arithmetic do {ceiling:.2}x the work of \
         one in the same time"
    );
    let steal = ticks.and_then(|before| before.steal_share_since());
    if let Some(steal) = steal {
        println!(
            "# steal: the hypervisor took {:.1} % of this machine's CPU time during the runs",
            steal * 100.0
        );
    }
    ExitCode::SUCCESS
}

/// How much more arithmetic `threads` threads get done than one, in the same wall time.
fn spin_ceiling(threads: usize) -> f64 {
    const ROUNDS: u64 = 100_000_000;
    let one = spin_threads(1, ROUNDS);
    let all = spin_threads(threads, ROUNDS);
    threads as f64 * one.as_secs_f64() / all.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// Wall time for `threads` threads to each do `rounds` of a dependent multiply-xor chain.
fn spin_threads(threads: usize, rounds: u64) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for seed in 0..threads as u64 {
            scope.spawn(move || {
                let mut x = seed | 1;
                for i in 0..rounds {
                    x = (x ^ i).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                }
                std::hint::black_box(x)
            });
        }
    });
    start.elapsed()
}

/// One run against a fresh in-process server with `workers` workers.
async fn measure(workers: usize, plan: &Plan) -> Result<Report, windlass_bench::BenchError> {
    let server = InProcessServer::start(workers, false)?;
    let report =
        windlass_bench::measure(&server.target(format!("windlass {workers}w")), plan).await;
    server.shutdown()?;
    report
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[mid],
        _ => (values[mid - 1] + values[mid]) / 2.0,
    }
}
