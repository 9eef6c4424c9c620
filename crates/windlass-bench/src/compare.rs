//! Side by side in one run: the raw TCP limit, bare capnp-rpc, windlass (1 and N workers, plain
//! and TLS) and pycapnp, each mode measured `runs` times with the contenders interleaved, so a
//! burst of noise on the machine spreads over all of them rather than hitting one.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use super::baseline::{raw_ping_pong, BareServer};
use super::pin::warn_unpinned;
use super::python::PythonServer;
use super::svg::ChartError;
use super::{measure, BenchError, InProcessServer, Mode, Placement, Plan, Report};

/// One server (or the raw baseline) to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contender {
    /// A TCP ping-pong of the same bytes per round trip as one call (seq and pipe only).
    Raw,
    /// The Calculator on bare capnp-rpc, one thread, hand-written accept loop.
    Bare,
    /// windlass's server in this process.
    Windlass {
        /// Worker threads.
        workers: usize,
        /// Over TLS with the development certificates.
        tls: bool,
    },
    /// pycapnp's Calculator: `python script` (our `tests/interop/calc_server.py`).
    Pycapnp {
        /// A Python interpreter with pycapnp 2.x.
        python: PathBuf,
        /// The server script.
        script: PathBuf,
    },
}

impl Contender {
    /// The label its reports carry.
    pub fn label(&self) -> String {
        match self {
            Contender::Raw => "raw TCP".into(),
            Contender::Bare => "bare capnp-rpc".into(),
            Contender::Windlass { workers, tls } => {
                format!("windlass {workers}w{}", if *tls { " TLS" } else { "" })
            }
            Contender::Pycapnp { .. } => "pycapnp".into(),
        }
    }

    /// Whether `mode` means anything for it: the raw ping-pong has no pipelined calls to chain
    /// and runs on one connection.
    pub fn supports(&self, mode: Mode) -> bool {
        !matches!(
            (self, mode),
            (Contender::Raw, Mode::Conns { .. } | Mode::Chain { .. })
        )
    }
}

/// The contenders that support `mode`, in the order run number `run` (from 0) measures them:
/// each run starts one contender later than the one before, so that no contender always runs
/// right after the same neighbour (a server shutting down, a Python exiting) or always first.
/// Run 0 keeps the given order, which is the order of the tables.
pub fn run_order(contenders: &[Contender], mode: Mode, run: usize) -> Vec<&Contender> {
    let mut order: Vec<&Contender> = contenders.iter().filter(|c| c.supports(mode)).collect();
    if !order.is_empty() {
        let shift = run % order.len();
        order.rotate_left(shift);
    }
    order
}

/// Runs `plan` once against `contender`. `exchange` is the request and response size in bytes of
/// the raw ping-pong (see [`call_bytes`]). The contender's server threads are pinned to
/// `placement`'s server CPUs once it is started (a refusal is logged, not fatal); the calling
/// thread, the load generator, is expected to be on the load generator's CPU already
/// ([`Placement::apply`]).
///
/// # Errors
/// When the contender cannot start or the load fails.
pub async fn run_once(
    contender: &Contender,
    plan: &Plan,
    exchange: (usize, usize),
    placement: &Placement,
) -> Result<Report, BenchError> {
    let label = contender.label();
    let mut report = match contender {
        Contender::Raw => {
            let (plan, placement) = (*plan, placement.clone());
            tokio::task::spawn_blocking(move || {
                raw_ping_pong(&plan, exchange.0, exchange.1, &placement)
            })
            .await
            .map_err(|e| BenchError::Io {
                what: "the raw ping-pong task failed".into(),
                source: std::io::Error::other(e),
            })??
        }
        Contender::Bare => {
            let server = BareServer::start()?;
            warn_unpinned(server.pin(placement), &label);
            measure(&server.target(), plan).await?
        }
        Contender::Windlass { workers, tls } => {
            let server = InProcessServer::start(*workers, *tls)?;
            warn_unpinned(server.pin(placement), &label);
            let result = measure(&server.target(label.clone()), plan).await;
            server.shutdown()?;
            result?
        }
        Contender::Pycapnp { python, script } => {
            let (python, script) = (python.clone(), script.clone());
            let server = tokio::task::spawn_blocking(move || PythonServer::start(&python, &script))
                .await
                .map_err(|e| BenchError::Io {
                    what: "starting pycapnp failed".into(),
                    source: std::io::Error::other(e),
                })??;
            warn_unpinned(server.pin(placement), &label);
            measure(&server.target(), plan).await?
        }
    };
    report.label = label;
    Ok(report)
}

