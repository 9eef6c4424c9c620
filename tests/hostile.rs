//! Hostile peers against a real server over real sockets: each attack is bounded in count and
//! time, and each test also shows that other clients' calls keep succeeding (or succeed again
//! within the configured timeout, where the attack holds every slot by design).

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::time::Duration;

use common::run_local;
use hostile::{bootstrap, closed_within, finish, good_call, read_abort, server, Stamp, MARK};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use windlass::server::Options;

const SLACK: Duration = Duration::from_secs(1);

/// Silent sockets hold every slot; each is closed within the handshake timeout + 1 s, and a good
/// call succeeds once they are.
#[test]
fn silent_sockets_at_the_connection_limit_are_closed_by_the_handshake_timeout() {
    let timeout = Duration::from_millis(800);
    let handle = server(
        Options::new()
            .with_max_connections(5)
            .with_handshake_timeout(timeout)
            .with_idle_timeout(Some(Duration::from_secs(30))),
    );
    let addr = handle.local_addr();
    run_local(async move {
        let mut silent = Vec::new();
        for _ in 0..5 {
            silent.push(TcpStream::connect(addr).await.expect("connect"));
        }
        for stream in &mut silent {
            let took = closed_within(stream, timeout + SLACK).await;
            assert!(
                took.is_some(),
                "a silent socket outlived the handshake timeout + 1 s"
            );
        }
        good_call(addr, Duration::from_secs(5))
            .await
            .expect("a good call once the silent sockets are gone");
    });
    assert!(handle.stats().peer_errors >= 5, "{:?}", handle.stats());
}

/// Silence before the first byte is idleness: a shorter idle timeout closes it first.
#[test]
fn silence_before_the_first_byte_counts_as_idleness() {
    let idle = Duration::from_millis(500);
    let handle = server(
        Options::new()
            .with_handshake_timeout(Duration::from_secs(30))
            .with_idle_timeout(Some(idle)),
    );
    let addr = handle.local_addr();
    run_local(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let took = closed_within(&mut stream, idle + SLACK)
            .await
            .expect("closed by the idle timeout");
        assert!(
            took >= idle - Duration::from_millis(50),
            "closed early: {took:?}"
        );
    });
}

/// Random bytes, a huge segment table and an over-limit message each end only their own
/// connection; a good call succeeds meanwhile.
#[test]
fn garbage_ends_only_the_connection_that_sent_it() {
    let handle = server(Options::new().with_max_message_bytes(64 * 1024));
    let addr = handle.local_addr();
    run_local(async move {
        let huge_table = [u32::MAX - 1, 8].map(u32::to_le_bytes).concat();
        let over_limit = [0u32, 1 << 20].map(u32::to_le_bytes).concat();
        let attacks = [
            hostile::noise(64 * 1024, 0x9e37_79b9_7f4a_7c15),
            hostile::noise(3, 7),
            huge_table,
            over_limit,
        ];
        for (i, attack) in attacks.iter().enumerate() {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            let _ = stream.write_all(attack).await;
            let good = good_call(addr, Duration::from_secs(5));
            let (closed, good) =
                futures::join!(closed_within(&mut stream, Duration::from_secs(10)), good);
            // A 3-byte fragment is a partial message: the read timeout's business, not closed.
            if attack.len() > 3 {
                assert!(closed.is_some(), "attack {i} left the connection open");
            }
            good.unwrap_or_else(|e| panic!("good call during attack {i}: {e}"));
        }
    });
}

/// Over the message size limit: the peer is told why (an Overloaded abort naming the limit).
#[test]
fn an_over_limit_message_gets_an_overloaded_abort() {
    let handle = server(Options::new().with_max_message_bytes(1024));
    let addr = handle.local_addr();
    run_local(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let header = [0u32, 4096].map(u32::to_le_bytes).concat();
        stream.write_all(&header).await.expect("write");
        let (reason, kind) = read_abort(&mut stream, Duration::from_secs(5))
            .await
            .expect("an abort");
        assert_eq!(kind, "overloaded");
        assert!(reason.contains("at most 1024 bytes"), "{reason}");
    });
}

