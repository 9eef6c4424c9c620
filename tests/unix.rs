//! Unix domain sockets: a round trip with the peer's credentials seen by the bootstrap factory,
//! a stale socket file replaced, a live one kept, the file removed on shutdown, TLS refused there.
#![cfg(unix)]

mod common;

use std::sync::{Arc, Mutex};

use common::{eval, run_local};
use windlass::server::{ConnectionInfo, Options, PeerCredentials, Server};
use windlass::Connector;
use windlass_calculator::{self as calculator, Calculator};

fn scratch(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("windlass-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What the factory saw of a connection: over unix, and the peer's credentials.
type Seen = (bool, Option<PeerCredentials>);

#[test]
fn a_unix_socket_round_trip_shows_the_peer_credentials() {
    let dir = scratch("unix-rt");
    let addr = format!("unix:{}", dir.join("calc.sock").display());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let server = Server::bind(
        &addr,
        Options::new().with_workers(2),
        move |info: &ConnectionInfo| {
            record
                .lock()
                .expect("lock")
                .push((info.is_unix(), info.peer_credentials()));
            calculator::new_client().client
        },
    )
    .expect("bind unix");
    assert_eq!(server.endpoint(), addr);
    let connect_to = addr.clone();
    let value = run_local(async move {
        let conn = Connector::new(&connect_to)
            .connect()
            .await
            .expect("connect");
        let calc: Calculator = conn.bootstrap();
        let value = eval(&calc, "(4 + 5) * 3 - 1 / 2").await.expect("call");
        drop(calc);
        conn.close().await.expect("close");
        value
    });
    assert_eq!(value, 26.5);
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (unix, credentials) = seen[0];
    assert!(unix);
    let credentials = credentials.expect("Linux reports SO_PEERCRED");
    // The client is this very process.
    assert_eq!(credentials.pid, Some(std::process::id() as i32));
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let uid_line = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    let euid: u32 = uid_line
        .split_whitespace()
        .nth(2)
        .expect("euid")
        .parse()
        .expect("number");
    assert_eq!(credentials.uid, euid);

    let path = dir.join("calc.sock");
    assert!(path.exists());
    server.shutdown().expect("shutdown");
    assert!(
        !path.exists(),
        "the socket file is removed when the server stops"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stale_socket_file_is_replaced_and_a_live_one_refused() {
    let dir = scratch("unix-stale");
    let path = dir.join("s.sock");
    // A socket file with nobody listening, as a SIGKILLed server leaves behind.
    drop(std::os::unix::net::UnixListener::bind(&path).expect("stale"));
    assert!(path.exists());
    let addr = format!("unix:{}", path.display());
    let first = Server::bind(
        &addr,
        Options::new().with_workers(1),
        |_: &ConnectionInfo| calculator::new_client().client,
    )
    .expect("the stale file is replaced");
    let err = Server::bind(
        &addr,
        Options::new().with_workers(1),
        |_: &ConnectionInfo| calculator::new_client().client,
    )
    .expect_err("a live server's socket is not taken over");
    assert!(
        err.to_string().contains("another server is listening"),
        "{err}"
    );
    // The first server still serves.
    let to = addr.clone();
    let v = run_local(async move {
        Connector::new(&to)
            .run(|calc: Calculator| async move { eval(&calc, "20 + 22").await })
            .await
            .expect("call")
    });
    assert_eq!(v, 42.0);
    first.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn connecting_to_a_missing_socket_names_it() {
    let err = run_local(Connector::new("unix:/nonexistent/windlass.sock").connect())
        .expect_err("no such socket");
    let text = err.to_string();
    assert!(text.contains("unix:/nonexistent/windlass.sock"), "{text}");
    assert!(text.contains("is a server listening"), "{text}");
}

#[cfg(feature = "tls")]
#[test]
fn tls_options_are_refused_on_a_unix_socket() {
    let dir = scratch("unix-tls");
    let addr = format!("unix:{}", dir.join("t.sock").display());
    let tls = windlass::tls::dev::server().build().expect("dev tls");
    let err = Server::bind(&addr, Options::new().with_tls(tls), |_: &ConnectionInfo| {
        calculator::new_client().client
    })
    .expect_err("TLS on a unix socket");
    assert!(
        err.to_string()
            .contains("TLS is not offered on a unix socket"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_pool_mixes_unix_sockets_and_tcp_and_fails_over_between_them() {
    let dir = scratch("unix-pool");
    let missing = format!("unix:{}", dir.join("gone.sock").display());
    let local = format!("unix:{}", dir.join("live.sock").display());
    let serve = |addr: &str| {
        Server::bind(
            addr,
            Options::new().with_workers(1),
            |_: &ConnectionInfo| calculator::new_client().client,
        )
        .expect("bind")
    };
    let unix_server = serve(&local);
    let tcp_server = serve("127.0.0.1:0");
    let tcp = tcp_server.local_addr().to_string();
    let connector = Connector::new_multi([missing.clone(), local.clone(), tcp.clone()]);

    // Which address of the pool answered, and what it evaluated `expr` to.
    let reached = |expr: &'static str| {
        let pool = connector.clone();
        run_local(async move {
            let conn = pool.connect().await.expect("connect through the pool");
            let calc: Calculator = conn.bootstrap();
            let value = eval(&calc, expr).await.expect("call");
            (conn.address_index(), value)
        })
    };
    // The missing socket is skipped; the live unix socket answers.
    assert_eq!(reached("6 * 7"), (1, 42.0));
    // With the unix server gone, the same connector reaches the TCP one.
    unix_server.shutdown().expect("shutdown");
    assert_eq!(reached("1 + 2"), (2, 3.0));
    tcp_server.shutdown().expect("shutdown");

    // Every address down: the error names the last one tried.
    let err = run_local(Connector::new_multi([missing.clone()]).connect()).expect_err("down");
    assert!(err.to_string().contains(&missing), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "tls")]
#[test]
fn a_tls_connector_refuses_a_pool_with_a_unix_socket_before_connecting() {
    let tls = windlass::tls::dev::client().build().expect("dev tls");
    let connector =
        Connector::new_multi(["127.0.0.1:9", "unix:/nonexistent/pool.sock"]).with_tls(tls);
    let err = run_local(connector.connect()).expect_err("TLS on a unix socket");
    let text = err.to_string();
    assert!(text.contains("unix:/nonexistent/pool.sock"), "{text}");
    assert!(
        text.contains("TLS is not offered on unix sockets"),
        "{text}"
    );
}
