//! `windlass-calc gateway` in front of a Calculator server written in C++ (tests/cpp/, kj/capnp's
//! EzRpcServer): the stock capnweb client's checks pass through it as they do in front of
//! windlass's own server (tests/web.rs), and windlass's Cap'n Proto client talks to that server
//! directly. The server is built here with capnp and g++ against libcapnp-dev.
//!
//! Without `WINDLASS_CXX_CALC=1` (build.rs: g++, capnp and libcapnp-dev are installed) every test
//! is ignored, and the web checks also need `WINDLASS_CAPNWEB_JS`: never passed silently.

mod support;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use support::web::{calculator_schema, capnweb, Web, CHECKS};
use support::{calc, stderr_of};

/// Where the generated code and the server binary go; kept between runs so that an unchanged
/// server is not rebuilt.
fn build_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cxx-calculator")
}

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Runs `command`, panicking with its output unless it succeeds.
fn run(what: &str, command: &mut Command) {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
}

/// Compiles the schema to C++ and the server with g++, once per test process and only when the
/// source or the schema is newer than the binary; returns the binary.
fn cxx_server_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let source =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/cpp/calculator_server.c++");
        let schema = calculator_schema();
        let dir = build_dir();
        let binary = dir.join("calculator_server");
        if binary.is_file()
            && modified(&binary) > modified(&source)
            && modified(&binary) > modified(&schema)
        {
            return binary;
        }
        std::fs::create_dir_all(&dir).expect("create the C++ build directory");
        let schemas = schema.parent().expect("the schema has a directory");
        run(
            "capnp compile -oc++",
            Command::new("capnp")
                .arg("compile")
                .arg(format!("-oc++:{}", dir.display()))
                .arg(format!("--src-prefix={}", schemas.display()))
                .arg(&schema),
        );
        let flags = Command::new("pkg-config")
            .args(["--cflags", "--libs", "capnp-rpc"])
            .output()
            .expect("run pkg-config");
        assert!(
            flags.status.success(),
            "pkg-config capnp-rpc (libcapnp-dev installed?): {}",
            stderr_of(&flags)
        );
        let flags = String::from_utf8_lossy(&flags.stdout).into_owned();
        run(
            "g++",
            Command::new("g++")
                .args(["-std=c++17", "-O1", "-Wall", "-Werror", "-I"])
                .arg(&dir)
                .arg(&source)
                .arg(dir.join("calculator.capnp.c++"))
                .args(flags.split_whitespace())
                .arg("-o")
                .arg(&binary),
        );
        binary
    })
}

/// The C++ server on a free port of 127.0.0.1, killed on drop.
struct CxxServer {
    child: Child,
    addr: String,
}

impl CxxServer {
    fn start() -> CxxServer {
        let mut child = Command::new(cxx_server_binary())
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the C++ calculator server");
        let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        let addr = loop {
            assert!(
                Instant::now() < deadline,
                "the C++ server printed no address"
            );
            line.clear();
            let n = out.read_line(&mut line).expect("read stdout");
            assert!(n > 0, "the C++ server exited before listening");
            if let Some(addr) = line.trim().strip_prefix("listening on ") {
                break addr.to_string();
            }
        };
        CxxServer { child, addr }
    }
}

impl Drop for CxxServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every check of calculator.mjs over `transport`, through the gateway in front of the C++ server.
#[cfg_attr(not(all(cxx_calc, capnweb_js)), allow(dead_code))]
fn the_checks_pass_through_the_gateway(transport: &str) {
    let backend = CxxServer::start();
    let gateway = Web::calculator_gateway(&backend.addr);
    for check in CHECKS {
        let result = capnweb(&gateway.addr, transport, check);
        match check {
            "literal" => assert_eq!(result, 3.0, "{transport} {check}"),
            "chain" => assert_eq!(result, 10.0, "{transport} {check}"),
            "deffunction" => assert_eq!(
                result,
                serde_json::json!([1234, 4244]),
                "{transport} {check}"
            ),
            _ => {}
        }
    }
}

#[test]
#[cfg_attr(
    not(all(cxx_calc, capnweb_js)),
    ignore = "needs g++, capnp, libcapnp-dev (WINDLASS_CXX_CALC=1) and node with capnweb (WINDLASS_CAPNWEB_JS=<crates/windlass-web/tests/js>/node_modules)"
)]
fn the_gateway_in_front_of_the_cxx_server_passes_the_checks_over_websocket() {
    the_checks_pass_through_the_gateway("ws");
}

#[test]
#[cfg_attr(
    not(all(cxx_calc, capnweb_js)),
    ignore = "needs g++, capnp, libcapnp-dev (WINDLASS_CXX_CALC=1) and node with capnweb (WINDLASS_CAPNWEB_JS=<crates/windlass-web/tests/js>/node_modules)"
)]
fn the_gateway_in_front_of_the_cxx_server_passes_the_checks_over_http_batch() {
    the_checks_pass_through_the_gateway("batch");
}

#[test]
#[cfg_attr(
    not(cxx_calc),
    ignore = "needs g++, capnp and libcapnp-dev: WINDLASS_CXX_CALC=1"
)]
fn windlass_eval_and_demo_talk_capnp_to_the_cxx_server() {
    let server = CxxServer::start();
    let out = calc(&["eval", "--connect", &server.addr, "(4 + 5) * 3 - 1 / 2"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "26.5");

    // The demo's six checks include defFunction and a callback into the client's own Function.
    let out = calc(&["demo", "--connect", &server.addr]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr_of(&out));
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("6/6 checks passed"), "{stdout}");
}
