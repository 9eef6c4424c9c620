//! Running behind a load balancer, on loopback: PROXY protocol v1/v2 from trusted sources only
//! (plain and TLS), the admin endpoint's health, readiness and metrics, and client failover over
//! a pool of addresses. The real HAProxy test is crates/windlass-calc/tests/haproxy.rs.

mod common;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::Duration;

use common::run_local;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use windlass::client::{Backoff, Reconnecting};
use windlass::server::{ConnectionInfo, Options, ProxyProtocol, Server, ServerHandle};
use windlass::Connector;
use windlass_calculator::{self as calculator, Calculator, Expr};

/// A server whose bootstrap factory reports each connection's (peer, proxy).
fn reporting_server(
    options: Options,
) -> (
    ServerHandle,
    mpsc::Receiver<(SocketAddr, Option<SocketAddr>)>,
) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::bind(
        "127.0.0.1:0",
        options.with_workers(2),
        move |info: &ConnectionInfo| {
            if let Ok(tx) = tx.lock() {
                let peer = info.peer().expect("a TCP peer has an address");
                let _ = tx.send((peer, info.proxy()));
            }
            calculator::new_client().client
        },
    )
    .expect("server");
    (server, rx)
}

/// What HAProxy does with `send-proxy[-v2]`: accepts, connects to `backend`, writes `header`,
/// then relays both ways. Serves connections until the test ends.
async fn proxy(backend: SocketAddr, header: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    tokio::task::spawn_local(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let header = header.clone();
            tokio::task::spawn_local(async move {
                let Ok(mut server) = TcpStream::connect(backend).await else {
                    return;
                };
                if server.write_all(&header).await.is_ok() {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    addr
}

fn v2_header(client: SocketAddr) -> Vec<u8> {
    // Built by hand from the specification (not by the parser crate under test): signature,
    // PROXY command, TCP over IPv4, 12 address bytes, then a 4-byte NOOP TLV.
    let SocketAddr::V4(v4) = client else {
        panic!("v4 only")
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 16]);
    h.extend_from_slice(&v4.ip().octets());
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&v4.port().to_be_bytes());
    h.extend_from_slice(&4000u16.to_be_bytes());
    h.extend_from_slice(&[0x04, 0, 1, 0]);
    h
}

async fn add(addr: &str, connector: Option<Connector>) -> Result<f64, windlass::Error> {
    let connector = connector.unwrap_or_else(|| Connector::new(addr));
    connector
        .run(|calc: Calculator| async move {
            calculator::evaluate(&calc, &calculator::parse("40 + 2").expect("valid")).await
        })
        .await
}

fn trusting_loopback() -> Options {
    Options::new()
        .with_proxy_protocol(ProxyProtocol::new().trust("127.0.0.0/8".parse().expect("cidr")))
}

#[test]
fn the_factory_sees_the_client_named_by_a_v1_or_v2_header_from_a_trusted_proxy() {
    let (server, seen) = reporting_server(trusting_loopback());
    let backend = server.local_addr();
    run_local(async move {
        for (header, client) in [
            (
                v2_header("10.77.9.2:40001".parse().expect("addr")),
                "10.77.9.2:40001",
            ),
            (
                b"PROXY TCP4 10.77.9.3 127.0.0.1 40002 4000\r\n".to_vec(),
                "10.77.9.3:40002",
            ),
            (
                b"PROXY TCP6 fd77::3 ::1 40003 4000\r\n".to_vec(),
                "[fd77::3]:40003",
            ),
        ] {
            let front = proxy(backend, header).await;
            assert_eq!(
                add(&front.to_string(), None)
                    .await
                    .expect("call through the proxy"),
                42.0
            );
            let (peer, via) = seen
                .recv_timeout(Duration::from_secs(5))
                .expect("factory ran");
            assert_eq!(peer, client.parse::<SocketAddr>().expect("addr"));
            assert_eq!(via.map(|a| a.ip()), Some("127.0.0.1".parse().expect("ip")));
        }
    });
    assert_eq!(server.refusals().proxy_untrusted, 0);
    server.shutdown().expect("shutdown");
}

#[test]
fn headers_from_untrusted_sources_and_missing_headers_are_refused() {
    let options = Options::new()
        .with_proxy_protocol(ProxyProtocol::new().trust("10.77.0.0/16".parse().expect("cidr")));
    let (server, seen) = reporting_server(options);
    let backend = server.local_addr();
    run_local(async move {
        let front = proxy(backend, v2_header("10.77.9.2:40001".parse().expect("addr"))).await;
        let error = add(&front.to_string(), None).await.expect_err("refused");
        assert!(error.to_string().contains("not a trusted proxy"), "{error}");
    });
    let trusted = trusting_loopback().with_handshake_timeout(Duration::from_millis(300));
    let (other, _) = reporting_server(trusted);
    let addr = other.local_addr().to_string();
    run_local(async move {
        // A plain client sends Cap'n Proto, not a header: refused as invalid.
        let error = add(&addr, None).await.expect_err("refused");
        assert!(error.to_string().contains("PROXY"), "{error}");
        // A trusted peer that sends nothing: refused when the handshake timeout passes.
        let mut silent = TcpStream::connect(&addr).await.expect("connect");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "closed by the server");
    });
    assert!(
        seen.try_recv().is_err(),
        "no refused connection reached the factory"
    );
    assert_eq!(server.refusals().proxy_untrusted, 1);
    assert_eq!(other.refusals().proxy_invalid, 1);
    assert_eq!(other.refusals().proxy_timeout, 1);
    server.shutdown().expect("shutdown");
    other.shutdown().expect("shutdown");
}

#[cfg(feature = "tls")]
#[test]
fn tls_works_behind_the_proxy() {
    let tls = windlass::tls::dev::server().build().expect("tls");
    let (server, seen) = reporting_server(trusting_loopback().with_tls(tls));
    let backend = server.local_addr();
    run_local(async move {
        let front = proxy(
            backend,
            b"PROXY TCP4 10.77.9.4 127.0.0.1 40004 4000\r\n".to_vec(),
        )
        .await;
        let client = windlass::tls::dev::client()
            .server_name("localhost")
            .build()
            .expect("tls");
        let connector = Connector::new(front.to_string()).with_tls(client);
        assert_eq!(
            add("", Some(connector))
                .await
                .expect("TLS call through the proxy"),
            42.0
        );
        let (peer, _) = seen
            .recv_timeout(Duration::from_secs(5))
            .expect("factory ran");
        assert_eq!(peer, "10.77.9.4:40004".parse::<SocketAddr>().expect("addr"));
    });
    server.shutdown().expect("shutdown");
}

/// One HTTP/1.0 GET: (status, body).
#[cfg(feature = "admin")]
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect admin");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).await.expect("read");
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[cfg(feature = "admin")]
fn metric(text: &str, line_start: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
}

#[cfg(feature = "admin")]
#[test]
fn the_admin_endpoint_reports_health_readiness_and_metrics() {
    let options = Options::new().with_admin("127.0.0.1:0".parse().expect("addr"));
    let (server, _seen) = reporting_server(options);
    let admin = server.admin_addr().expect("admin address");
    let addr = server.local_addr().to_string();
    let trigger = server.shutdown_trigger();
    run_local(async move {
        assert_eq!(get(admin, "/healthz").await.0, 200);
        assert_eq!(get(admin, "/readyz").await.0, 200);
        assert_eq!(get(admin, "/nope").await.0, 404);
        let conn = windlass::client::connect(&addr).await.expect("connect");
        let calc: Calculator = conn.bootstrap();
        for i in 0..20 {
            let v = calculator::evaluate(&calc, &Expr::Number(f64::from(i)))
                .await
                .expect("call");
            assert_eq!(v, f64::from(i));
        }
        let (status, text) = get(admin, "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            metric(&text, "windlass_calls_received_total") >= 20.0,
            "{text}"
        );
        assert!(
            metric(&text, "windlass_call_duration_seconds_count") >= 20.0,
            "{text}"
        );
        assert_eq!(metric(&text, "windlass_connections_active"), 1.0);
        assert_eq!(metric(&text, "windlass_ready"), 1.0);
        assert!(
            text.contains(
                "windlass_connection_calls_received_total{conn_id=\"1\",peer=\"127.0.0.1:"
            ),
            "{text}"
        );
        assert!(
            text.contains("windlass_connections_refused_total{reason=\"limit\"} 0"),
            "{text}"
        );
        // An unknown method: counted as an error of kind unimplemented.
        let probe = calc
            .client
            .new_call::<capnp::any_pointer::Owned, capnp::any_pointer::Owned>(0x1234, 0, None);
        let _ = probe.send().promise.await;
        let bytes_before = metric(&text, "windlass_bytes_received_total");
        drop(calc);
        conn.close().await.expect("close");
        trigger.mark_unready();
        assert_eq!(
            get(admin, "/readyz").await.0,
            503,
            "not ready once shutdown begins"
        );
        assert_eq!(get(admin, "/healthz").await.0, 200, "still alive");
        let (_, text) = get(admin, "/metrics").await;
        assert_eq!(metric(&text, "windlass_ready"), 0.0);
        assert_eq!(
            metric(&text, "windlass_call_errors_total{kind=\"unimplemented\"}"),
            1.0
        );
        assert!(
            metric(&text, "windlass_bytes_received_total") >= bytes_before,
            "totals survive the close"
        );
    });
    server.shutdown().expect("shutdown");
}

#[test]
fn a_pool_connector_skips_dead_addresses_and_reconnecting_moves_on() {
    // A port nothing listens on, held so that neither server below can be given it.
    let (_held, dead) = common::refusing_address();
    let a = common::calculator_server();
    let b = common::calculator_server();
    let (a_addr, b_addr) = (a.local_addr(), b.local_addr());
    let connector =
        Connector::new_multi([dead.to_string(), a_addr.to_string(), b_addr.to_string()])
            .with_connect_timeout(Duration::from_secs(2));
    let (tx, rx) = mpsc::channel();
    run_local(async move {
        let client: Reconnecting<Calculator> = Reconnecting::new(
            connector,
            Backoff::new().with_initial(Duration::from_millis(10)),
        )
        .on_connect(move |addr| {
            let _ = tx.send(addr);
        });
        let one =
            |calc: Calculator| async move { calculator::evaluate(&calc, &Expr::Number(1.0)).await };
        assert_eq!(client.call(one).await.expect("first call"), 1.0);
        // Stop A off this thread (shutdown blocks while this LocalSet answers the disconnect);
        // the next call notices the loss and moves on to B.
        let stopped = tokio::task::spawn_blocking(move || a.shutdown()).await;
        stopped.expect("join").expect("shutdown");
        let again = client.call_idempotent(one).await;
        assert_eq!(again.expect("call after failover"), 1.0);
    });
    let reached: Vec<SocketAddr> = rx.try_iter().flatten().collect();
    assert_eq!(
        reached,
        [a_addr, b_addr],
        "the dead address was skipped, then B after A"
    );
    b.shutdown().expect("shutdown");
}