/// A segment table over the segment limit, small in bytes (so the size check cannot catch it):
/// refused by the segment-count check, which this test fails without.
#[test]
fn a_segment_table_over_the_segment_limit_is_refused_by_name() {
    let handle = server(Options::new());
    let addr = handle.local_addr();
    run_local(async move {
        let count = windlass::framing::DEFAULT_MAX_SEGMENTS as u32 + 1;
        let mut table = vec![count - 1];
        table.extend(std::iter::repeat_n(0u32, count as usize));
        if table.len() % 2 == 1 {
            table.push(0);
        }
        let bytes: Vec<u8> = table.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(&bytes).await.expect("write");
        let (reason, _) = read_abort(&mut stream, Duration::from_secs(5))
            .await
            .expect("an abort");
        assert!(reason.contains("segments"), "{reason}");
        good_call(addr, Duration::from_secs(5))
            .await
            .expect("others are served");
    });
}

/// `Finish` for ids never asked: ignored (as capnp-rpc does), counted, and the connection goes on.
#[test]
fn finish_for_unknown_questions_is_ignored_and_counted() {
    let handle = server(Options::new());
    let addr = handle.local_addr();
    run_local(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut bytes = Vec::new();
        for id in 1000..1100 {
            bytes.extend(finish(id));
        }
        bytes.extend(bootstrap(0));
        stream.write_all(&bytes).await.expect("write");
        // The bootstrap is answered: read until a Return arrives.
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            use tokio::io::AsyncReadExt;
            let mut buf = vec![0u8; 4096];
            let n = stream.read(&mut buf).await.expect("read");
            n > 0
        })
        .await
        .expect("answered in time");
        assert!(answered, "the connection was closed");
        let conns = handle.connections();
        assert_eq!(conns.len(), 1);
        assert_eq!(conns[0].stats.unknown_finishes, 100);
    });
}

/// Repeated `Bootstrap` without `Finish` (unfinished answers): past 8 × max calls in flight
/// the connection is aborted with Overloaded; another client is served meanwhile.
#[test]
fn unfinished_questions_are_bounded() {
    let handle = server(Options::new().with_max_calls_in_flight(16));
    let addr = handle.local_addr();
    run_local(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut stamp = Stamp::new(bootstrap(MARK));
        let mut bytes = Vec::new();
        for id in 0..10_000 {
            stamp.append(id, &mut bytes);
        }
        let attack = async {
            let _ = stream.write_all(&bytes).await;
            read_abort(&mut stream, Duration::from_secs(10)).await
        };
        let (abort, good) = futures::join!(attack, good_call(addr, Duration::from_secs(5)));
        let (reason, kind) = abort.expect("an abort");
        assert_eq!(kind, "overloaded");
        assert!(reason.contains("without a Finish"), "{reason}");
        good.expect("a good call during the attack");
    });
}

/// A peer that sends (Bootstrap, Finish) pairs and never reads: the server stops reading it
/// once its queue for the peer is full (TCP backpressure), so the peer's writes stall long
/// before all of it is sent; other clients are served meanwhile.
#[test]
fn a_peer_that_never_reads_is_held_back_by_tcp() {
    let handle = server(Options::new().with_max_calls_in_flight(64));
    let addr = handle.local_addr();
    run_local(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let (mut boot, mut fin) = (Stamp::new(bootstrap(MARK)), Stamp::new(finish(MARK)));
        let chunk_pairs = 10_000u32;
        let mut sent = 0usize;
        let mut stalled = false;
        // 2,000,000 pairs ≈ 190 MB if nothing held it back.
        for chunk in 0..200u32 {
            let mut bytes = Vec::new();
            for id in chunk * chunk_pairs..(chunk + 1) * chunk_pairs {
                boot.append(id, &mut bytes);
                fin.append(id, &mut bytes);
            }
            match tokio::time::timeout(Duration::from_secs(2), stream.write_all(&bytes)).await {
                Ok(Ok(())) => sent += bytes.len(),
                Ok(Err(e)) => panic!("the server dropped the connection: {e}"),
                Err(_) => {
                    stalled = true;
                    break;
                }
            }
        }
        assert!(stalled, "sent {sent} bytes without being held back");
        assert!(sent < 64 << 20, "sent {sent} bytes before being held back");
        good_call(addr, Duration::from_secs(5))
            .await
            .expect("a good call while the peer is held back");
        // What the server read of it is bounded too: far less than was sent is still unread.
        let read = handle
            .connections()
            .iter()
            .map(|c| c.stats.bytes_in)
            .max()
            .unwrap_or(0);
        assert!(
            read < 64 << 20,
            "the server read {read} bytes of a peer that never reads"
        );
    });
}

