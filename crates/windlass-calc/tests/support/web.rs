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
    /// Whether it printed an https:// address (TLS).
    pub secure: bool,
    /// The admin endpoint's address, if it printed one (`serve --admin`).
    pub admin: Option<String>,
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
        let mut admin = None;
        let (addr, secure) = loop {
            assert!(Instant::now() < deadline, "no web address printed in time");
            line.clear();
            let n = out.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "windlass-calc exited before listening");
            let line = line.trim();
            if let Some(rest) = line.strip_prefix("admin endpoint at http://") {
                admin = Some(rest.to_string());
            }
            if let Some(rest) = line.strip_prefix("Cap'n Web at http://") {
                break (rest.trim_end_matches("/capnweb").to_string(), false);
            }
            if let Some(rest) = line.strip_prefix("Cap'n Web at https://") {
                break (rest.trim_end_matches("/capnweb").to_string(), true);
            }
        };
        Web {
            child,
            addr,
            secure,
            admin,
        }
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
    run_capnweb(addr, transport, check, false)
}

/// As [`capnweb`], over wss:// or https://, node trusting the development CA (certs/ca.crt).
pub fn capnweb_tls(addr: &str, transport: &str, check: &str) -> serde_json::Value {
    run_capnweb(addr, transport, check, true)
}

fn run_capnweb(addr: &str, transport: &str, check: &str, tls: bool) -> serde_json::Value {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let js = root.join("crates/windlass-web/tests/js");
    let modules = std::env::var("WINDLASS_CAPNWEB_JS")
        .map(PathBuf::from)
        .unwrap_or(js.join("node_modules"));
    let scheme = match (transport, tls) {
        ("ws", false) => "ws",
        ("ws", true) => "wss",
        (_, false) => "http",
        (_, true) => "https",
    };
    let mut node = Command::new("node");
    node.args(["--experimental-websocket", "--no-warnings"])
        .arg(js.join("calculator.mjs"))
        .args([transport, &format!("{scheme}://{addr}/capnweb"), check])
        .env("CAPNWEB_MODULE", modules.join("capnweb/dist/index.js"));
    if tls {
        node.env("NODE_EXTRA_CA_CERTS", root.join("certs/ca.crt"));
    }
    let out = node.output().expect("node runs");
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
