//! The server runtime and the client connector: limits, idle timeout, graceful shutdown,
//! counters, redaction, call timeouts, reconnection and heartbeats — over real sockets.
//!
//! The server runs on its own threads, so `tokio::time::pause()` cannot reach it; every wait here
//! is for an event, bounded by a generous deadline, never a sleep that hopes.

mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{connect, eval, gated_call, run_local};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use windlass::client::{Backoff, Connector, Disconnect, Reconnecting};
use windlass::server::{ConnectionInfo, Options, Server, ServerHandle};
use windlass::{CallError, Error};
use windlass_calculator::{self as calculator, Calculator};

const BOUND: Duration = Duration::from_secs(10);

/// Polls `condition` (a cheap read of counters) until it holds, failing after [`BOUND`].
fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + BOUND;
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn server(options: Options) -> ServerHandle {
    Server::bind("127.0.0.1:0", options, |_: &ConnectionInfo| {
        calculator::new_client().client
    })
    .expect("server starts")
}

#[test]
fn an_extra_connection_beyond_the_limit_is_refused_with_overloaded_and_the_server_goes_on() {
    let server = server(Options::new().with_max_connections(1));
    let addr = server.local_addr();
    run_local(async {
        let (first, calc) = connect(addr).await;
        assert_eq!(eval(&calc, "1 + 1").await.expect("first is served"), 2.0);

        let (_second, extra) = connect(addr).await;
        let err = tokio::time::timeout(BOUND, eval(&extra, "1 + 1"))
            .await
            .expect("refused at once, not queued")
            .expect_err("over the limit");
        assert_eq!(err.kind, capnp::ErrorKind::Overloaded, "{err}");
        assert!(err.to_string().contains("connection limit (1)"), "{err}");

        assert_eq!(eval(&calc, "2 + 2").await.expect("first still served"), 4.0);
        drop(calc);
        first.close().await.expect("close");
    });
    assert_eq!(server.stats().rejected, 1);
    // The slot is free again once the first client has gone.
    assert!(server.wait_idle(BOUND), "the slot is freed");
    run_local(async {
        let (_conn, calc) = connect(addr).await;
        assert_eq!(eval(&calc, "3 + 3").await.expect("served again"), 6.0);
    });
}

#[test]
fn an_idle_connection_is_closed_and_the_client_hears_why() {
    let server = server(Options::new().with_idle_timeout(Some(Duration::from_millis(200))));
    let addr = server.local_addr();
    run_local(async {
        let (conn, calc) = connect(addr).await;
        assert_eq!(eval(&calc, "1 + 2").await.expect("served"), 3.0);
        let reason = tokio::time::timeout(BOUND, conn.disconnected())
            .await
            .expect("idle connection closed within the bound");
        assert!(matches!(reason, Disconnect::ClosedByPeer), "{reason}");
        assert!(conn.is_disconnected());
        let err = eval(&calc, "1").await.expect_err("connection is gone");
        assert_eq!(err.kind, capnp::ErrorKind::Disconnected, "{err}");
    });
    assert!(
        server.wait_idle(BOUND),
        "the server counts the connection closed"
    );
    assert_eq!(server.stats().closed, 1);
    assert_eq!(server.stats().accepted, 1);
}

#[test]
fn a_connection_waiting_on_a_call_is_not_idle() {
    let server = server(Options::new().with_idle_timeout(Some(Duration::from_millis(100))));
    let addr = server.local_addr();
    run_local(async {
        let (conn, calc) = connect(addr).await;
        let (value, gate) = gated_call(&calc);
        let value = tokio::task::spawn_local(value);
        tokio::time::timeout(BOUND, gate.called.notified())
            .await
            .expect("called back");
        // Several idle periods pass while the server waits on our callback.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !conn.is_disconnected(),
            "closed while a call was in progress"
        );
        gate.release.notify_one();
        let value = tokio::time::timeout(BOUND, value)
            .await
            .expect("answered")
            .expect("task");
        assert_eq!(value.expect("the call completes"), 1.0);
    });
}

