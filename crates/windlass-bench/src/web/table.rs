//! The web bench's figures for people: medians over the runs, windlass ÷ Node ratios per round,
//! the targets met or not, and the SVG charts.

use std::fmt::Write as _;

use super::{WebMode, WebReport, NODE, WINDLASS};
use crate::svg::{bar_chart, Bar, ChartError, Group};

/// Every run of one server in one mode.
#[derive(Debug, Clone)]
pub struct Cell<'a> {
    /// The server.
    pub label: &'static str,
    /// The mode.
    pub mode: WebMode,
    /// Its runs, in round order.
    pub runs: Vec<&'a WebReport>,
}

impl Cell<'_> {
    /// (median, min, max) of `f` over the runs that have it.
    fn spread(&self, f: impl Fn(&WebReport) -> Option<f64>) -> Option<(f64, f64, f64)> {
        spread(self.runs.iter().filter_map(|r| f(r)).collect())
    }

    fn calls(&self) -> (f64, f64, f64) {
        self.spread(|r| Some(r.calls_per_sec())).unwrap_or_default()
    }

    fn p50(&self) -> f64 {
        self.spread(|r| Some(r.figures.latency_us[0]))
            .map_or(0.0, |s| s.0)
    }

    fn p99(&self) -> f64 {
        self.spread(|r| Some(r.figures.latency_us[2]))
            .map_or(0.0, |s| s.0)
    }

    fn server_cpu(&self) -> Option<f64> {
        self.spread(WebReport::server_cpu_us_per_call).map(|s| s.0)
    }

    fn client_cpu(&self) -> f64 {
        self.spread(|r| Some(r.figures.client_cpu_us_per_call))
            .map_or(0.0, |s| s.0)
    }
}

/// (median, min, max); `None` for no values.
fn spread(mut values: Vec<f64>) -> Option<(f64, f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    Some((median, values[0], values[n - 1]))
}

fn cell<'a>(reports: &'a [WebReport], label: &'static str, mode: WebMode) -> Cell<'a> {
    Cell {
        label,
        mode,
        runs: reports
            .iter()
            .filter(|r| r.label == label && r.mode == mode)
            .collect(),
    }
}

/// `f(a) / f(b)` per round where both ran, as (median, min, max): ratios of the same round are
/// the ones the machine's noise hit alike.
fn round_ratios(
    a: &Cell<'_>,
    b: &Cell<'_>,
    f: impl Fn(&WebReport) -> Option<f64>,
) -> Option<(f64, f64, f64)> {
    let ratios = a
        .runs
        .iter()
        .filter_map(|ra| {
            let rb = b.runs.iter().find(|rb| rb.run == ra.run)?;
            let (x, y) = (f(ra)?, f(rb)?);
            (y > 0.0).then(|| x / y)
        })
        .collect();
    spread(ratios)
}

fn ratio_text(r: Option<(f64, f64, f64)>) -> String {
    r.map_or("-".into(), |(m, lo, hi)| {
        format!("{m:.2}× ({lo:.2}–{hi:.2})")
    })
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

/// The table of `modes`, both servers' medians and the per-round ratios, then the issue's
/// targets: over WebSocket ≥ 3× the Node server's calls/s at ≤ 0.5× its CPU per call; windlass's
/// batch of 10 dependent calls within 2× the time of one call (p50 per op).
pub fn summary(reports: &[WebReport], modes: &[WebMode]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<13} {:<13} {:>9} {:>17} {:>9} {:>9} {:>9} {:>9}",
        "mode", "server", "calls/s", "(min–max)", "p50 µs", "p99 µs", "srv µs/c", "cli µs/c"
    );
    for &mode in modes {
        for label in [WINDLASS, NODE] {
            let c = cell(reports, label, mode);
            let (median, lo, hi) = c.calls();
            let _ = writeln!(
                out,
                "{:<13} {:<13} {:>9.0} {:>17} {:>9.1} {:>9.1} {:>9} {:>9.1}",
                mode.to_string(),
                label,
                median,
                format!("({lo:.0}–{hi:.0})"),
                c.p50(),
                c.p99(),
                c.server_cpu().map_or("-".into(), |v| format!("{v:.1}")),
                c.client_cpu(),
            );
        }
        let (w, n) = (cell(reports, WINDLASS, mode), cell(reports, NODE, mode));
        let calls = round_ratios(&w, &n, |r| Some(r.calls_per_sec()));
        let cpu = round_ratios(&w, &n, WebReport::server_cpu_us_per_call);
        let _ = writeln!(
            out,
            "{:<13} windlass ÷ node: calls/s {}, server CPU/call {}",
            "",
            ratio_text(calls),
            ratio_text(cpu)
        );
    }
    out.push_str(&targets(reports, modes));
    out
}