/// The bytes one sequential call moves (request, response), measured over 200 calls against a
/// plain one-worker windlass server: the raw ping-pong's exchange.
///
/// # Errors
/// As [`measure`].
pub async fn call_bytes() -> Result<(usize, usize), BenchError> {
    let plan = Plan::new(Mode::Seq, Duration::from_secs(10)).with_max_ops(200);
    let server = InProcessServer::start(1, false)?;
    let report = measure(&server.target("calibration"), &plan).await;
    server.shutdown()?;
    let (out, back) = report?.bytes_per_op.unwrap_or((0, 0));
    let size = |b: u64| usize::try_from(b).unwrap_or(usize::MAX).max(1);
    Ok((size(out), size(back)))
}

/// Every run's report of one contender in one mode.
#[derive(Debug, Clone)]
pub struct Cell {
    /// The contender's label.
    pub label: String,
    /// The mode.
    pub mode: Mode,
    /// One report per run.
    pub runs: Vec<Report>,
}

impl Cell {
    /// Median, minimum and maximum calls/s over the runs.
    pub fn calls_per_sec(&self) -> (f64, f64, f64) {
        spread(self.runs.iter().map(Report::calls_per_sec).collect())
    }

    /// Median p50 latency (µs) over the runs.
    pub fn p50_us(&self) -> f64 {
        spread(self.runs.iter().map(|r| micros(r.latency.p50)).collect()).0
    }

    /// Median p99 latency (µs) over the runs.
    pub fn p99_us(&self) -> f64 {
        spread(self.runs.iter().map(|r| micros(r.latency.p99)).collect()).0
    }

    /// Median server CPU per call (µs), when known.
    pub fn server_cpu_us(&self) -> Option<f64> {
        let all: Option<Vec<f64>> = self
            .runs
            .iter()
            .map(|r| r.server_cpu_per_call().map(micros))
            .collect();
        all.filter(|v| !v.is_empty()).map(|v| spread(v).0)
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// (median, min, max); zeros for no values.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    (median, values[0], values[n - 1])
}

/// Groups reports by (label, mode), in order of first appearance.
pub fn cells(reports: &[Report]) -> Vec<Cell> {
    let mut cells: Vec<Cell> = Vec::new();
    for report in reports {
        match cells
            .iter_mut()
            .find(|c| c.label == report.label && c.mode == report.mode)
        {
            Some(cell) => cell.runs.push(report.clone()),
            None => cells.push(Cell {
                label: report.label.clone(),
                mode: report.mode,
                runs: vec![report.clone()],
            }),
        }
    }
    cells
}

/// The comparison table of one mode: each contender's median calls/s with min–max, median p50
/// and p99, server CPU per call, and the ratios of calls/s and p50 to `baseline`'s (e.g.
/// `windlass 1w`).
pub fn summary_table(cells: &[Cell], mode: Mode, baseline: &str) -> String {
    let in_mode: Vec<&Cell> = cells.iter().filter(|c| c.mode == mode).collect();
    let base = in_mode.iter().copied().find(|c| c.label == baseline);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:>10} {:>19} {:>9} {:>9} {:>9} {:>10} {:>9}",
        format!("[{mode}]"),
        "calls/s",
        "(min–max)",
        "p50 µs",
        "p99 µs",
        "srv µs/c",
        "calls/s ×",
        "p50 ×"
    );
    for cell in &in_mode {
        let (median, low, high) = cell.calls_per_sec();
        let ratio = |x: f64, b: Option<f64>| match b {
            Some(b) if b > 0.0 => format!("{:.2}", x / b),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<18} {:>10.0} {:>19} {:>9.1} {:>9.1} {:>9} {:>10} {:>9}",
            cell.label,
            median,
            format!("({low:.0}–{high:.0})"),
            cell.p50_us(),
            cell.p99_us(),
            cell.server_cpu_us()
                .map_or("-".into(), |c| format!("{c:.1}")),
            ratio(median, base.map(|b| b.calls_per_sec().0)),
            ratio(cell.p50_us(), base.map(|b| b.p50_us())),
        );
    }
    out
}

