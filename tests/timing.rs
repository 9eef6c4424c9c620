//! Configured times pinned: each timeout fires after its configured value (not before) and
//! within a tight bound after it — not merely "within 10 s". Real sockets, server threads, so
//! real time; the bounds allow for a loaded 2-core machine.

mod common;

use std::time::{Duration, Instant};

use common::{connect, eval, gated_call, run_local};
use windlass::client::Connector;
use windlass::server::{Options, ServerHandle};
use windlass_calculator as calculator;

/// How late a timer may fire on a loaded machine.
const LATE: Duration = Duration::from_millis(400);
const EARLY: Duration = Duration::from_millis(30);

fn server(options: Options) -> ServerHandle {
    windlass::Server::bind("127.0.0.1:0", options.with_workers(1), |_| {
        calculator::new_client().client
    })
    .expect("spawn")
}

fn within(took: Duration, configured: Duration, what: &str) {
    assert!(
        took + EARLY >= configured && took <= configured + LATE,
        "{what}: took {took:?}, configured {configured:?}"
    );
}

#[test]
fn the_idle_timeout_fires_on_time_and_restarts_on_activity() {
    let idle = Duration::from_millis(400);
    let server = server(Options::new().with_idle_timeout(Some(idle)));
    let addr = server.local_addr();
    run_local(async move {
        let (conn, calc) = connect(addr).await;
        // Activity every half period for three periods keeps it open.
        for _ in 0..6 {
            eval(&calc, "1 + 1").await.expect("kept open by activity");
            tokio::time::sleep(idle / 2).await;
        }
        eval(&calc, "1 + 1").await.expect("still open");
        let last = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), conn.disconnected())
            .await
            .expect("closed");
        within(last.elapsed(), idle, "idle timeout");
    });
}

#[test]
fn the_drain_deadline_is_kept() {
    let drain = Duration::from_millis(500);
    let server = server(Options::new().with_drain_timeout(drain));
    let addr = server.local_addr();
    let trigger = server.shutdown_trigger();
    let waiter = std::thread::spawn(move || server.wait());
    run_local(async move {
        let (_conn, calc) = connect(addr).await;
        let (value, gate) = gated_call(&calc);
        let value = tokio::task::spawn_local(value);
        gate.called.notified().await;
        let start = Instant::now();
        trigger.shutdown();
        let _ = value.await;
        // The call is cut off at the deadline (plus the disconnect's flush).
        within(start.elapsed(), drain, "drain deadline");
    });
    waiter.join().expect("waiter").expect("clean shutdown");
}

#[test]
fn the_handshake_timeout_closes_a_silent_socket_on_time() {
    let timeout = Duration::from_millis(500);
    let server = server(Options::new().with_handshake_timeout(timeout));
    let addr = server.local_addr();
    let mut socket = std::net::TcpStream::connect(addr).expect("connect");
    let start = Instant::now();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut buf = [0u8; 16];
    let _ = std::io::Read::read(&mut socket, &mut buf);
    within(start.elapsed(), timeout, "handshake timeout");
}

#[test]
fn a_heartbeat_notices_a_silent_peer_within_two_intervals() {
    let interval = Duration::from_millis(200);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut sink = [0u8; 4096];
        while matches!(std::io::Read::read(&mut socket, &mut sink), Ok(n) if n > 0) {}
    });
    run_local(async move {
        let conn = Connector::new(addr.to_string())
            .with_heartbeat(Some(interval))
            .connect()
            .await
            .expect("TCP connects");
        let start = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), conn.disconnected())
            .await
            .expect("noticed");
        let took = start.elapsed();
        assert!(
            took + EARLY >= interval && took <= 2 * interval + LATE,
            "heartbeat noticed after {took:?} with interval {interval:?}"
        );
        drop(conn);
    });
    silent.join().expect("silent peer");
}
