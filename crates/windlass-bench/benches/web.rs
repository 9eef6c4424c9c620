//! Cap'n Web calls/s and server CPU per call: `windlass-calc serve --web` against capnweb's own
//! Node server with the same Calculator semantics, the same stock capnweb client for both, in one
//! run, interleaved (`windlass_bench::web`).
//!
//! ```text
//! cargo build --release -p windlass-calc
//! (cd crates/windlass-bench/js && npm ci)
//! cargo bench -p windlass-bench --bench web -- [--secs 2] [--runs 3] [--warmup-secs 0.5]
//!     [--count N] [--modes seq,inflight=64,single,batch10,ten-requests] [--plot DIR]
//!     [--windlass-calc PATH] [--node PATH] [--js DIR] [--cpu-pin auto|on|off]
//! ```
//!
//! `cargo bench` runs this in the crate's directory, so a relative `--plot` is under
//! `crates/windlass-bench/`. `--windlass-calc` defaults to the `windlass-calc` of this bench's own target directory and
//! profile (so `CARGO_TARGET_DIR` is followed), `--js` to the crate's `js/`.

use std::path::PathBuf;
use std::process::ExitCode;

use windlass_bench::web::{self, WebMode, WebPlan, WebTools};
use windlass_bench::{MachineTicks, Pinning, Placement};

struct Args {
    plan: WebPlan,
    tools: WebTools,
    plot: Option<PathBuf>,
    pinning: Pinning,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        plan: WebPlan::default(),
        tools: WebTools::beside_current_exe(),
        plot: None,
        pinning: Pinning::Auto,
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        if flag == "--bench" {
            continue; // `cargo bench` passes it.
        }
        let value = argv.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<f64>().map_err(|e| format!("{flag} {v}: {e}"));
        match flag.as_str() {
            "--secs" => args.plan.secs = number(&value)?,
            "--warmup-secs" => args.plan.warmup_secs = number(&value)?,
            "--count" => args.plan.max_ops = number(&value)? as u64,
            "--runs" => args.plan.runs = number(&value)? as usize,
            "--modes" => {
                args.plan.modes = value
                    .split(',')
                    .map(str::parse::<WebMode>)
                    .collect::<Result<_, _>>()?
            }
            "--plot" => args.plot = Some(value.into()),
            "--windlass-calc" => args.tools.windlass_calc = value.into(),
            "--node" => args.tools.node = value.into(),
            "--js" => args.tools.js = value.into(),
            "--cpu-pin" => args.pinning = value.parse().map_err(|e| format!("{e}"))?,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.plan.secs.is_nan()
        || args.plan.secs <= 0.0
        || args.plan.runs == 0
        || args.plan.max_ops == 0
    {
        return Err("--secs, --runs and --count must be above 0".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let placement = Placement::apply(args.pinning);
    if let Some(warning) = placement.warning() {
        eprintln!("warning: {warning}");
    }
    let node = std::process::Command::new(&args.tools.node)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|_| "?".into());
    println!("# placement: {placement}");
    println!(
        "# {} against node {node} (capnweb server, {}); {} runs of {} s (+{} s warm-up) per mode",
        args.tools.windlass_calc.display(),
        args.tools.js.display(),
        args.plan.runs,
        args.plan.secs,
        args.plan.warmup_secs
    );
    let ticks = MachineTicks::read();
    let reports = match web::compare(&args.tools, &args.plan, &placement, |r| {
        println!("{}", r.line())
    }) {
        Ok(reports) => reports,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(steal) = ticks.and_then(|t| t.steal_share_since()) {
        println!(
            "# steal: the hypervisor took {:.1} % of this machine's CPU time",
            steal * 100.0
        );
    }
    println!("\n{}", web::summary(&reports, &args.plan.modes));
    if let Some(dir) = &args.plot {
        if let Err(e) = std::fs::create_dir_all(dir) {
            eprintln!("error: creating {}: {e}", dir.display());
            return ExitCode::FAILURE;
        }
        match web::plots(&reports, &args.plan.modes) {
            Ok(files) => {
                for (name, svg) in files {
                    let path = dir.join(name);
                    if let Err(e) = std::fs::write(&path, svg) {
                        eprintln!("error: writing {}: {e}", path.display());
                        return ExitCode::FAILURE;
                    }
                    println!("# wrote {}", path.display());
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
