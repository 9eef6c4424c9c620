//! `windlass-calc bench`: arguments, and printing what `windlass_bench` measures.

mod framing;
mod placement;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use windlass::client::Connector;
use windlass_bench::compare::{self, Contender};
use windlass_bench::{
    BareServer, BenchError, CpuProbe, InProcessServer, MachineTicks, Mode, Pinning, Placement,
    Plan, PythonServer, Report, Target,
};

use placement::{pinned, placement, warn_unpinned, Servers};

/// Measure a Calculator server: calls/s, latency percentiles (p50/p90/p99/max) and CPU per call.
///
/// Without --connect, starts a windlass server in this process (--workers, --tls with the
/// development certificates) and reports its threads' CPU time per call as well as the load
/// generator's. Every run is bounded by --secs and --calls. Example:
/// `windlass-calc bench pipe --depth 16 --secs 3 --runs 3`.
///
/// `compare` measures, in one run, a raw TCP ping-pong of the same bytes as one call (the
/// physical limit), bare capnp-rpc, windlass with 1 and --workers workers, plain and TLS, and
/// pycapnp (when --python or WINDLASS_PYTHON names a Python with pycapnp, or target/pyenv
/// exists), in modes seq, pipe, conns and chain (depth 8); it prints medians over --runs with
/// min–max and the ratios against windlass 1w. The contenders are interleaved, and each run
/// starts one contender later than the previous one, so none always follows the same one.
///
/// `framing` measures the framing codecs instead (no server): decode, packed decode and encode
/// of 1 KiB–16 MiB messages in 1 and 64 segments, against capnp's readers and writers, each as
/// ns/message and as a ratio to a memcpy of the same bytes measured in the same run. --secs is
/// then the timing budget of the whole table (default 16: 250 ms per measurement), --max-size
/// leaves out larger messages.
///
/// Threads are pinned by default on Linux (see --cpu-pin), and the placement is printed above the
/// table.
#[derive(Args)]
pub(crate) struct Bench {
    /// seq: one call at a time; pipe: --depth calls in flight; conns: --conns connections, each
    /// sequential; chain: --depth dependent pipelined calls and one read; compare: every
    /// contender side by side; framing: the framing codecs against memcpy (no RPC).
    #[arg(value_enum)]
    mode: ModeArg,
    /// Calls in flight (pipe, default 16) or calls per chain (chain, default 8).
    #[arg(long, value_name = "D")]
    depth: Option<usize>,
    /// Connections (conns).
    #[arg(long, value_name = "N", default_value_t = 16)]
    conns: usize,
    /// Seconds per run (decimals allowed; default 2). framing: the timing budget of the whole
    /// table (default 16).
    #[arg(long, value_name = "SECS")]
    secs: Option<f64>,
    /// At most this many operations per run (calls; chains for chain).
    #[arg(long, value_name = "N", default_value_t = windlass_bench::DEFAULT_MAX_OPS)]
    calls: u64,
    /// seq, pipe, conns: each `evaluate` gets a balanced tree of this many `add` calls (on the
    /// server's own `add` function) instead of a literal, so the server does K local calls per
    /// round trip while the load generator builds one message: with K ≥ 32 the load generator
    /// is no longer the bottleneck, which measuring --workers needs. At most 1024.
    #[arg(long, value_name = "K", default_value_t = 0)]
    work: u32,
    /// Repeat the measurement this many times (one line each), to see the spread.
    #[arg(long, value_name = "N", default_value_t = 1)]
    runs: usize,
    /// Measure the server at this address instead of an in-process one.
    #[arg(long, short, value_name = "HOST:PORT", value_parser = crate::units::parse_host_port)]
    connect: Option<String>,
    /// With --connect: the server's process id, to report its CPU time per call.
    #[arg(long, value_name = "PID", requires = "connect")]
    pid: Option<u32>,
    /// Worker threads of the in-process server (default 1; for compare, the N of "windlass Nw":
    /// one per core).
    #[arg(long, value_name = "N", conflicts_with = "connect", value_parser = crate::units::parse_workers)]
    workers: Option<usize>,
    /// compare: the Python with pycapnp 2.x that runs tests/interop/calc_server.py (default:
    /// $WINDLASS_PYTHON, else target/pyenv/bin/python if present; pycapnp is skipped without).
    #[arg(long, value_name = "PATH")]
    python: Option<PathBuf>,
    /// compare: also write SVG charts (calls/s and latency per mode) into this directory.
    #[arg(long, value_name = "DIR")]
    plot: Option<PathBuf>,
    /// Measure the Calculator on bare capnp-rpc (one thread, hand-written accept loop) in this
    /// process instead of a windlass server: the baseline for what the windlass runtime costs.
    /// Plain TCP only.
    #[arg(long, conflicts_with_all = ["connect", "workers"])]
    bare: bool,
    /// framing: leave out messages larger than this (bytes, or with a KiB or MiB suffix, e.g.
    /// 64KiB; default: none left out, up to 16MiB).
    #[arg(long, value_name = "SIZE", value_parser = crate::units::parse_size)]
    max_size: Option<usize>,
    /// Pin threads to CPUs, the same way for every contender: auto (the default: on Linux with
    /// at least 2 CPUs allowed), on (warn when it cannot be done) or off. The load generator
    /// gets the last CPU this process may use and the server's threads all the others — on 2
    /// cores, server on CPU 0 and load generator on CPU 1 — whatever the number of workers; a
    /// pycapnp server's process is pinned whole, the raw ping-pong's threads pin themselves.
    /// With --connect only the load generator is pinned. If the kernel refuses (e.g. in a
    /// container), a warning says so and the run goes on unpinned.
    /// (`--pin` is accepted for this too; it is not `--pin-sha256`.)
    #[arg(
        long = "cpu-pin",
        alias = "pin",
        value_name = "WHEN",
        default_value = "auto"
    )]
    pin: Pinning,
    /// Same as --cpu-pin off: let the scheduler place every thread.
    #[arg(long = "no-cpu-pin", alias = "no-pin")]
    no_pin: bool,
    /// Print one JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: crate::tls_args::ConnectTls,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModeArg {
    Seq,
    Pipe,
    Conns,
    Chain,
    Compare,
    Framing,
}

