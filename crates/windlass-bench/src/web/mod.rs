//! Cap'n Web: windlass-web (`windlass-calc serve --web`) against capnweb's own Node server
//! serving the same Calculator semantics (`js/calculator-server.mjs`), driven by the same stock
//! capnweb client (`js/load.mjs`) in the same run, interleaved.
//!
//! Both servers run for the whole benchmark, each in its own process, pinned like every other
//! contender of this crate ([`Placement`]: servers on the first CPUs, the load client — which
//! inherits this thread's CPU — on the last). Each round runs every [`WebMode`] against both,
//! alternating which goes first; the server process's CPU time (every thread, `/proc`
//! schedstat) is read between the client's warm-up and its result, so it covers exactly the
//! counted calls. `cargo bench -p windlass-bench --bench web` is the command line.

mod process;
mod table;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub use process::LoadFigures;
pub use table::{plots, summary, Cell};

use crate::{BenchError, CpuProbe, Placement};
use process::ServerProcess;

/// The shape of one load-client run (see `js/load.mjs`). A *call* is one `evaluate`; an *op* is
/// what one latency sample times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebMode {
    /// One WebSocket session, `evaluate({literal}).value.read()` one at a time.
    Seq,
    /// The same calls on one WebSocket session, this many outstanding.
    Inflight(usize),
    /// One HTTP batch request per op holding one such call.
    Single,
    /// One HTTP batch request per op holding 10 dependent calls (each on the previous `Value`).
    Batch10,
    /// Ten HTTP requests per op, one after another, each one call on the previous result.
    TenRequests,
}

impl WebMode {
    /// What the issue asks for: seq, 64 in flight, and the three HTTP batch shapes.
    pub const ALL: [WebMode; 5] = [
        WebMode::Seq,
        WebMode::Inflight(64),
        WebMode::Single,
        WebMode::Batch10,
        WebMode::TenRequests,
    ];

    /// Over WebSocket (else HTTP batch).
    pub fn is_websocket(&self) -> bool {
        matches!(self, WebMode::Seq | WebMode::Inflight(_))
    }
}

impl fmt::Display for WebMode {
    /// The client's `--mode` value: `seq`, `inflight=64`, `single`, `batch10`, `ten-requests`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebMode::Seq => f.write_str("seq"),
            WebMode::Inflight(n) => write!(f, "inflight={n}"),
            WebMode::Single => f.write_str("single"),
            WebMode::Batch10 => f.write_str("batch10"),
            WebMode::TenRequests => f.write_str("ten-requests"),
        }
    }
}

impl std::str::FromStr for WebMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let mode = match s {
            "seq" => WebMode::Seq,
            "single" => WebMode::Single,
            "batch10" => WebMode::Batch10,
            "ten-requests" => WebMode::TenRequests,
            _ => match s.strip_prefix("inflight=").map(str::parse) {
                Some(Ok(n)) if n > 0 => WebMode::Inflight(n),
                _ => return Err(format!("unknown web mode {s:?}")),
            },
        };
        Ok(mode)
    }
}

/// How long each run lasts and how often to repeat.
#[derive(Debug, Clone, PartialEq)]
pub struct WebPlan {
    /// Measured seconds per run (the client stops at this or `max_ops`). Default 2.
    pub secs: f64,
    /// Uncounted seconds of the same load before each run (JIT, connections). Default 0.5.
    pub warmup_secs: f64,
    /// The most ops per run. Default 1 000 000.
    pub max_ops: u64,
    /// Rounds: every mode against both servers once per round. Default 3.
    pub runs: usize,
    /// The modes, in table order. Default [`WebMode::ALL`].
    pub modes: Vec<WebMode>,
}

impl Default for WebPlan {
    fn default() -> Self {
        Self {
            secs: 2.0,
            warmup_secs: 0.5,
            max_ops: 1_000_000,
            runs: 3,
            modes: WebMode::ALL.to_vec(),
        }
    }
}

/// Where the programs are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebTools {
    /// The `windlass-calc` binary (release, for figures that mean anything).
    pub windlass_calc: PathBuf,
    /// `node` (≥ 18).
    pub node: PathBuf,
    /// The directory of `load.mjs` and `calculator-server.mjs`, with `npm ci` done.
    pub js: PathBuf,
}