/// SVG charts of `cells`, as (file name, SVG text): per mode, `calls-MODE.svg` (median calls/s,
/// whiskers from the slowest to the fastest run) and `latency-MODE.svg` (median p50 and p99).
///
/// # Errors
///
/// A chart that plotters could not draw.
pub fn plots(cells: &[Cell], modes: &[Mode]) -> Result<Vec<(String, String)>, ChartError> {
    use super::svg::{bar_chart, Bar, Group};
    let mut files = Vec::new();
    for &mode in modes {
        let in_mode: Vec<&Cell> = cells.iter().filter(|c| c.mode == mode).collect();
        if in_mode.is_empty() {
            continue;
        }
        let runs = in_mode.iter().map(|c| c.runs.len()).max().unwrap_or(0);
        let calls: Vec<Group> = in_mode
            .iter()
            .map(|cell| {
                let (median, low, high) = cell.calls_per_sec();
                Group {
                    label: cell.label.clone(),
                    bars: vec![Bar {
                        value: median,
                        range: (runs > 1).then_some((low, high)),
                    }],
                }
            })
            .collect();
        let title = format!("{mode}: calls/s (median of {runs} runs, whiskers min–max)");
        files.push((
            format!("calls-{}.svg", mode.name()),
            bar_chart(&title, "/s", &["calls/s"], &calls)?,
        ));
        let latency: Vec<Group> = in_mode
            .iter()
            .map(|cell| Group {
                label: cell.label.clone(),
                bars: [cell.p50_us(), cell.p99_us()]
                    .into_iter()
                    .map(|value| Bar { value, range: None })
                    .collect(),
            })
            .collect();
        let title = format!("{mode}: latency per call, µs (median of {runs} runs)");
        files.push((
            format!("latency-{}.svg", mode.name()),
            bar_chart(&title, "µs", &["p50", "p99"], &latency)?,
        ));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Percentiles;

    fn report(label: &str, ops: u64, p50_us: u64) -> Report {
        Report {
            label: label.into(),
            mode: Mode::Seq,
            tls: false,
            ops,
            elapsed: Duration::from_secs(1),
            latency: Percentiles {
                p50: Duration::from_micros(p50_us),
                ..Percentiles::default()
            },
            server_cpu: None,
            client_cpu: None,
            bytes_per_op: None,
            work: 0,
        }
    }

    #[test]
    fn medians_and_spread() {
        assert_eq!(spread(vec![3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(vec![4.0, 1.0]), (2.5, 1.0, 4.0));
        assert_eq!(spread(vec![]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn each_run_starts_one_contender_later() {
        let contenders = [
            Contender::Raw,
            Contender::Bare,
            Contender::Windlass {
                workers: 1,
                tls: false,
            },
        ];
        let labels = |run| -> Vec<String> {
            run_order(&contenders, Mode::Seq, run)
                .iter()
                .map(|c| c.label())
                .collect()
        };
        assert_eq!(labels(0), ["raw TCP", "bare capnp-rpc", "windlass 1w"]);
        assert_eq!(labels(1), ["bare capnp-rpc", "windlass 1w", "raw TCP"]);
        assert_eq!(labels(3), labels(0));
        // The raw ping-pong does not run conns: the rotation is over the others.
        let conns = Mode::Conns { conns: 4 };
        let names: Vec<String> = run_order(&contenders, conns, 1)
            .iter()
            .map(|c| c.label())
            .collect();
        assert_eq!(names, ["windlass 1w", "bare capnp-rpc"]);
        assert!(run_order(&[], Mode::Seq, 5).is_empty());
    }

    #[test]
    fn cells_group_runs_and_tables_show_ratios() {
        let reports = [
            report("a", 100, 10),
            report("b", 300, 5),
            report("a", 200, 20),
            report("a", 150, 30),
        ];
        let cells = cells(&reports);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].calls_per_sec(), (150.0, 100.0, 200.0));
        let table = summary_table(&cells, Mode::Seq, "a");
        let files = plots(&cells, &[Mode::Seq, Mode::Pipe { depth: 2 }]).expect("charts");
        let names: Vec<&str> = files.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["calls-seq.svg", "latency-seq.svg"]);
        let b_row = table.lines().find(|l| l.starts_with("b ")).expect("row b");
        assert!(b_row.contains("2.00"), "{table}");
        assert!(b_row.contains("0.25"), "{table}");
    }

    #[test]
    fn the_raw_baseline_has_no_chains() {
        assert!(Contender::Raw.supports(Mode::Pipe { depth: 4 }));
        assert!(!Contender::Raw.supports(Mode::Chain { depth: 4 }));
        assert!(Contender::Bare.supports(Mode::Conns { conns: 2 }));
        assert_eq!(
            Contender::Windlass {
                workers: 2,
                tls: true
            }
            .label(),
            "windlass 2w TLS"
        );
    }
}