impl Bench {
    fn mode(&self) -> Mode {
        match self.mode {
            ModeArg::Seq => Mode::Seq,
            ModeArg::Pipe => Mode::Pipe {
                depth: self.depth.unwrap_or(16),
            },
            ModeArg::Conns => Mode::Conns { conns: self.conns },
            ModeArg::Chain => Mode::Chain {
                depth: self.depth.unwrap_or(8),
            },
            // compare runs several modes and framing none; this one is only a placeholder.
            ModeArg::Compare | ModeArg::Framing => Mode::Seq,
        }
    }

    /// --secs, or `default` seconds.
    fn duration(&self, default: f64) -> Result<Duration, String> {
        let secs = self.secs.unwrap_or(default);
        Duration::try_from_secs_f64(secs).map_err(|e| format!("--secs {secs}: {e}"))
    }

    fn plan(&self) -> Result<Plan, String> {
        if self.work > 0 && matches!(self.mode, ModeArg::Compare) {
            return Err("--work is for seq, pipe and conns; compare runs the plain calls".into());
        }
        let plan = Plan::new(self.mode(), self.duration(DEFAULT_SECS)?)
            .with_max_ops(self.calls)
            .with_work(self.work);
        plan.check().map_err(|e| match e {
            windlass_bench::BenchError::Plan(why) => format!("--work {}: {why}", self.work),
            other => other.to_string(),
        })?;
        Ok(plan)
    }

    fn pinning(&self) -> Pinning {
        if self.no_pin {
            Pinning::Off
        } else {
            self.pin
        }
    }

