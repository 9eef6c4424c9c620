//! The child processes of the web bench: a server that prints `Cap'n Web at URL` once listening
//! (windlass-calc and `js/calculator-server.mjs` print the same line), and one run of the load
//! client (`js/load.mjs --sync`), whose handshake lets the server's CPU time be read around
//! exactly the counted calls.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use super::{WebMode, WebPlan};
use crate::{BenchError, CpuProbe, Placement};

/// How long a server may take to print its URL, and a load client to connect and warm up beyond
/// its warm-up time (node starts in ≈ 50 ms; a loaded 2-core machine can take seconds).
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// The line both servers print once listening, before the URL.
const URL_PREFIX: &str = "Cap'n Web at ";

fn failed(what: impl Into<String>, why: impl Into<String>) -> BenchError {
    BenchError::Io {
        what: what.into(),
        source: std::io::Error::other(why.into()),
    }
}

/// The stdout lines of `child`, read on a thread so that every wait on them is bounded; the
/// thread keeps draining, so the child never blocks on a full pipe.
fn lines_of(child: &mut Child) -> Option<Receiver<String>> {
    let stdout = child.stdout.take()?;
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if send.send(line).is_err() {
                break;
            }
        }
    });
    Some(lines)
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// A server in a child process, killed when dropped.
#[derive(Debug)]
pub(super) struct ServerProcess {
    child: Child,
    url: String,
}

impl ServerProcess {
    /// Runs `command` (stdout piped, stderr to `/dev/null`) and waits for its `Cap'n Web at URL`
    /// line; its threads are then moved to `placement`'s server CPUs (a refusal is logged).
    pub(super) fn start(
        mut command: Command,
        label: &str,
        placement: &Placement,
    ) -> Result<Self, BenchError> {
        let what = format!("starting {label} ({command:?})");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| BenchError::Io {
                what: what.clone(),
                source,
            })?;
        let Some(lines) = lines_of(&mut child) else {
            stop(&mut child);
            return Err(failed(what, "no stdout"));
        };
        loop {
            match lines.recv_timeout(STARTUP_TIMEOUT) {
                Ok(line) => {
                    if let Some(url) = line.trim().strip_prefix(URL_PREFIX) {
                        let server = Self {
                            child,
                            url: url.to_string(),
                        };
                        crate::pin::warn_unpinned(placement.pin_process(server.pid()), label);
                        return Ok(server);
                    }
                }
                Err(_) => {
                    stop(&mut child);
                    return Err(failed(what, "no `Cap'n Web at URL` line"));
                }
            }
        }
    }

    /// `http://HOST:PORT/capnweb`.
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// What one load-client run measured (its JSON line), and the server's CPU time around it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFigures {
    /// Ops completed (a call, a batch or ten requests, as the mode says).
    pub ops: u64,
    /// `evaluate` calls completed.
    pub calls: u64,
    /// The measured time.
    pub seconds: f64,
    /// Latency of one op, µs: p50, p90, p99, max.
    pub latency_us: [f64; 4],
    /// The load client's CPU time per call, µs (`process.cpuUsage`).
    pub client_cpu_us_per_call: f64,
    /// The server process's CPU time during the measured calls, when `/proc` could tell.
    pub server_cpu: Option<Duration>,
}

/// Runs `node load.mjs --sync` against `url` and reads `server`'s CPU time between its
/// `{"ready":true}` and its result line.
pub(super) fn run_load(
    node: &Path,
    js: &Path,
    url: &str,
    mode: WebMode,
    plan: &WebPlan,
    server: &CpuProbe,
) -> Result<LoadFigures, BenchError> {
    let what = format!("load client, {mode} against {url}");
    let mut child = Command::new(node)
        .arg(js.join("load.mjs"))
        .args(["--url", url, "--mode", &mode.to_string(), "--sync"])
        .args(["--secs", &plan.secs.to_string()])
        .args(["--count", &plan.max_ops.to_string()])
        .args(["--warmup-secs", &plan.warmup_secs.to_string()])
        .current_dir(js)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|source| BenchError::Io {
            what: what.clone(),
            source,
        })?;
    let result = handshake(&mut child, plan, server).map_err(|why| failed(what, why));
    // Closing stdin lets the client close its session and exit; the figures are taken.
    drop(child.stdin.take());
    let _ = child.wait();
    result
}

fn handshake(child: &mut Child, plan: &WebPlan, server: &CpuProbe) -> Result<LoadFigures, String> {
    let (Some(lines), Some(mut stdin)) = (lines_of(child), child.stdin.take()) else {
        stop(child);
        return Err("no pipes to the client".into());
    };
    let within = STARTUP_TIMEOUT + Duration::from_secs_f64(plan.warmup_secs);
    let ready = lines.recv_timeout(within).unwrap_or_default();
    if !ready.contains("\"ready\":true") {
        stop(child);
        return Err(format!("no ready line (got {ready:?})"));
    }
    let before = server.read();
    if let Err(e) = go(&mut stdin) {
        stop(child);
        return Err(format!("cannot start the client: {e}"));
    }
    let line = lines
        .recv_timeout(STARTUP_TIMEOUT + Duration::from_secs_f64(plan.secs))
        .unwrap_or_default();
    let after = server.read();
    child.stdin = Some(stdin);
    let mut figures =
        parse_result(&line).ok_or_else(|| format!("no result line (got {line:?})"))?;
    figures.server_cpu = after.zip(before).map(|(a, b)| a.saturating_sub(b));
    Ok(figures)
}

fn go(stdin: &mut ChildStdin) -> std::io::Result<()> {
    stdin.write_all(b"go\n")?;
    stdin.flush()
}

/// The number after `"key":` in a flat line of JSON (the client's keys are unique, nested ones
/// included).
fn number(json: &str, key: &str) -> Option<f64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = json[at..].trim_start();
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn parse_result(line: &str) -> Option<LoadFigures> {
    let count = |key| number(line, key).map(|n| n as u64);
    Some(LoadFigures {
        ops: count("ops")?,
        calls: count("calls")?,
        seconds: number(line, "seconds")?,
        latency_us: [
            number(line, "p50")?,
            number(line, "p90")?,
            number(line, "p99")?,
            number(line, "max")?,
        ],
        client_cpu_us_per_call: number(line, "client_cpu_us_per_call")?,
        server_cpu: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clients_result_line_is_read() {
        let line = r#"{"mode":"inflight=64","ops":17010,"calls":17010,"seconds":1.0029,"calls_per_sec":16959.3,"ops_per_sec":16959.3,"latency_us":{"p50":3294.9,"p90":5302.3,"p99":7113.4,"max":8976.3},"client_cpu_us_per_call":55.5e0}"#;
        let figures = parse_result(line).expect("parsed");
        assert_eq!((figures.ops, figures.calls), (17010, 17010));
        assert_eq!(figures.seconds, 1.0029);
        assert_eq!(figures.latency_us, [3294.9, 5302.3, 7113.4, 8976.3]);
        assert_eq!(figures.client_cpu_us_per_call, 55.5);
        assert_eq!(parse_result(r#"{"ready":true}"#), None);
        assert_eq!(parse_result(""), None);
        assert_eq!(number(r#"{"ops": -3}"#, "ops"), Some(-3.0));
        assert_eq!(number(r#"{"ops":"x"}"#, "ops"), None);
    }
}