/// Threads of this process whose name starts with `prefix`.
fn threads_named(prefix: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with(prefix))
        .count()
}

#[test]
fn shutdown_drains_calls_in_flight_then_stops_every_thread() {
    // A name of its own: other tests run servers in this process at the same time.
    let options = Options::new()
        .with_workers(2)
        .with_drain_timeout(BOUND)
        .with_thread_name("drainwl");
    let server = server(options);
    assert_eq!(
        threads_named("drainwl-"),
        3,
        "an acceptor and two workers run"
    );
    let addr = server.local_addr();
    let trigger = server.shutdown_trigger();
    let waiter = std::thread::spawn(move || server.wait());
    run_local(async move {
        let (conn, calc) = connect(addr).await;
        let (value, gate) = gated_call(&calc);
        let value = tokio::task::spawn_local(value);
        tokio::time::timeout(BOUND, gate.called.notified())
            .await
            .expect("called back");
        trigger.shutdown();
        // New connections are refused once shutdown has begun...
        let refused = async {
            loop {
                if tokio::net::TcpStream::connect(addr).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(BOUND, refused)
            .await
            .expect("listener closed");
        // ...but the call in flight may finish.
        gate.release.notify_one();
        let value = tokio::time::timeout(BOUND, value)
            .await
            .expect("answered")
            .expect("task");
        assert_eq!(
            value.expect("the call in flight completes during the drain"),
            1.0
        );
        let reason = tokio::time::timeout(BOUND, conn.disconnected())
            .await
            .expect("then disconnected");
        assert!(matches!(reason, Disconnect::ClosedByPeer), "{reason}");
    });
    waiter.join().expect("waiter").expect("clean shutdown");
    assert_eq!(threads_named("drainwl-"), 0, "no server thread is left");
}

#[test]
fn the_drain_deadline_bounds_shutdown() {
    let server = server(Options::new().with_drain_timeout(Duration::from_millis(200)));
    let addr = server.local_addr();
    let trigger = server.shutdown_trigger();
    let waiter = std::thread::spawn(move || server.wait());
    run_local(async move {
        let (_conn, calc) = connect(addr).await;
        let (value, gate) = gated_call(&calc);
        let value = tokio::task::spawn_local(value);
        tokio::time::timeout(BOUND, gate.called.notified())
            .await
            .expect("called back");
        trigger.shutdown();
        // Never released: the deadline must end it, and the call fails instead of hanging.
        let value = tokio::time::timeout(BOUND, value)
            .await
            .expect("ended")
            .expect("task");
        let err = value.expect_err("cut off at the deadline");
        assert_eq!(err.kind, capnp::ErrorKind::Disconnected, "{err}");
    });
    waiter.join().expect("waiter").expect("clean shutdown");
}

#[test]
fn a_call_timeout_cancels_the_work_on_the_server() {
    let server = server(Options::new());
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        let (value, gate) = gated_call(&calc);
        let err = windlass::client::with_timeout(Duration::from_millis(200), value)
            .await
            .expect_err("never answered");
        assert!(
            matches!(err, CallError::Timeout(d) if d == Duration::from_millis(200)),
            "{err}"
        );
        // The server dropped its evaluation, which cancels its call into our callback.
        let deadline = tokio::time::Instant::now() + BOUND;
        while !gate.dropped.get() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "server-side work was not cancelled"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            eval(&calc, "2 * 3").await.expect("connection still fine"),
            6.0
        );
    });
}

