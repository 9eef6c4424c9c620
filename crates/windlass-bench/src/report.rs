//! One measurement's figures, and how they are printed: an aligned table for people, one JSON
//! object per line for tools.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::Mode;

/// The figures of one run of one [`Mode`] against one server.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// What was measured, e.g. `windlass 1w` or the address of an external server.
    pub label: String,
    /// The shape of the load.
    pub mode: Mode,
    /// Whether the connections used TLS.
    pub tls: bool,
    /// Operations completed: calls, or chains for [`Mode::Chain`].
    pub ops: u64,
    /// From the first call sent to the last answer received.
    pub elapsed: Duration,
    /// Latency percentiles of one operation: p50, p90, p99 and the maximum.
    pub latency: Percentiles,
    /// The server's CPU time during the run, when it could be read.
    pub server_cpu: Option<Duration>,
    /// The load generator's CPU time during the run (its one thread), when it could be read.
    pub client_cpu: Option<Duration>,
    /// Bytes the client sent and received per operation (RPC bytes, before TLS), when known.
    pub bytes_per_op: Option<(u64, u64)>,
    /// Server-side `add` calls per `evaluate` ([`Plan::work`](super::Plan::work)); 0 for a
    /// literal.
    pub work: u32,
}

/// Latency percentiles of one operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// The slowest operation.
    pub max: Duration,
}

impl Percentiles {
    /// Reads the percentiles of a histogram of nanoseconds.
    pub(crate) fn of(histogram: &Histogram<u64>) -> Self {
        let at = |q: f64| Duration::from_nanos(histogram.value_at_quantile(q));
        Self {
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: Duration::from_nanos(histogram.max()),
        }
    }
}

impl Report {
    /// Operations per second.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Calls per second: operations per second times the calls in one operation.
    pub fn calls_per_sec(&self) -> f64 {
        self.ops_per_sec() * self.mode.calls_per_op() as f64
    }

    /// Server CPU time per call, when the server's CPU time is known.
    pub fn server_cpu_per_call(&self) -> Option<Duration> {
        self.server_cpu.map(|cpu| per(cpu, self.calls()))
    }

    /// Load-generator CPU time per call, when known.
    pub fn client_cpu_per_call(&self) -> Option<Duration> {
        self.client_cpu.map(|cpu| per(cpu, self.calls()))
    }

    fn calls(&self) -> u64 {
        self.ops * self.mode.calls_per_op()
    }

    /// The column headings matching [`Report::table_row`].
    pub fn table_header() -> String {
        format!(
            "{:<18} {:<16} {:>4} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "server",
            "mode",
            "tls",
            "ops",
            "calls/s",
            "p50 µs",
            "p90 µs",
            "p99 µs",
            "max µs",
            "srv µs/c",
            "cli µs/c"
        )
    }

    /// One aligned line: the figures of this report. CPU columns show `-` when unknown.
    pub fn table_row(&self) -> String {
        let cpu = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.1}", micros(d)));
        format!(
            "{:<18} {:<16} {:>4} {:>9} {:>10.0} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>9} {:>9}",
            self.label,
            self.mode_cell(),
            if self.tls { "yes" } else { "no" },
            self.ops,
            self.calls_per_sec(),
            micros(self.latency.p50),
            micros(self.latency.p90),
            micros(self.latency.p99),
            micros(self.latency.max),
            cpu(self.server_cpu_per_call()),
            cpu(self.client_cpu_per_call()),
        )
    }

    /// The mode column: the mode, and the work per call when there is some (`conns n=16 w=64`).
    fn mode_cell(&self) -> String {
        match self.work {
            0 => self.mode.to_string(),
            work => format!("{} w={work}", self.mode),
        }
    }

    /// One JSON object on one line (no trailing newline). Times are in microseconds; unknown
    /// figures are `null`.
    pub fn json_line(&self) -> String {
        let mut out = String::from("{");
        let _ = write!(out, "\"label\":{}", json_string(&self.label));
        let _ = write!(out, ",\"mode\":\"{}\"", self.mode.name());
        let _ = write!(out, ",\"depth\":{}", self.mode.depth());
        let _ = write!(out, ",\"conns\":{}", self.mode.connections());
        let _ = write!(out, ",\"calls_per_op\":{}", self.mode.calls_per_op());
        let _ = write!(out, ",\"work\":{}", self.work);
        let _ = write!(out, ",\"tls\":{}", self.tls);
        let _ = write!(out, ",\"ops\":{}", self.ops);
        let _ = write!(out, ",\"secs\":{}", json_number(self.elapsed.as_secs_f64()));
        let _ = write!(out, ",\"ops_per_sec\":{}", json_number(self.ops_per_sec()));
        let _ = write!(
            out,
            ",\"calls_per_sec\":{}",
            json_number(self.calls_per_sec())
        );
        for (name, value) in [
            ("p50_us", self.latency.p50),
            ("p90_us", self.latency.p90),
            ("p99_us", self.latency.p99),
            ("max_us", self.latency.max),
        ] {
            let _ = write!(out, ",\"{name}\":{}", json_number(micros(value)));
        }
        let optional =
            |d: Option<Duration>| d.map_or("null".to_string(), |d| json_number(micros(d)));
        let _ = write!(
            out,
            ",\"server_cpu_us_per_call\":{}",
            optional(self.server_cpu_per_call())
        );
        let _ = write!(
            out,
            ",\"client_cpu_us_per_call\":{}",
            optional(self.client_cpu_per_call())
        );
        match self.bytes_per_op {
            Some((out_bytes, in_bytes)) => {
                let _ = write!(
                    out,
                    ",\"bytes_out_per_op\":{out_bytes},\"bytes_in_per_op\":{in_bytes}"
                );
            }
            None => out.push_str(",\"bytes_out_per_op\":null,\"bytes_in_per_op\":null"),
        }
        out.push('}');
        out
    }
}

fn per(total: Duration, count: u64) -> Duration {
    total / u32::try_from(count.max(1)).unwrap_or(u32::MAX)
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// A finite number as JSON (3 decimals); JSON has no NaN or infinity, so those become `null`.
pub(super) fn json_number(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".into()
    }
}

pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            label: "a \"b\"".into(),
            mode: Mode::Chain { depth: 4 },
            tls: true,
            ops: 100,
            elapsed: Duration::from_secs(2),
            latency: Percentiles {
                p50: Duration::from_micros(10),
                ..Percentiles::default()
            },
            server_cpu: Some(Duration::from_millis(4)),
            client_cpu: None,
            bytes_per_op: Some((300, 200)),
            work: 0,
        }
    }

    #[test]
    fn rates_count_calls_per_operation() {
        let report = sample();
        assert_eq!(report.ops_per_sec(), 50.0);
        assert_eq!(report.calls_per_sec(), 200.0);
        assert_eq!(
            report.server_cpu_per_call(),
            Some(Duration::from_micros(10))
        );
    }

    #[test]
    fn json_lines_escape_and_use_null() {
        let line = sample().json_line();
        assert!(line.starts_with("{\"label\":\"a \\\"b\\\"\",\"mode\":\"chain\",\"depth\":4"));
        assert!(line.contains("\"client_cpu_us_per_call\":null"));
        assert!(line.contains("\"p50_us\":10.000"));
        assert!(line.contains("\"bytes_out_per_op\":300"));
        assert!(!line.contains('\n'));
        assert_eq!(json_number(f64::NAN), "null");
    }

    #[test]
    fn table_rows_line_up_with_the_header() {
        let row = sample().table_row();
        assert_eq!(row.chars().count(), Report::table_header().chars().count());
    }
}
