//! The stock capnweb client (npm `capnweb`, the exact version in tests/js/package-lock.json)
//! against a real windlass-web server serving the Calculator, over WebSocket and HTTP batch.
//!
//! Needs `node` and `npm ci` in tests/js; then `WINDLASS_CAPNWEB_JS=<that>/node_modules` turns
//! the tests on (build.rs); without it they are ignored, never passed silently.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use common::TestServer;
use windlass_web::WebOptions;

/// How long one node run may take (it makes a handful of calls on localhost).
const NODE_TIMEOUT: Duration = Duration::from_secs(30);

/// node < 22 has WebSocket only behind a flag.
fn node_flags() -> Vec<&'static str> {
    let version = std::process::Command::new("node")
        .arg("--version")
        .output()
        .expect("node runs");
    let text = String::from_utf8_lossy(&version.stdout);
    let major: u32 = text
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 22 {
        vec!["--experimental-websocket", "--no-warnings"]
    } else {
        Vec::new()
    }
}

/// Runs `check` of tests/js/calculator.mjs over `transport` (`ws` or `batch`); returns its
/// result and the number of sessions the server opened.
async fn run(transport: &str, check: &str) -> (serde_json::Value, usize) {
    let server = TestServer::start(WebOptions::default()).await;
    let scheme = if transport == "ws" { "ws" } else { "http" };
    let url = format!("{scheme}://{}/capnweb", server.addr);
    let js = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let modules = std::env::var("WINDLASS_CAPNWEB_JS")
        .map(PathBuf::from)
        .unwrap_or(js.join("node_modules"));
    let child = tokio::process::Command::new("node")
        .args(node_flags())
        .arg(js.join("calculator.mjs"))
        .args([transport, &url, check])
        .env("CAPNWEB_MODULE", modules.join("capnweb/dist/index.js"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(NODE_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{transport} {check}: node timed out"))
        .expect("node output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{transport} {check} failed:\n{stdout}\n{stderr}"
    );
    let line = stdout.lines().last().unwrap_or_default();
    eprintln!("{line}");
    let report: serde_json::Value = serde_json::from_str(line).expect("a JSON report");
    let sessions = server.sessions();
    server.stop().await;
    (report["result"].clone(), sessions)
}

macro_rules! capnweb_test {
    ($name:ident, $transport:literal, $check:literal $(, |$result:ident, $sessions:ident| $extra:block)?) => {
        #[tokio::test]
        #[cfg_attr(
            not(capnweb_js),
            ignore = "needs node and capnweb: `npm ci` in tests/js, then WINDLASS_CAPNWEB_JS=tests/js/node_modules"
        )]
        async fn $name() {
            let (_result, _sessions) = run($transport, $check).await;
            $(let ($result, $sessions) = (_result, _sessions); $extra)?
        }
    };
}

capnweb_test!(ws_literal_read_pipelined, "ws", "literal", |r, s| {
    assert_eq!(r, 3.0);
    assert_eq!(s, 1);
});
capnweb_test!(batch_literal_read_pipelined, "batch", "literal", |r, s| {
    assert_eq!(r, 3.0);
    assert_eq!(s, 1);
});
capnweb_test!(ws_operator_passed_unawaited, "ws", "operator");
capnweb_test!(batch_operator_passed_unawaited, "batch", "operator");
capnweb_test!(ws_nested_pipelined_sample, "ws", "nested");
capnweb_test!(batch_nested_pipelined_sample, "batch", "nested", |_r, s| {
    assert_eq!(s, 1);
});
capnweb_test!(ws_def_function_with_parameters, "ws", "deffunction");
capnweb_test!(batch_def_function_with_parameters, "batch", "deffunction");
capnweb_test!(ws_client_function_called_back, "ws", "callback");
capnweb_test!(batch_client_function_rejected_cleanly, "batch", "callback");
capnweb_test!(ws_chain_of_ten_dependent_calls, "ws", "chain");
capnweb_test!(
    batch_chain_of_ten_in_one_request,
    "batch",
    "chain",
    |r, s| {
        assert_eq!(r, 10.0);
        assert_eq!(s, 1, "the whole chain must be one HTTP request");
    }
);
capnweb_test!(ws_map_runs_on_the_server, "ws", "map", |r, _s| {
    assert_eq!(r, 42.0);
});
capnweb_test!(batch_map_runs_on_the_server, "batch", "map", |r, s| {
    assert_eq!(r, 42.0);
    assert_eq!(s, 1);
});
capnweb_test!(ws_errors_reject_and_session_goes_on, "ws", "errors");
capnweb_test!(batch_errors_reject_and_session_goes_on, "batch", "errors");