    fn tls_wanted(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.wanted();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// The external server as a target.
    fn external(&self, addr: &str) -> Result<Target, windlass::Error> {
        #[allow(unused_mut)]
        let mut target = Target::new(addr, Connector::new(addr));
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.build()? {
            target.connector = target.connector.with_tls(tls);
            target.tls = true;
        }
        target.server_cpu = self.pid.map(CpuProbe::Process);
        Ok(target)
    }
}

/// Seconds per run of the RPC modes when --secs is not given.
const DEFAULT_SECS: f64 = 2.0;

/// Runs `windlass-calc bench`.
pub(crate) async fn run(args: Bench) -> Result<ExitCode, windlass::Error> {
    if matches!(args.mode, ModeArg::Framing) {
        if args.connect.is_some() || args.bare || args.workers.is_some() || args.work > 0 {
            eprintln!(
                "error: framing measures the codecs, not a server: drop --connect, --bare, \
                 --workers and --work"
            );
            return Ok(ExitCode::from(2));
        }
        return Ok(framing::run(&args));
    }
    let plan = match args.plan() {
        Ok(plan) => plan,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(ExitCode::from(2));
        }
    };
    if args.bare && args.tls_wanted() {
        eprintln!("error: --bare serves plain TCP only; drop the TLS options");
        return Ok(ExitCode::from(2));
    }
    // Before any server starts: this thread is the load generator.
    let pinned = pinned(&args);
    if matches!(args.mode, ModeArg::Compare) {
        return Ok(run_compare(&args, plan.duration, &pinned).await);
    }
    let workers = args.workers.unwrap_or(1);
    // Kept alive for the length of the runs.
    let mut bare = None;
    let (target, server, servers) = match &args.connect {
        Some(addr) => (args.external(addr)?, None, Servers::External(addr)),
        None if args.bare => match BareServer::start() {
            Ok(server) => {
                warn_unpinned(server.pin(&pinned));
                (bare.insert(server).target(), None, Servers::Bare)
            }
            Err(e) => return Ok(report_error(&e)),
        },
        None => match InProcessServer::start(workers, args.tls_wanted()) {
            Ok(server) => {
                warn_unpinned(server.pin(&pinned));
                let label = format!("windlass {workers}w");
                (
                    server.target(label),
                    Some(server),
                    Servers::Windlass(workers),
                )
            }
            Err(e) => return Ok(report_error(&e)),
        },
    };
    if !args.json {
        println!("# {}", placement(&pinned, servers));
        println!("{}", Report::table_header());
    }
    let mut code = ExitCode::SUCCESS;
    let ticks = MachineTicks::read();
    for _ in 0..args.runs.max(1) {
        match windlass_bench::measure(&target, &plan).await {
            Ok(report) if args.json => println!("{}", report.json_line()),
            Ok(report) => println!("{}", report.table_row()),
            Err(e) => {
                code = report_error(&e);
                break;
            }
        }
    }
    if !args.json {
        print_steal(ticks);
    }
    if let Some(server) = server {
        if let Err(e) = server.shutdown() {
            code = report_error(&e);
        }
    }
    Ok(code)
}

/// Says how much CPU time the hypervisor took for other guests since `before`, when that is
/// known and not negligible: on a shared virtual machine it explains a run's spread.
fn print_steal(before: Option<MachineTicks>) {
    let share = before.and_then(|before| before.steal_share_since());
    if let Some(share) = share.filter(|&s| s >= 0.005) {
        println!(
            "# steal: the hypervisor took {:.1} % of this machine's CPU time during the runs \
             (figures from a busy host are pessimistic and spread wide)",
            share * 100.0
        );
    }
}