fn targets(reports: &[WebReport], modes: &[WebMode]) -> String {
    let mut out = String::from("\ntargets (medians of the per-round ratios):\n");
    for &mode in modes.iter().filter(|m| m.is_websocket()) {
        let (w, n) = (cell(reports, WINDLASS, mode), cell(reports, NODE, mode));
        let calls = round_ratios(&w, &n, |r| Some(r.calls_per_sec())).map(|r| r.0);
        let cpu = round_ratios(&w, &n, WebReport::server_cpu_us_per_call).map(|r| r.0);
        if let (Some(calls), Some(cpu)) = (calls, cpu) {
            let _ = writeln!(
                out,
                "  {mode}: calls/s {calls:.2}× node (≥ 3×: {}), CPU/call {cpu:.2}× node (≤ 0.5×: {})",
                verdict(calls >= 3.0),
                verdict(cpu <= 0.5)
            );
        }
    }
    for label in [WINDLASS, NODE] {
        let single = cell(reports, label, WebMode::Single);
        let batch = cell(reports, label, WebMode::Batch10);
        let ten = cell(reports, label, WebMode::TenRequests);
        let p50 = |r: &WebReport| Some(r.figures.latency_us[0]);
        let Some((b, ..)) = round_ratios(&batch, &single, p50) else {
            continue;
        };
        let tens = round_ratios(&ten, &batch, p50).map_or("-".into(), |r| format!("{:.2}×", r.0));
        let target = if label == WINDLASS {
            format!(" (≤ 2×: {})", verdict(b <= 2.0))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  {label}: batch10 p50 = {b:.2}× single{target}; ten-requests = {tens} batch10"
        );
    }
    out
}

/// The charts, as (file name, SVG): `web-calls.svg` (WebSocket calls/s, whiskers min–max),
/// `web-cpu.svg` (server CPU µs per call, every mode), `web-batch.svg` (HTTP p50 ms per op).
///
/// # Errors
/// A chart plotters could not draw.
pub fn plots(
    reports: &[WebReport],
    modes: &[WebMode],
) -> Result<Vec<(String, String)>, ChartError> {
    let runs = reports.iter().map(|r| r.run + 1).max().unwrap_or(0);
    let series = [WINDLASS, NODE];
    let groups =
        |modes: &mut dyn Iterator<Item = &WebMode>, bar: &dyn Fn(&Cell<'_>) -> Bar| -> Vec<Group> {
            modes
                .map(|&mode| Group {
                    label: mode.to_string(),
                    bars: series
                        .iter()
                        .map(|l| bar(&cell(reports, l, mode)))
                        .collect(),
                })
                .collect()
        };
    let calls = groups(&mut modes.iter().filter(|m| m.is_websocket()), &|c| {
        let (value, lo, hi) = c.calls();
        Bar {
            value,
            range: (runs > 1).then_some((lo, hi)),
        }
    });
    let cpu = groups(&mut modes.iter(), &|c| Bar {
        value: c.server_cpu().unwrap_or(0.0),
        range: None,
    });
    let batch = groups(&mut modes.iter().filter(|m| !m.is_websocket()), &|c| Bar {
        value: c.p50() / 1000.0,
        range: None,
    });
    Ok(vec![
        (
            "web-calls.svg".into(),
            bar_chart(
                &format!("Cap'n Web over WebSocket: calls/s (median of {runs}, whiskers min–max)"),
                "/s",
                &series,
                &calls,
            )?,
        ),
        (
            "web-cpu.svg".into(),
            bar_chart(
                &format!("Cap'n Web: server CPU per call, µs (median of {runs})"),
                "µs",
                &series,
                &cpu,
            )?,
        ),
        (
            "web-batch.svg".into(),
            bar_chart(
                &format!("Cap'n Web over HTTP batch: p50 time per op, ms (median of {runs})"),
                "ms",
                &series,
                &batch,
            )?,
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::LoadFigures;
    use std::time::Duration;

    fn report(label: &'static str, mode: WebMode, run: usize, calls: u64, p50: f64) -> WebReport {
        WebReport {
            label,
            mode,
            run,
            figures: LoadFigures {
                ops: calls,
                calls,
                seconds: 1.0,
                latency_us: [p50, p50, p50, p50],
                client_cpu_us_per_call: 1.0,
                server_cpu: Some(Duration::from_micros(calls * 10)),
            },
        }
    }

    #[test]
    fn ratios_pair_runs_of_the_same_round_and_targets_are_judged() {
        let mut reports = Vec::new();
        for run in 0..3 {
            reports.push(report(
                WINDLASS,
                WebMode::Seq,
                run,
                4000 + run as u64,
                100.0,
            ));
            reports.push(report(NODE, WebMode::Seq, run, 1000, 300.0));
            reports.push(report(WINDLASS, WebMode::Single, run, 500, 1000.0));
            reports.push(report(WINDLASS, WebMode::Batch10, run, 500, 2500.0));
        }
        let modes = [WebMode::Seq, WebMode::Single, WebMode::Batch10];
        let text = summary(&reports, &modes);
        assert!(text.contains("calls/s 4.00× (4.00–4.00)"), "{text}");
        // The same CPU per call on both sides: 1.00×, so the CPU target is missed.
        assert!(
            text.contains("CPU/call 1.00× node (≤ 0.5×: NOT met)"),
            "{text}"
        );
        assert!(text.contains("calls/s 4.00× node (≥ 3×: met)"), "{text}");
        assert!(
            text.contains("batch10 p50 = 2.50× single (≤ 2×: NOT met)"),
            "{text}"
        );
        let files = plots(&reports, &modes).expect("charts");
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["web-calls.svg", "web-cpu.svg", "web-batch.svg"]);
    }
}
