//! `windlass-calc` as a person runs it: the demo, serve + eval on a real port, signals, errors.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{calc, Server, BIN};
#[test]
fn the_default_command_runs_the_demo_and_every_check_passes() {
    let out = calc(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("PASS").count(), 6, "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("6/6 checks passed"), "{stdout}");
}

#[test]
fn serve_answers_eval_and_the_demo_then_exits_cleanly_on_sigterm() {
    let server = Server::start();
    let out = calc(&["eval", "--connect", &server.addr, "(4 + 5) * 3 - 1 / 2"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "26.5");

    let out = calc(&["eval", "-c", &server.addr, "-2 * -3"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "6");

    let out = calc(&["demo", "--connect", &server.addr]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    server.signal("TERM");
    let (status, log) = server.wait();
    assert!(status.success(), "serve exited with {status}");
    assert!(log.contains("connection open"), "{log}");
    assert!(log.contains("connection closed"), "{log}");
    assert!(log.contains("server stopped"), "{log}");
}

#[test]
fn serve_exits_cleanly_on_sigint() {
    let server = Server::start();
    server.signal("INT");
    let (status, _) = server.wait();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn parse_errors_point_at_the_column_without_connecting() {
    // Nothing listens on port 1; a parse error must be reported before any connection attempt.
    let out = calc(&["eval", "--connect", "127.0.0.1:1", "(4 + ) * 3"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("column 6"), "{stderr}");
    assert!(
        stderr.contains("(4 + ) * 3\n       ^ expected a number"),
        "{stderr}"
    );
}

#[test]
fn connection_errors_are_one_clear_line() {
    // A port nothing listens on, held for the test so no other server can be given it.
    let (_held, addr) = support::refusing_address();
    let port = addr.port();
    let out = calc(&["eval", "--connect", &format!("127.0.0.1:{port}"), "1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: cannot connect to 127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn help_explains_every_command() {
    let out = calc(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for word in ["serve", "eval", "demo", "RUST_LOG"] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let out = calc(&["serve", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--listen"));
}

#[cfg(feature = "tls")]
#[test]
fn serve_tls_prints_its_fingerprint_and_clients_verify_by_ca_or_pin() {
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../certs");
    let (cert, key, ca) = (
        format!("{certs}/server.crt"),
        format!("{certs}/server.key"),
        format!("{certs}/ca.crt"),
    );
    let (server, first) = Server::start_with(&["--tls-cert", &cert, "--tls-key", &key]);
    let fingerprint = first
        .strip_prefix("certificate SHA-256: ")
        .map(str::trim)
        .unwrap_or_else(|| panic!("serve did not print its fingerprint first: {first:?}"))
        .to_string();
    assert_eq!(fingerprint.len(), 64, "{fingerprint}");

    let out = calc(&["eval", "-c", &server.addr, "--ca", &ca, "2 * 21"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");

    let out = calc(&[
        "eval",
        "-c",
        &server.addr,
        "--pin-sha256",
        &fingerprint,
        "1 + 1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = calc(&["demo", "-c", &server.addr, "--ca", &ca]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    let out = calc(&["eval", "-c", &server.addr, "1 + 1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("this server requires TLS"), "{stderr}");

    let out = calc(&[
        "eval",
        "-c",
        &server.addr,
        "--ca",
        "/nonexistent/ca.crt",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read /nonexistent/ca.crt"),
        "{stderr}"
    );

    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success());
}

#[cfg(feature = "tls")]
#[test]
fn the_demo_runs_over_tls_by_default_and_plain_on_request() {
    let out = calc(&["demo"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("(TLS, development certificates"),
        "{stdout}"
    );
    let out = calc(&["demo", "--plain"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("(plain TCP)"),
        "{stdout}"
    );
}

#[test]
fn running_out_of_file_descriptors_does_not_end_the_server() {
    // A server allowed only a few descriptors: connections past that make accept() fail with
    // EMFILE. It must log, back off and keep going, then serve again once descriptors free up.
    let mut child = Command::new("bash")
        .args([
            "-c",
            &format!("ulimit -n 48 && exec {BIN} serve --listen 127.0.0.1:0 --workers 1"),
        ])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start serve under ulimit");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(_) => panic!("no log line containing {needle:?}"),
            }
        }
    };
    let line = wait_for("addr=");
    let addr = line
        .split("addr=")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("addr")
        .to_string();

    let hogs: Vec<std::net::TcpStream> = (0..80)
        .filter_map(|_| std::net::TcpStream::connect(&addr).ok())
        .collect();
    assert!(hogs.len() > 48, "the backlog holds the extra connections");
    wait_for("accept failed; retrying");
    drop(hogs);

    // Descriptors free up as the server sees the hogs go; a real client is then served.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = calc(&["eval", "--connect", &addr, "--timeout", "5s", "6 * 7"]);
        if out.status.success() {
            assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never served again: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "serve did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn runtime_flags_are_applied() {
    let (server, _) = Server::start_with(&["--max-connections", "0", "--workers", "1"]);
    let out = calc(&["eval", "-c", &server.addr, "1 + 1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connection limit (0)"), "{stderr}");
    let out = calc(&["serve", "--idle-timeout", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a duration"));
}
