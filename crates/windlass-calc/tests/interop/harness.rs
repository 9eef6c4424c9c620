//! Child processes for the interop tests: the Python peers and `windlass-calc`, each with every
//! wait bounded and killed on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The CLI under test.
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_windlass-calc");

/// Longest any child may take to get ready or to finish. Generous: CI has two cores and runs the
/// debug build, and pycapnp imports take a while; a healthy run needs a fraction of it.
pub(crate) const TIMEOUT: Duration = Duration::from_secs(90);

/// The environment variable naming the Python interpreter that has pycapnp.
pub(crate) const PYTHON_VAR: &str = "WINDLASS_PYTHON";

/// The Python interpreter to run the peers with: [`PYTHON_VAR`] as the test runs, else as it was
/// when the tests were built.
///
/// Without it the interop tests are not run at all but reported as ignored: `build.rs` sets
/// `cfg(interop)` only when [`PYTHON_VAR`] is set at build time, and every test here is
/// `#[cfg_attr(not(interop), ignore = ...)]`, so `cargo test` counts them honestly.
///
/// # Panics
///
/// When neither is set (the test was run with `--ignored` on a machine without Python): a
/// test that cannot reach its peer fails, it does not pass.
pub(crate) fn python(test: &str) -> PathBuf {
    std::env::var_os(PYTHON_VAR)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| option_env!("WINDLASS_PYTHON").map(PathBuf::from))
        .unwrap_or_else(|| {
            panic!("{test}: {PYTHON_VAR} is not set: it must name a Python with pycapnp 2.x (docs/interop.md)")
        })
}

/// A path inside this crate (`crates/windlass-calc`).
pub(crate) fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A path from the workspace root (where `certs/` lives).
pub(crate) fn root_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative)
}

/// A development certificate or key from `certs/`, as a string argument.
#[cfg(feature = "tls")]
pub(crate) fn cert(name: &str) -> String {
    root_path("certs").join(name).display().to_string()
}

/// `python tests/interop/SCRIPT`, with no `__pycache__` left in the source tree.
pub(crate) fn python_script(python: &Path, script: &str) -> Command {
    let mut command = Command::new(python);
    command
        .arg(repo_path("tests/interop").join(script))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    command
}

/// `windlass-calc ARGS`.
pub(crate) fn windlass_calc(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    command
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// A running child whose output is read line by line on two threads.
pub(crate) struct Process {
    name: String,
    child: Child,
    lines: Receiver<(Stream, String)>,
    readers: Vec<JoinHandle<String>>,
}

impl Process {
    /// Starts `command` with piped stdout and stderr and no stdin.
    ///
    /// # Panics
    ///
    /// If it cannot be started.
    pub(crate) fn spawn(name: &str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        let readers = vec![
            read_lines(stdout, Stream::Stdout, tx.clone()),
            read_lines(stderr, Stream::Stderr, tx),
        ];
        Self {
            name: name.to_owned(),
            child,
            lines,
            readers,
        }
    }

    /// Reads output lines (stdout and stderr) until `pick` returns `Some`, within [`TIMEOUT`].
    ///
    /// # Panics
    ///
    /// If the child exits or the time runs out first; the message holds what it printed.
    pub(crate) fn wait_for<T>(&mut self, what: &str, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        let deadline = Instant::now() + TIMEOUT;
        let mut seen = String::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((_, line)) => {
                    if let Some(found) = pick(&line) {
                        return found;
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!(
                        "{}: no {what} within {TIMEOUT:?}; output:\n{seen}",
                        self.name
                    )
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!(
                        "{}: exited ({status:?}) before {what}; output:\n{seen}",
                        self.name
                    )
                }
            }
        }
    }

    /// Waits (within [`TIMEOUT`]) for the child to exit and collects everything it printed.
    ///
    /// # Panics
    ///
    /// If it does not exit in time (it is killed first).
    pub(crate) fn finish(mut self) -> Finished {
        let deadline = Instant::now() + TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for the child") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{}: still running after {TIMEOUT:?}; killed", self.name);
            }
            // A bounded poll for exit, not a guess at readiness.
            std::thread::sleep(Duration::from_millis(10));
        };
        // The pipes close when the child exits, so the readers end and hand over their text.
        let mut texts = self.readers.drain(..).map(|r| r.join().unwrap_or_default());
        let stdout = texts.next().unwrap_or_default();
        let stderr = texts.next().unwrap_or_default();
        Finished {
            name: self.name.clone(),
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Forwards each line of `pipe` to `tx` and returns the whole text at end of stream.
fn read_lines(
    pipe: impl Read + Send + 'static,
    stream: Stream,
    tx: mpsc::Sender<(Stream, String)>,
) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            all.push_str(&line);
            all.push('\n');
            // The receiver is gone once the test stopped listening; keep draining the pipe.
            let _ = tx.send((stream, line));
        }
        all
    })
}

/// A child that has exited, with everything it printed.
pub(crate) struct Finished {
    name: String,
    /// How it exited.
    pub(crate) status: ExitStatus,
    /// All of its stdout.
    pub(crate) stdout: String,
    /// All of its stderr.
    pub(crate) stderr: String,
}

impl Finished {
    /// Its stdout, after checking that it exited successfully.
    ///
    /// # Panics
    ///
    /// On a non-zero exit, with both outputs in the message.
    pub(crate) fn success(&self) -> &str {
        assert!(self.status.success(), "{} failed: {self}", self.name);
        &self.stdout
    }

    /// Its stderr, after checking that it failed.
    ///
    /// # Panics
    ///
    /// On a zero exit.
    #[cfg(feature = "tls")] // only the TLS tests expect a failure
    pub(crate) fn failure(&self) -> &str {
        assert!(
            !self.status.success(),
            "{} should have failed: {self}",
            self.name
        );
        &self.stderr
    }
}

impl std::fmt::Display for Finished {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `command` to completion.
pub(crate) fn run(name: &str, command: &mut Command) -> Finished {
    Process::spawn(name, command).finish()
}

/// `windlass-calc serve` on a free port of 127.0.0.1 with `extra` arguments, and its address,
/// read from its `serving the Calculator addr=...` log line.
pub(crate) fn windlass_server(extra: &[&str]) -> (Process, String) {
    let mut command = windlass_calc(&["serve", "--listen", "127.0.0.1:0"]);
    command.args(extra).env("RUST_LOG", "info");
    let mut server = Process::spawn("windlass-calc serve", &mut command);
    let addr = server.wait_for("the listening address in the log", |line| {
        let rest = line.split("addr=").nth(1)?;
        let addr = rest.split_whitespace().next()?;
        addr.parse::<std::net::SocketAddr>().ok()?;
        Some(addr.to_owned())
    });
    (server, addr)
}

/// `calc_server.py` (pycapnp) on a free port of 127.0.0.1 with `extra` arguments, and its
/// address, read from its `listening on ...` line.
pub(crate) fn python_server(python: &Path, extra: &[&str]) -> (Process, String) {
    let mut command = python_script(python, "calc_server.py");
    command.args(["--listen", "127.0.0.1:0"]).args(extra);
    let mut server = Process::spawn("calc_server.py (pycapnp)", &mut command);
    let addr = server.wait_for("`listening on`", |line| {
        line.strip_prefix("listening on ").map(str::to_owned)
    });
    (server, addr)
}
