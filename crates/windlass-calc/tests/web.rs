//! `serve --web` and `gateway`, driven as a user would: the binary on free ports, called by the
//! stock capnweb client (node, crates/windlass-web/tests/js) over WebSocket and HTTP batch.
//! Without `WINDLASS_CAPNWEB_JS` (build.rs) the client checks are ignored, never passed silently;
//! the gateway's start-up errors need no node and always run.

mod support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{calc, stderr_of, Server};

const BIN: &str = env!("CARGO_BIN_EXE_windlass-calc");

/// A process that prints `Cap'n Web at http://ADDR/capnweb` on stdout once it listens.
struct Web {
    child: Child,
    addr: String,
}

impl Web {
    fn start(args: &[&str]) -> Web {
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
}

impl Drop for Web {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `check` of calculator.mjs against `addr` over `transport`; returns its JSON result.
#[cfg_attr(not(capnweb_js), allow(dead_code))]
fn capnweb(addr: &str, transport: &str, check: &str) -> serde_json::Value {
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

fn the_calculator_checks_pass(addr: &str) {
    for transport in ["ws", "batch"] {
        assert_eq!(capnweb(addr, transport, "literal"), 3.0, "{transport}");
        assert_eq!(capnweb(addr, transport, "chain"), 10.0, "{transport}");
        capnweb(addr, transport, "nested");
        capnweb(addr, transport, "operator");
        capnweb(addr, transport, "errors");
    }
    capnweb(addr, "ws", "callback");
}

#[test]
#[cfg_attr(
    not(capnweb_js),
    ignore = "needs node and capnweb: `npm ci` in crates/windlass-web/tests/js, then WINDLASS_CAPNWEB_JS=<it>/node_modules"
)]
fn serve_web_answers_the_capnweb_client() {
    let web = Web::start(&["serve", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"]);
    the_calculator_checks_pass(&web.addr);
}

#[test]
#[cfg_attr(
    not(capnweb_js),
    ignore = "needs node and capnweb: `npm ci` in crates/windlass-web/tests/js, then WINDLASS_CAPNWEB_JS=<it>/node_modules"
)]
fn the_gateway_gives_a_capnp_server_a_capnweb_face() {
    let backend = Server::start();
    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../windlass-calculator/schemas/calculator.capnp");
    let schema = schema.to_string_lossy().to_string();
    let gateway = Web::start(&[
        "gateway",
        "--schema",
        &schema,
        "--interface",
        "Calculator",
        "--backend",
        &backend.addr,
        "--web",
        "127.0.0.1:0",
    ]);
    the_calculator_checks_pass(&gateway.addr);
}

#[test]
fn the_gateway_names_schema_errors_and_unknown_interfaces() {
    let dir = std::env::temp_dir().join(format!("windlass-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let bad = dir.join("bad.capnp");
    std::fs::write(
        &bad,
        "@0xd2f3c1b2a4e5f607;\ninterface Kv {\n  get @0 () -> (v :Txet);\n}\n",
    )
    .expect("schema");
    let bad = bad.to_string_lossy().to_string();
    let common = ["--backend", "127.0.0.1:1", "--web", "127.0.0.1:0"];
    let out = calc(
        &[
            &["gateway", "--schema", &bad, "--interface", "Kv"][..],
            &common,
        ]
        .concat(),
    );
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("bad.capnp:3:") && err.contains("Txet"),
        "{err}"
    );

    let schema = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../windlass-calculator/schemas/calculator.capnp");
    let schema = schema.to_string_lossy().to_string();
    let args = [
        &["gateway", "--schema", &schema, "--interface", "Nope"][..],
        &common,
    ]
    .concat();
    let out = calc(&args);
    assert!(!out.status.success());
    let err = stderr_of(&out);
    assert!(err.contains("Nope"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