#[test]
fn the_redaction_hook_replaces_errors_sent_to_peers() {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    let server = server(Options::new().with_error_redaction(move |e| {
        count.fetch_add(1, Ordering::Relaxed);
        assert!(
            e.extra.contains("outside a function body"),
            "the hook sees the original: {e}"
        );
        capnp::Error::failed("request rejected (details hidden)".into())
    }));
    run_local(async {
        let (_conn, calc) = connect(server.local_addr()).await;
        let mut request = calc.evaluate_request();
        request.get().init_expression().set_parameter(0);
        let err = request
            .send()
            .promise
            .await
            .map(|_| ())
            .expect_err("a bad request");
        assert!(
            err.to_string()
                .contains("request rejected (details hidden)"),
            "{err}"
        );
        assert!(!err.to_string().contains("function body"), "{err}");
        assert_eq!(
            eval(&calc, "1 + 1").await.expect("successes untouched"),
            2.0
        );
    });
    assert!(seen.load(Ordering::Relaxed) >= 1);
}

#[test]
fn a_message_over_the_size_limit_gets_overloaded_and_others_are_served() {
    let server = server(Options::new().with_max_message_bytes(64 * 1024));
    let addr = server.local_addr();
    run_local(async {
        let (_good, good) = connect(addr).await;
        let (_conn, calc) = connect(addr).await;
        let mut request = calc.evaluate_request();
        {
            let mut call = request.get().init_expression().init_call();
            let mut params = call.reborrow().init_params(20_000);
            for i in 0..20_000 {
                params.reborrow().get(i).set_literal(1.0);
            }
        }
        let err = tokio::time::timeout(BOUND, request.send().promise)
            .await
            .expect("refused, not hung")
            .map(|_| ())
            .expect_err("over the limit");
        assert_eq!(err.kind, capnp::ErrorKind::Overloaded, "{err}");
        assert!(err.to_string().contains("65536 bytes per message"), "{err}");
        assert_eq!(eval(&good, "5 - 3").await.expect("others served"), 2.0);
    });
}

#[test]
fn connections_spread_over_workers_and_count_their_traffic() {
    let server = server(Options::new().with_workers(2));
    let addr = server.local_addr();
    run_local(async {
        let mut conns = Vec::new();
        for _ in 0..4 {
            let (conn, calc) = connect(addr).await;
            assert_eq!(eval(&calc, "1 + 1").await.expect("served"), 2.0);
            conns.push((conn, calc));
        }
        // A worker counts a write once its syscall has returned, which can be just after the
        // client has read the bytes: wait for the last counts rather than race them.
        wait_until("every connection's answers are counted", || {
            server.connections().iter().all(|c| c.stats.bytes_out > 0)
        });
        let snapshot = server.connections();
        assert_eq!(snapshot.len(), 4, "{snapshot:?}");
        let workers: std::collections::BTreeSet<usize> =
            snapshot.iter().map(|c| c.worker).collect();
        assert_eq!(
            workers.len(),
            2,
            "least-loaded placement uses both workers: {snapshot:?}"
        );
        for c in &snapshot {
            assert!(
                c.stats.calls_in >= 3,
                "bootstrap, getOperator, evaluate, read: {c:?}"
            );
            assert!(
                c.stats.messages_in >= c.stats.calls_in && c.stats.bytes_in > 0,
                "{c:?}"
            );
            assert!(c.stats.messages_out > 0 && c.stats.bytes_out > 0, "{c:?}");
        }
        let client_side = conns[0].0.stats();
        assert!(
            client_side.calls_out >= 3 && client_side.bytes_in > 0,
            "{client_side:?}"
        );
    });
}

