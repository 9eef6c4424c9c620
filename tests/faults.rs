//! Faults: a network that silently drops everything (blackhole), a client that dies mid-call,
//! a server that is down for a while and comes back on the same port. (A server SIGKILLed with
//! calls in flight: `crates/windlass-calc/tests/kill.rs`.)

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{connect, eval, gated_call, run_local};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use windlass::client::{Backoff, Connector, Reconnecting};
use windlass::server::{Options, ServerHandle};
use windlass_calculator::{self as calculator, Calculator};

fn server_on(addr: &str) -> ServerHandle {
    windlass::Server::bind(addr, Options::new().with_workers(1), |_| {
        calculator::new_client().client
    })
    .expect("spawn")
}

/// A proxy that forwards both ways until its switch is thrown, then swallows every byte: no
/// FIN, no RST, as a dead route or a crashed middlebox looks.
struct Blackhole {
    addr: SocketAddr,
    swallow: Arc<AtomicBool>,
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    swallow: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        if !swallow.load(Relaxed) && to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    // Keep `to` open: a blackhole sends no FIN.
    if swallow.load(Relaxed) {
        std::future::pending::<()>().await;
    }
}

impl Blackhole {
    async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let swallow = Arc::new(AtomicBool::new(false));
        let flag = swallow.clone();
        tokio::task::spawn_local(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = TcpStream::connect(upstream).await.expect("upstream");
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::task::spawn_local(pump(cr, sw, flag.clone()));
                tokio::task::spawn_local(pump(sr, cw, flag.clone()));
            }
        });
        Blackhole { addr, swallow }
    }
}

#[test]
fn a_heartbeat_detects_a_blackhole_within_about_two_intervals() {
    let server = server_on("127.0.0.1:0");
    let upstream = server.local_addr();
    let interval = Duration::from_millis(200);
    run_local(async move {
        let proxy = Blackhole::start(upstream).await;
        let conn = Connector::new(proxy.addr.to_string())
            .with_heartbeat(Some(interval))
            .connect()
            .await
            .expect("connect through the proxy");
        let calc: Calculator = conn.bootstrap();
        assert_eq!(eval(&calc, "2 + 2").await.expect("through the proxy"), 4.0);
        proxy.swallow.store(true, Relaxed);
        let start = Instant::now();
        let reason = tokio::time::timeout(Duration::from_secs(10), conn.disconnected())
            .await
            .expect("the blackhole is noticed");
        let took = start.elapsed();
        assert!(reason.to_string().contains("heartbeat"), "{reason}");
        assert!(
            took <= 3 * interval + Duration::from_millis(400),
            "noticed after {took:?}"
        );
    });
}

#[test]
fn a_client_that_dies_mid_call_leaves_the_server_at_its_baseline() {
    let server = server_on("127.0.0.1:0");
    let addr = server.local_addr();
    let baseline = server.stats();
    // The client runs on a thread of its own whose runtime is dropped mid-call: its sockets
    // close as a killed process's do.
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, async move {
            let (_conn, calc) = connect(addr).await;
            let (value, gate) = gated_call(&calc);
            let _pending = tokio::task::spawn_local(value);
            gate.called.notified().await;
            // The server is now waiting on our callback: die here.
        });
        drop(local);
        drop(runtime);
    })
    .join()
    .expect("client thread");
    assert!(
        server.wait_idle(Duration::from_secs(10)),
        "the connection was not closed"
    );
    let after = server.stats();
    assert_eq!(after.active, baseline.active);
    assert_eq!(after.accepted, 1);
    assert_eq!(after.closed, 1);
    assert!(server.connections().is_empty());
}

#[test]
fn reconnecting_resumes_after_the_server_comes_back_and_gives_up_after_max_attempts() {
    let first = server_on("127.0.0.1:0");
    let addr = first.local_addr();
    run_local(async move {
        let client: Reconnecting<Calculator> = Reconnecting::new(
            Connector::new(addr.to_string()),
            Backoff::new()
                .with_initial(Duration::from_millis(50))
                .with_max_delay(Duration::from_millis(200))
                .with_max_attempts(40),
        );
        let calc = client.client().await.expect("connected");
        assert_eq!(eval(&calc, "1 + 1").await.expect("served"), 2.0);
        // A real broken connection: the server goes away.
        std::thread::spawn(move || first.shutdown())
            .join()
            .expect("join")
            .expect("shutdown");
        assert!(
            eval(&calc, "1 + 1").await.is_err(),
            "the old connection is gone"
        );
        // Down for a while, then back on the same port, while the client retries.
        let back = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500));
            server_on(&addr.to_string())
        });
        let start = Instant::now();
        let calc = client
            .client()
            .await
            .expect("reconnected after the restart");
        assert!(
            start.elapsed() >= Duration::from_millis(400),
            "reconnected to nothing?"
        );
        assert_eq!(eval(&calc, "2 + 3").await.expect("served again"), 5.0);
        let second = back.join().expect("restart");
        drop(calc);
        std::thread::spawn(move || second.shutdown())
            .join()
            .expect("join")
            .expect("shutdown");

        // Down for good: the backoff loop gives up after its attempts.
        let gives_up: Reconnecting<Calculator> = Reconnecting::new(
            Connector::new(addr.to_string()),
            Backoff::new()
                .with_initial(Duration::from_millis(10))
                .with_max_delay(Duration::from_millis(20))
                .with_max_attempts(3),
        );
        let start = Instant::now();
        assert!(gives_up.client().await.is_err(), "no server, yet connected");
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}