impl WebTools {
    /// `windlass-calc` next to the running executable's profile directory (a bench or test
    /// runs from `<target>/<profile>/deps/`), `node` on the `PATH`, this crate's `js/`.
    pub fn beside_current_exe() -> Self {
        let exe = std::env::current_exe().unwrap_or_default();
        let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
        if dir.ends_with("deps") {
            dir.pop();
        }
        Self {
            windlass_calc: dir.join("windlass-calc"),
            node: "node".into(),
            js: Path::new(env!("CARGO_MANIFEST_DIR")).join("js"),
        }
    }
}

/// The label of windlass's server in reports.
pub const WINDLASS: &str = "windlass";
/// The label of capnweb's Node server in reports.
pub const NODE: &str = "capnweb node";

/// One run of one mode against one server.
#[derive(Debug, Clone, PartialEq)]
pub struct WebReport {
    /// [`WINDLASS`] or [`NODE`].
    pub label: &'static str,
    /// The load's shape.
    pub mode: WebMode,
    /// The round, from 0.
    pub run: usize,
    /// What the client and `/proc` measured.
    pub figures: LoadFigures,
}

impl WebReport {
    /// `evaluate` calls per second.
    pub fn calls_per_sec(&self) -> f64 {
        self.figures.calls as f64 / self.figures.seconds.max(1e-9)
    }

    /// The server's CPU µs per call, when known.
    pub fn server_cpu_us_per_call(&self) -> Option<f64> {
        let cpu = self.figures.server_cpu?;
        (self.figures.calls > 0).then(|| cpu.as_secs_f64() * 1e6 / self.figures.calls as f64)
    }

    /// One line for the progress log.
    pub fn line(&self) -> String {
        format!(
            "run {} {:<13} {:<13} {:>9.0} calls/s  p50 {:>8.1} µs  p99 {:>8.1} µs  srv {:>6} µs/call  client {:>6.1} µs/call",
            self.run,
            self.mode.to_string(),
            self.label,
            self.calls_per_sec(),
            self.figures.latency_us[0],
            self.figures.latency_us[2],
            self.server_cpu_us_per_call()
                .map_or("-".into(), |c| format!("{c:.1}")),
            self.figures.client_cpu_us_per_call,
        )
    }
}

/// The server order of round `run`, mode number `mode`: alternating, so neither server always
/// runs first (right after the client's previous run) in a mode.
fn order(run: usize, mode: usize) -> [usize; 2] {
    if (run + mode).is_multiple_of(2) {
        [0, 1]
    } else {
        [1, 0]
    }
}

/// Starts both servers, runs `plan`, and returns every run's report in the order measured;
/// `progress` sees each as it completes.
///
/// # Errors
/// A server that does not start, or a load-client run that fails (wrong result, no result).
pub fn compare(
    tools: &WebTools,
    plan: &WebPlan,
    placement: &Placement,
    mut progress: impl FnMut(&WebReport),
) -> Result<Vec<WebReport>, BenchError> {
    let mut windlass = Command::new(&tools.windlass_calc);
    windlass.args(["serve", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"]);
    let mut node = Command::new(&tools.node);
    node.arg(tools.js.join("calculator-server.mjs"))
        .arg("0")
        .current_dir(&tools.js);
    let servers = [
        (
            WINDLASS,
            ServerProcess::start(windlass, WINDLASS, placement)?,
        ),
        (NODE, ServerProcess::start(node, NODE, placement)?),
    ];
    let mut reports = Vec::new();
    for run in 0..plan.runs {
        for (m, &mode) in plan.modes.iter().enumerate() {
            for s in order(run, m) {
                let (label, server) = &servers[s];
                let probe = CpuProbe::Process(server.pid());
                let figures =
                    process::run_load(&tools.node, &tools.js, server.url(), mode, plan, &probe)?;
                let report = WebReport {
                    label,
                    mode,
                    run,
                    figures,
                };
                progress(&report);
                reports.push(report);
            }
        }
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_their_names() {
        for mode in WebMode::ALL {
            assert_eq!(mode.to_string().parse::<WebMode>(), Ok(mode));
        }
        assert_eq!("inflight=8".parse(), Ok(WebMode::Inflight(8)));
        assert!("inflight=0".parse::<WebMode>().is_err());
        assert!("batch".parse::<WebMode>().is_err());
        assert!(WebMode::Inflight(64).is_websocket() && !WebMode::Batch10.is_websocket());
    }

    #[test]
    fn the_first_server_alternates() {
        assert_eq!(order(0, 0), [0, 1]);
        assert_eq!(order(0, 1), [1, 0]);
        assert_eq!(order(1, 0), [1, 0]);
        assert_eq!(order(1, 1), [0, 1]);
    }
}