/// A partial message stalled mid-way is closed after the read timeout.
#[test]
fn a_stalled_partial_message_is_closed_after_the_read_timeout() {
    let limit = Duration::from_millis(500);
    let handle = server(Options::new().with_read_timeout(Some(limit)));
    let addr = handle.local_addr();
    run_local(async move {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let message = bootstrap(1);
        stream
            .write_all(&message[..message.len() - 4])
            .await
            .expect("write");
        let took = closed_within(&mut stream, limit + SLACK)
            .await
            .expect("closed by the read timeout");
        assert!(
            took >= limit - Duration::from_millis(50),
            "closed early: {took:?}"
        );
    });
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use windlass::client::Connector;

    fn tls_options() -> Options {
        Options::new().with_tls(windlass::tls::dev::server().build().expect("dev config"))
    }

    fn client() -> windlass::tls::ClientTls {
        windlass::tls::dev::client().build().expect("dev client")
    }

    async fn tls_call(addr: String) -> Result<f64, String> {
        let conn = Connector::new(addr)
            .with_tls(client())
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        let calc = conn.bootstrap();
        let expr = windlass_calculator::parse("6 * 7").map_err(|e| e.to_string())?;
        windlass_calculator::evaluate(&calc, &expr)
            .await
            .map_err(|e| e.to_string())
    }

    #[test]
    fn silent_sockets_on_a_tls_server_are_closed_by_the_handshake_timeout() {
        let timeout = Duration::from_millis(800);
        let handle = server(
            tls_options()
                .with_max_connections(3)
                .with_handshake_timeout(timeout),
        );
        let addr = handle.local_addr();
        run_local(async move {
            let mut silent = Vec::new();
            for _ in 0..3 {
                silent.push(TcpStream::connect(addr).await.expect("connect"));
            }
            // One slowloris: a partial ClientHello, then nothing.
            silent[2]
                .write_all(&[0x16, 0x03, 0x01, 0x00])
                .await
                .expect("write");
            for stream in &mut silent {
                assert!(closed_within(stream, timeout + SLACK).await.is_some());
            }
            let answer = tls_call(format!("localhost:{}", addr.port())).await;
            assert_eq!(answer, Ok(42.0));
        });
    }

    /// A ClientHello whose first TCP segment is one byte is still TLS.
    #[test]
    fn a_one_byte_first_segment_is_still_tls() {
        let handle = server(tls_options());
        let upstream = handle.local_addr();
        run_local(async move {
            let proxy = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind proxy");
            let proxy_addr = proxy.local_addr().expect("addr");
            tokio::task::spawn_local(async move {
                let (mut client, _) = proxy.accept().await.expect("accept");
                let mut server = TcpStream::connect(upstream).await.expect("connect");
                server.set_nodelay(true).expect("nodelay");
                let mut first = [0u8; 1];
                use tokio::io::AsyncReadExt;
                client.read_exact(&mut first).await.expect("first byte");
                server.write_all(&first).await.expect("forward");
                // The rest only after the server has had every chance to decide on one byte.
                tokio::time::sleep(Duration::from_millis(300)).await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
            });
            let answer = tls_call(format!("localhost:{}", proxy_addr.port())).await;
            assert_eq!(answer, Ok(42.0));
        });
    }

    /// Over the limit on a TLS port, the client hears why, not a TLS error.
    #[test]
    fn over_limit_refusals_on_a_tls_port_say_so() {
        let handle = server(tls_options().with_max_connections(1));
        let addr = format!("localhost:{}", handle.local_addr().port());
        run_local(async move {
            let held = Connector::new(addr.clone())
                .with_tls(client())
                .connect()
                .await
                .expect("the first connection");
            let error = tls_call(addr.clone()).await.expect_err("refused");
            assert!(error.contains("connection limit"), "{error}");
            drop(held);
        });
        assert!(handle.stats().rejected >= 1);
    }
}
