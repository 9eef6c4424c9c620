//! pycapnp's Calculator as a contender: a Python child process running our pycapnp server script
//! (`tests/interop/calc_server.py`), killed when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use super::{BenchError, CpuProbe, Placement, Target};
use windlass::client::Connector;

/// How long the script may take to import pycapnp and start listening.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A pycapnp Calculator server in a child process.
#[derive(Debug)]
pub struct PythonServer {
    child: Child,
    addr: String,
}

impl PythonServer {
    /// Runs `python script --listen 127.0.0.1:0` and waits (at most 30 s) for its
    /// `listening on HOST:PORT` line.
    ///
    /// # Errors
    /// When the process cannot start or does not report an address in time.
    pub fn start(python: &Path, script: &Path) -> Result<Self, BenchError> {
        let failed = |what: &str, source| BenchError::Io {
            what: format!("{what} ({} {})", python.display(), script.display()),
            source,
        };
        let mut child = Command::new(python)
            .arg(script)
            .args(["--listen", "127.0.0.1:0"])
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| failed("cannot start the pycapnp server", e))?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(failed(
                "no stdout from the pycapnp server",
                std::io::Error::other("no pipe"),
            ));
        };
        // A reader thread, so that the wait for the first line is bounded.
        let (lines, first) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = lines.send(line);
            // Keep draining, so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });
        let line = first.recv_timeout(STARTUP_TIMEOUT).unwrap_or_default();
        match line.trim().strip_prefix("listening on ") {
            Some(addr) => Ok(Self {
                child,
                addr: addr.to_string(),
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(failed(
                    "the pycapnp server did not report its address",
                    std::io::Error::other(format!("first line: {line:?}")),
                ))
            }
        }
    }

    /// Pins every thread of the process to `placement`'s server CPUs; returns how many. Call it
    /// after [`start`](Self::start), when the server is listening (threads it starts later
    /// inherit the CPUs).
    ///
    /// # Errors
    /// As [`Placement::pin_process`].
    pub fn pin(&self, placement: &Placement) -> Result<usize, BenchError> {
        placement.pin_process(self.child.id())
    }

    /// This server as a [`Target`] named `pycapnp`, its CPU time read from its process.
    pub fn target(&self) -> Target {
        Target {
            label: "pycapnp".into(),
            connector: Connector::new(self.addr.clone()),
            tls: false,
            server_cpu: Some(CpuProbe::Process(self.child.id())),
        }
    }
}

impl Drop for PythonServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
