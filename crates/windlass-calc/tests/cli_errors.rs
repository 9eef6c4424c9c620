//! `windlass-calc` over real sockets, continued: errors a person can act on (silent and
//! foreign servers, mistyped and contradictory flags, sizes), long expressions, unix sockets and
//! the hardening flags reaching the server.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{calc, stderr_of, Server};

/// A listener that accepts connections and never answers (its socket stays open until the test
/// ends, since the accepted streams are kept).
fn silent_listener() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr").to_string();
    let thread = std::thread::spawn(move || {
        let mut kept = Vec::new();
        // Two connections: eval's and demo's.
        for stream in listener.incoming().take(2).flatten() {
            kept.push(stream);
        }
        // Hold them until both clients have given up (they close their ends).
        for mut stream in kept {
            let _ = std::io::Read::read_to_end(&mut stream, &mut Vec::new());
        }
    });
    (addr, thread)
}

#[test]
fn eval_and_demo_give_up_on_a_server_that_never_answers() {
    let (addr, thread) = silent_listener();
    let start = Instant::now();
    let out = calc(&["eval", "-c", &addr, "--timeout", "500ms", "1+1"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("timed out after 500ms"),
        "{}",
        stderr_of(&out)
    );
    let out = calc(&["demo", "-c", &addr, "--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("no answer within 300ms"), "{stdout}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    thread.join().expect("listener thread");

    // Without --timeout there is still one, and --help says which.
    let help = String::from_utf8_lossy(&calc(&["eval", "--help"]).stdout).into_owned();
    assert!(help.contains("[default: 10s]"), "{help}");
    let help = String::from_utf8_lossy(&calc(&["demo", "--help"]).stdout).into_owned();
    assert!(help.contains("--timeout <DURATION>"), "{help}");
}

#[test]
fn eval_against_an_http_server_says_it_is_not_cap_n_proto() {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("addr").to_string();
    let thread = std::thread::spawn(move || {
        if let Some(Ok(mut stream)) = listener.incoming().next() {
            let _ = stream.read(&mut [0u8; 512]);
            let _ = stream.write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
        }
    });
    let out = calc(&["eval", "-c", &addr, "1+1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("this is not a Cap'n Proto server (it answered like HTTP)"),
        "{stderr}"
    );
    assert!(!stderr.contains("segments"), "{stderr}");
    thread.join().expect("http thread");
}

#[test]
fn mistyped_flags_are_named_and_negative_expressions_still_work() {
    let out = calc(&["eval", "--conect", "127.0.0.1:4000", "1+1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("unexpected argument '--conect'"),
        "{stderr}"
    );
    assert!(stderr.contains("'--connect'"), "{stderr}");

    let out = calc(&["eval", "--tls-cert", "x", "1+1"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("unexpected argument '--tls-cert'"),
        "{stderr}"
    );

    let server = Server::start();
    for args in [
        &["eval", "-c", &server.addr, "-3 + 4"][..],
        &["eval", "-3 + 4", "-c", &server.addr],
        &["eval", "-c", &server.addr, "--", "-3 + 4"],
        &["eval", "-c", &server.addr, "-(2 - 3)"],
    ] {
        let out = calc(args);
        assert!(out.status.success(), "{args:?}: {}", stderr_of(&out));
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "1", "{args:?}");
    }
}

#[test]
fn a_flat_sum_of_25_terms_and_a_1000_term_chain_are_evaluated() {
    let server = Server::start();
    let sum = vec!["1"; 25].join(" + ");
    let out = calc(&["eval", "-c", &server.addr, &sum]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "25");

    let chain = vec!["2"; 1000].join(" - ");
    let out = calc(&["eval", "-c", &server.addr, &chain]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "-1996");

    let too_long = vec!["2"; 1025].join(" - ");
    let out = calc(&["eval", "-c", &server.addr, &too_long]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("more than 1024 levels"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn size_flags_take_units_and_a_small_limit_is_explained() {
    let (server, _) = Server::start_with(&["--max-message-bytes", "300", "--workers", "1"]);
    // Under the limit: served (this call used to trip the traversal limit instead).
    let out = calc(&["eval", "-c", &server.addr, "1 + 1"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "2");
    let out = calc(&["eval", "-c", &server.addr, "1 + 1 + 1"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("is too large (this peer accepts at most 296 bytes per message)"),
        "{stderr}"
    );
    drop(server);

    let (server, _) = Server::start_with(&["--max-message-bytes", "1MiB"]);
    let out = calc(&["eval", "-c", &server.addr, "6 * 7"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn contradictory_or_incomplete_flags_are_refused_by_name() {
    let out = calc(&["eval", "-c", "127.0.0.1", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("expected HOST:PORT"),
        "{}",
        stderr_of(&out)
    );

    let out = calc(&["serve", "--workers", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains("'--workers <N>'") && stderr.contains("at least 1"),
        "{stderr}"
    );

    #[cfg(feature = "tls")]
    {
        let out = calc(&["demo", "--plain", "--tls"]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = stderr_of(&out);
        assert!(
            stderr.contains("'--plain' cannot be used with '--tls'"),
            "{stderr}"
        );
    }
}

#[cfg(feature = "tls")]
#[test]
fn a_server_certificate_presented_as_a_client_certificate_is_explained() {
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../certs");
    let (cert, key, ca) = (
        format!("{certs}/server.crt"),
        format!("{certs}/server.key"),
        format!("{certs}/ca.crt"),
    );
    let (server, _) =
        Server::start_with(&["--tls-cert", &cert, "--tls-key", &key, "--client-ca", &ca]);
    let out = calc(&[
        "eval",
        "-c",
        &server.addr,
        "--ca",
        &ca,
        "--client-cert",
        &cert,
        "--client-key",
        &key,
        "1 + 1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = stderr_of(&out);
    assert!(stderr.contains("extended key usage"), "{stderr}");
    assert!(stderr.contains("clientAuth"), "{stderr}");
}

#[cfg(unix)]
#[test]
fn serve_and_eval_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("windlass-cli-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let socket = dir.join("calc.sock");
    // A stale file, as a killed server leaves behind, must not stop `serve`.
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    let listen = format!("unix:{}", socket.display());
    let (server, _) = Server::start_on(&listen, &[]);
    assert_eq!(server.addr, listen, "serve logs the unix address");
    let out = calc(&["eval", "--connect", &listen, "6 * 7"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "42");
    server.signal("TERM");
    let (status, _) = server.wait();
    assert!(status.success());
    assert!(!socket.exists(), "serve removes its socket file on exit");
    let out = calc(&["eval", "--connect", "unix:", "1+1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected unix:PATH"));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Waits (bounded) until the server closes `stream`; returns how long it took.
fn closed_within(stream: &mut std::net::TcpStream, limit: Duration) -> Option<Duration> {
    use std::io::Read;
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).expect("timeout");
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) if start.elapsed() < limit => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(start.elapsed())
            }
            _ => return None,
        }
    }
}

#[test]
fn hardening_flags_reach_the_server() {
    use std::io::Write;
    let (server, _) = Server::start_with(&[
        "--handshake-timeout",
        "500ms",
        "--read-timeout",
        "700ms",
        "--max-calls-in-flight",
        "4",
        "--listen-backlog",
        "777",
        "--workers",
        "1",
    ]);
    // --handshake-timeout: a silent socket is closed after it (and not much before).
    let mut silent = std::net::TcpStream::connect(&server.addr).expect("connect");
    let took = closed_within(&mut silent, Duration::from_secs(3)).expect("closed");
    assert!(
        took >= Duration::from_millis(450) && took <= Duration::from_millis(1500),
        "{took:?}"
    );
    // --read-timeout: a message stalled after its first bytes.
    let mut stalled = std::net::TcpStream::connect(&server.addr).expect("connect");
    stalled.write_all(&[0, 0, 0, 0, 8, 0]).expect("write");
    let took = closed_within(&mut stalled, Duration::from_secs(3)).expect("closed");
    assert!(
        took >= Duration::from_millis(650) && took <= Duration::from_millis(1700),
        "{took:?}"
    );
    // --max-calls-in-flight: 4 × 8 = 32 questions without Finish at most.
    let mut greedy = std::net::TcpStream::connect(&server.addr).expect("connect");
    let mut bytes = Vec::new();
    for id in 0..40u32 {
        let mut builder = capnp::message::Builder::new_default();
        builder
            .init_root::<windlass::capnp_rpc::rpc_capnp::message::Builder<'_>>()
            .init_bootstrap()
            .set_question_id(id);
        bytes.extend(capnp::serialize::write_message_to_words(&builder));
    }
    greedy.write_all(&bytes).expect("write");
    greedy
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut greedy, &mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(text.contains("keeps at most 32 per connection"), "{text}");
    // --listen-backlog: as the kernel reports it for the listening socket (Linux `ss`).
    let port = server.addr.rsplit(':').next().expect("port").to_string();
    if let Ok(out) = Command::new("ss")
        .args(["-ltnH", "sport", "=", &format!(":{port}")])
        .output()
    {
        let text = String::from_utf8_lossy(&out.stdout);
        let backlog = text.split_whitespace().nth(2).unwrap_or_default();
        assert_eq!(backlog, "777", "ss said: {text}");
    }
}