/// Outgoing messages are batched: a sequential call (`evaluate` and a pipelined `read`, then the
/// `Finish`/`Release` bookkeeping) costs about one write each way, not one per message as with
/// capnp-rpc's own two-party network. Counted, not timed.
#[test]
fn sequential_calls_cost_one_write_each_way() {
    const CALLS: u64 = 50;
    let server = server(Options::new());
    let addr = server.local_addr();
    run_local(async {
        let (conn, calc) = connect(addr).await;
        // Warm up (bootstrap, operators), then count from here.
        assert_eq!(eval(&calc, "1").await.expect("served"), 1.0);
        let client_before = conn.stats();
        let server_before = server.connections()[0].stats;
        for i in 0..CALLS {
            let got = eval(&calc, &i.to_string()).await.expect("served");
            assert_eq!(got, i as f64);
        }
        let client = conn.stats();
        let server_side = server.connections()[0].stats;
        let sent = client.messages_out - client_before.messages_out;
        let writes = client.writes - client_before.writes;
        let answered = server_side.messages_out - server_before.messages_out;
        let server_writes = server_side.writes - server_before.writes;
        assert!(sent >= 2 * CALLS, "two calls per evaluation: {sent}");
        assert!(
            answered >= 2 * CALLS,
            "two returns per evaluation: {answered}"
        );
        // A little slack for a batch split by scheduling; unbatched would be ≥ 2 × CALLS.
        assert!(
            writes <= CALLS + 5,
            "client: {writes} writes for {sent} messages"
        );
        assert!(
            server_writes <= CALLS + 5,
            "server: {server_writes} writes for {answered} messages"
        );
    });
}

#[test]
fn run_connects_calls_and_closes_in_one_go() {
    let server = server(Options::new());
    let addr = server.local_addr().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    // No LocalSet here: `run` brings its own.
    let value = runtime
        .block_on(windlass::client::run(
            &addr,
            |calc: Calculator| async move {
                let expr = calculator::parse("6 * 7").expect("valid");
                calculator::evaluate(&calc, &expr).await
            },
        ))
        .expect("one-shot");
    assert_eq!(value, 42.0);
    assert!(server.wait_idle(BOUND), "run closes its connection");
    assert_eq!(server.stats().closed, 1);
    let err = runtime
        .block_on(windlass::client::run(
            "127.0.0.1:1",
            |_: Calculator| async { Ok(()) },
        ))
        .expect_err("nothing listens on port 1");
    assert!(matches!(err, Error::Connect(_)), "{err}");
}

#[test]
fn an_idempotent_call_is_retried_once_on_a_new_connection() {
    let server = server(Options::new());
    let addr = server.local_addr().to_string();
    run_local(async move {
        let client: Reconnecting<Calculator> =
            Reconnecting::new(Connector::new(&addr), Backoff::new());
        let attempts = Rc::new(Cell::new(0));
        let value = client
            .call_idempotent(|calc| {
                let attempts = attempts.clone();
                async move {
                    attempts.set(attempts.get() + 1);
                    if attempts.get() == 1 {
                        return Err(capnp::Error::disconnected("simulated loss".into()));
                    }
                    eval(&calc, "1 + 1").await
                }
            })
            .await
            .expect("retried");
        assert_eq!((value, attempts.get()), (2.0, 2));

        // Not idempotent: not retried.
        let tries = Rc::new(Cell::new(0));
        let t = tries.clone();
        let err = client
            .call(|_| async move {
                t.set(t.get() + 1);
                Err::<(), _>(capnp::Error::disconnected("simulated loss".into()))
            })
            .await
            .expect_err("returned as is");
        assert!(
            matches!(err, Error::Rpc(ref e) if e.kind == capnp::ErrorKind::Disconnected),
            "{err}"
        );
        assert_eq!(tries.get(), 1);
    });
}

#[test]
fn a_heartbeat_notices_a_silent_peer() {
    // A peer that accepts the connection and then never answers: as a half-open connection
    // looks from the client's side.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().expect("accept");
        socket.set_read_timeout(Some(BOUND)).expect("timeout");
        let mut sink = [0u8; 4096];
        // Read (so the client's writes never block) until the client goes away.
        while matches!(std::io::Read::read(&mut socket, &mut sink), Ok(n) if n > 0) {}
    });
    run_local(async move {
        let conn = Connector::new(addr.to_string())
            .with_heartbeat(Some(Duration::from_millis(100)))
            .connect()
            .await
            .expect("TCP connects");
        let reason = tokio::time::timeout(BOUND, conn.disconnected())
            .await
            .expect("noticed");
        assert!(
            reason.to_string().contains("heartbeat unanswered"),
            "{reason}"
        );
        drop(conn);
    });
    silent.join().expect("silent peer");
}

