//! `serve --web` and `gateway`, driven as a user would: the binary on free ports, called by the
//! stock capnweb client (node, crates/windlass-web/tests/js) over WebSocket and HTTP batch.
//! Without `WINDLASS_CAPNWEB_JS` (build.rs) the client checks are ignored, never passed silently;
//! the gateway's start-up errors need no node and always run.

mod support;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use support::web::{capnweb, capnweb_tls, Web};
use support::{calc, stderr_of, Server};

/// `certs/` at the repository root: the development certificates.
fn cert(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../certs")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// One HTTP/1.1 request on a fresh connection; the whole response.
fn http(addr: &str, request: &str) -> String {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
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
#[cfg_attr(
    not(capnweb_js),
    ignore = "needs node and capnweb: `npm ci` in crates/windlass-web/tests/js, then WINDLASS_CAPNWEB_JS=<it>/node_modules"
)]
fn serve_web_with_tls_answers_the_capnweb_client_over_wss_and_https() {
    let (key, crt) = (cert("server.key"), cert("server.crt"));
    let web = Web::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        &crt,
        "--tls-key",
        &key,
        "--web",
        "127.0.0.1:0",
    ]);
    assert!(web.secure, "the web listener shares the server's TLS");
    for transport in ["ws", "batch"] {
        assert_eq!(capnweb_tls(&web.addr, transport, "literal"), 3.0);
        assert_eq!(capnweb_tls(&web.addr, transport, "chain"), 10.0);
    }
    capnweb_tls(&web.addr, "ws", "callback");
}

#[test]
fn serve_web_counters_are_in_the_admin_metrics() {
    let web = Web::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--admin",
        "127.0.0.1:0",
        "--web",
        "127.0.0.1:0",
    ]);
    let admin = web.admin.clone().expect("serve prints the admin address");
    let body = [
        r#"["push",["pipeline",0,["evaluate"],[{"literal":3}]]]"#,
        r#"["push",["pipeline",1,["value","read"],[]]]"#,
        r#"["pull",2]"#,
    ]
    .join("\n");
    let post = format!(
        "POST /capnweb HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let response = http(&web.addr, &post);
    assert!(
        response.ends_with(r#"["resolve",2,{"value":3}]"#),
        "{response}"
    );
    let refused = http(
        &web.addr,
        "GET /capnweb HTTP/1.1\r\nhost: x\r\norigin: https://evil.example\r\nconnection: close\r\n\r\n",
    );
    assert!(refused.starts_with("HTTP/1.1 403"), "{refused}");
    let metrics = http(
        &admin,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    );
    for line in [
        r#"windlass_web_sessions_opened_total{transport="http_batch"} 1"#,
        r#"windlass_web_sessions_opened_total{transport="websocket"} 0"#,
        r#"windlass_web_messages_received_total{transport="http_batch"} 3"#,
        r#"windlass_web_messages_sent_total{transport="http_batch"} 1"#,
        r#"windlass_web_refused_total{reason="origin"} 1"#,
        "windlass_connections_accepted_total 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
}

#[test]
fn serve_web_stops_with_the_server_on_sigterm() {
    let web = Web::start(&["serve", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"]);
    let pid = web.child.id().to_string();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(status.success());
    let mut web = web;
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = web.child.try_wait().expect("wait") {
            break exit;
        }
        assert!(
            Instant::now() < deadline,
            "serve --web did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(
        std::net::TcpStream::connect(&web.addr).is_err(),
        "the web listener is closed"
    );
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

/// The README's "From JavaScript" snippet, run as written against `serve --web` (only the
/// address and, since the test has no package.json of its own, the module path changed).
#[test]
#[cfg_attr(
    not(capnweb_js),
    ignore = "needs node and capnweb: `npm ci` in crates/windlass-web/tests/js, then WINDLASS_CAPNWEB_JS=<it>/node_modules"
)]
fn the_readme_javascript_snippet_works() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let after = readme
        .split("**From JavaScript**")
        .nth(1)
        .expect("the README has a From JavaScript paragraph");
    let snippet = after
        .split("```js\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```js block follows it");
    assert!(snippet.contains("ws://127.0.0.1:8080/capnweb"), "{snippet}");
    let web = Web::start(&["serve", "--listen", "127.0.0.1:0", "--web", "127.0.0.1:0"]);
    let modules = std::env::var("WINDLASS_CAPNWEB_JS")
        .map(PathBuf::from)
        .unwrap_or(root.join("crates/windlass-web/tests/js/node_modules"));
    let module = modules.join("capnweb/dist/index.js");
    let script = snippet
        .replace("127.0.0.1:8080", &web.addr)
        .replace(
            "from \"capnweb\"",
            &format!("from \"file://{}\"", module.display()),
        )
        // The session stays open after the snippet's last line; end the process once it printed.
        + "process.exit(0);\n";
    let dir = std::env::temp_dir().join(format!("windlass-readme-js-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("snippet.mjs");
    std::fs::write(&file, script).expect("write the snippet");
    let out = std::process::Command::new("node")
        .args(["--experimental-websocket", "--no-warnings"])
        .arg(&file)
        .output()
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", stderr_of(&out));
    assert_eq!(stdout.trim(), "42", "{stdout}");
}