fn report_error(e: &BenchError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The Python for the pycapnp contender, if any.
fn python(args: &Bench) -> Option<PathBuf> {
    if let Some(path) = &args.python {
        return Some(path.clone());
    }
    if let Some(path) = std::env::var_os("WINDLASS_PYTHON").filter(|p| !p.is_empty()) {
        return Some(path.into());
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/pyenv/bin/python");
    venv.exists().then_some(venv)
}

fn contenders(args: &Bench) -> Vec<Contender> {
    let many = args.workers.unwrap_or(cores()).max(2);
    let mut all = vec![Contender::Raw, Contender::Bare];
    for tls in [false, true] {
        if tls && !cfg!(feature = "tls") {
            continue;
        }
        for workers in [1, many] {
            all.push(Contender::Windlass { workers, tls });
        }
    }
    if let Some(python) = python(args) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/calc_server.py");
        all.push(Contender::Pycapnp { python, script });
    }
    all
}

/// Calls per chain in `bench compare` (--depth sets the pipe depth there).
const COMPARE_CHAIN_DEPTH: usize = 8;

/// `bench compare`: every contender in modes seq, pipe, conns and chain, `--runs` times
/// interleaved.
async fn run_compare(args: &Bench, duration: Duration, pinned: &Placement) -> ExitCode {
    let modes = [
        Mode::Seq,
        Mode::Pipe {
            depth: args.depth.unwrap_or(16),
        },
        Mode::Conns { conns: args.conns },
        Mode::Chain {
            depth: COMPARE_CHAIN_DEPTH,
        },
    ];
    let mut contenders = contenders(args);
    // A Python found by default may lack pycapnp: then compare the others, and say why.
    contenders.retain(|contender| match contender {
        Contender::Pycapnp { python, script } => match PythonServer::start(python, script) {
            Ok(_) => true,
            Err(e) => {
                eprintln!("warning: pycapnp left out: {e}");
                false
            }
        },
        _ => true,
    });
    let exchange = match compare::call_bytes().await {
        Ok(exchange) => exchange,
        Err(e) => return report_error(&e),
    };
    if !args.json {
        let many = args.workers.unwrap_or(cores()).max(2);
        println!("# {}", placement(pinned, Servers::Windlass(many)));
        println!(
            "# (the same CPUs for every contender: pycapnp runs in its own process, pinned whole; \
             the raw ping-pong's client and server are one thread each)"
        );
        println!(
            "# raw TCP exchange: {} bytes out, {} bytes in (one seq call's RPC bytes)",
            exchange.0, exchange.1
        );
        println!("{}", Report::table_header());
    }
    let mut reports = Vec::new();
    let ticks = MachineTicks::read();
    for run in 0..args.runs.max(1) {
        for mode in modes {
            let plan = Plan::new(mode, duration).with_max_ops(args.calls);
            for contender in compare::run_order(&contenders, mode, run) {
                match compare::run_once(contender, &plan, exchange, pinned).await {
                    Ok(report) => {
                        if args.json {
                            println!("{}", report.json_line());
                        } else {
                            println!("{}", report.table_row());
                        }
                        reports.push(report);
                    }
                    Err(e) => {
                        eprintln!("error: {}: {e}", contender.label());
                        return ExitCode::FAILURE;
                    }
                }
            }
        }
    }
    let cells = compare::cells(&reports);
    if !args.json {
        println!(
            "\nmedians over {} run(s); × = ratio to windlass 1w (calls/s: higher is better; p50: lower)",
            args.runs.max(1)
        );
        for mode in modes {
            println!("\n{}", compare::summary_table(&cells, mode, "windlass 1w"));
        }
        print_steal(ticks);
    }
    if let Some(dir) = &args.plot {
        let files = match compare::plots(&cells, &modes) {
            Ok(files) => files,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        if let Err(e) = write_plots(dir, &files) {
            eprintln!("error: cannot write the charts into {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn write_plots(dir: &std::path::Path, files: &[(String, String)]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, svg) in files {
        let path = dir.join(name);
        std::fs::write(&path, svg)?;
        // stderr: stdout may be JSON lines.
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