#[test]
fn a_healthy_connection_with_a_heartbeat_stays_up() {
    let server = server(Options::new());
    let addr = server.local_addr().to_string();
    run_local(async move {
        let conn = Connector::new(&addr)
            .with_heartbeat(Some(Duration::from_millis(50)))
            .connect()
            .await
            .expect("connect");
        let calc: Calculator = conn.bootstrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(!conn.is_disconnected());
        assert!(
            conn.stats().calls_out >= 3,
            "probes were sent: {:?}",
            conn.stats()
        );
        assert_eq!(eval(&calc, "2 + 5").await.expect("served"), 7.0);
    });
}

#[test]
fn a_peer_that_never_speaks_does_not_block_others() {
    let server = server(Options::new().with_workers(1));
    let addr = server.local_addr();
    run_local(async move {
        let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
        silent
            .write_all(&[0, 0, 0])
            .await
            .expect("a partial segment table");
        let (_conn, calc) = connect(addr).await;
        assert_eq!(eval(&calc, "9 - 4").await.expect("served"), 5.0);
        let mut buf = [0u8; 1];
        assert!(
            tokio::time::timeout(Duration::from_millis(100), silent.read(&mut buf))
                .await
                .is_err(),
            "the silent peer is simply waited on"
        );
    });
}

#[test]
fn wait_idle_returns_once_every_closed_client_is_counted() {
    let server = server(Options::new().with_workers(2));
    let addr = server.local_addr();
    assert!(server.wait_idle(Duration::ZERO), "a new server is idle");
    run_local(async {
        let mut conns = Vec::new();
        for _ in 0..3 {
            let (conn, calc) = connect(addr).await;
            assert_eq!(eval(&calc, "1 + 1").await.expect("served"), 2.0);
            conns.push(conn);
        }
        for conn in conns {
            conn.close().await.expect("close");
        }
    });
    // `close().await` returned, but the server may not have counted the closes yet.
    assert!(server.wait_idle(BOUND), "{:?}", server.stats());
    let stats = server.stats();
    assert_eq!((stats.active, stats.closed), (0, 3), "{stats:?}");
}

#[test]
fn wait_idle_times_out_while_a_client_stays_connected() {
    let server = server(Options::new());
    let addr = server.local_addr();
    run_local(async {
        let (conn, calc) = connect(addr).await;
        assert_eq!(eval(&calc, "2 + 2").await.expect("served"), 4.0);
        // The connection is open and counted: the wait must give up, not report idle.
        assert!(!server.wait_idle(Duration::from_millis(50)));
        conn.close().await.expect("close");
    });
    assert!(server.wait_idle(BOUND));
}

/// With a small `--max-message-bytes`, every call is either served or refused with the size
/// message: never capnp's bare "Read limit exceeded" (a call that fits the size limit used to
/// trip the traversal limit, which was the same number of words).
#[test]
fn under_a_small_size_limit_every_call_is_served_or_refused_as_too_large() {
    for max in [200, 300, 512, 1024] {
        let server = server(Options::new().with_max_message_bytes(max));
        let addr = server.local_addr();
        run_local(async {
            let mut served = 0;
            for terms in 1..12 {
                // A fresh connection each time: a message over the limit closes the connection.
                let (_conn, calc) = connect(addr).await;
                let text = vec!["1"; terms].join(" + ");
                match eval(&calc, &text).await {
                    Ok(v) => {
                        assert_eq!(v, terms as f64);
                        served += 1;
                    }
                    Err(e) => {
                        let e = e.to_string();
                        assert!(
                            e.contains("is too large (this peer accepts at most"),
                            "max {max}, {terms} terms: {e}"
                        );
                    }
                }
            }
            assert!(served >= 1, "max {max}: the smallest calls are served");
        });
    }
}
