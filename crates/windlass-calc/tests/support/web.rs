//! What the Cap'n Web tests share: a `serve --web` or `gateway` process, and one check of the
//! stock capnweb client (crates/windlass-web/tests/js/calculator.mjs) run against it by node.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{stderr_of, BIN};

/// Every check of calculator.mjs, in the order the tests run them.
pub const CHECKS: [&str; 7] = [
    "literal",
    "operator",
    "nested",
    "deffunction",
    "callback",
    "chain",
    "errors",
];

/// A `windlass-calc` process that prints `Cap'n Web at http://ADDR/capnweb` on stdout once it
/// listens; killed on drop.
pub struct Web {
    pub child: Child,
    pub addr: String,
}

impl Web {
    pub fn start(args: &[&str]) -> Web {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start windlass-calc");
        let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        let addr = loop {
            assert!(Instant::now() < deadline, "no web address printed in time");
            line.clear();
            let n = out.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "windlass-calc exited before listening");
            if let Some(rest) = line.trim().strip_prefix("Cap'n Web at http://") {
                break rest.trim_end_matches("/capnweb").to_string();
            }
        };
        Web { child, addr }
    }

    /// `windlass-calc gateway` for the Calculator schema in front of the Cap'n Proto server at
    /// `backend`, its web side on a free port.
    pub fn calculator_gateway(backend: &str) -> Web {
        let schema = calculator_schema().to_string_lossy().to_string();
        Web::start(&[
            "gateway",
            "--schema",
            &schema,
            "--interface",
            "Calculator",
            "--backend",
            backend,
            "--web",
            "127.0.0.1:0",
        ])
    }
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// crates/windlass-calculator/schemas/calculator.capnp.
pub fn calculator_schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../windlass-calculator/schemas/calculator.capnp")
}

/// Runs `check` of calculator.mjs against `addr` over `transport` (`ws` or `batch`); returns the
/// check's JSON result. Panics with the client's output if the check fails.
pub fn capnweb(addr: &str, transport: &str, check: &str) -> serde_json::Value {
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../windlass-web/tests/js");
    let modules = std::env::var("WINDLASS_CAPNWEB_JS")
        .map(PathBuf::from)
        .unwrap_or(js.join("node_modules"));
    let scheme = if transport == "ws" { "ws" } else { "http" };
    let out = Command::new("node")
        .args(["--experimental-websocket", "--no-warnings"])
        .arg(js.join("calculator.mjs"))
        .args([transport, &format!("{scheme}://{addr}/capnweb"), check])
        .env("CAPNWEB_MODULE", modules.join("capnweb/dist/index.js"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{transport} {check}: {stdout}{}",
        stderr_of(&out)
    );
    let line = stdout.lines().last().unwrap_or_default();
    let report: serde_json::Value = serde_json::from_str(line).expect("a JSON report");
    report["result"].clone()
}
