//! Hostile peers against a real listener on 127.0.0.1: each gets its close code, HTTP status or
//! abort message, the right `WebStats` counter moves, and a well-behaved client keeps working
//! beside it. Every wait is bounded; nothing here sleeps and hopes.
//!
//! Not repeated from `tests/serve.rs`: 404, the 413 body, a malformed batch line, the binary
//! frame's 1003, the oversized message's 1009, the cross-origin 403 (only their counters here).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::TestServer;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::Message;
use windlass_web::{Refusal, Transport, WebOptions, WebStats};

type Socket = tokio_tungstenite::WebSocketStream<TcpStream>;

/// The longest any single step may take before the test fails instead of hanging.
const STEP: Duration = Duration::from_secs(10);

/// The pipelined call every well-behaved client makes: `evaluate(literal 3).value.read()`.
const CALL: [&str; 3] = [
    r#"["push",["pipeline",0,["evaluate"],[{"literal":3}]]]"#,
    r#"["push",["pipeline",1,["value","read"],[]]]"#,
    r#"["pull",2]"#,
];
const CALL_RESULT: &str = r#"["resolve",2,{"value":3}]"#;

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what}: nothing within {STEP:?}"),
    }
}

async fn websocket(addr: SocketAddr) -> Socket {
    let stream = TcpStream::connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/capnweb");
    let (socket, _) = within("upgrade", tokio_tungstenite::client_async(url, stream))
        .await
        .expect("upgrade");
    socket
}

/// The next text message, skipping pings; panics on anything else.
async fn next_text(socket: &mut Socket) -> String {
    loop {
        match within("a message", socket.next()).await {
            Some(Ok(Message::Text(text))) => return text.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// The code of the close frame the server sends next (text messages before it are skipped).
async fn close_code(socket: &mut Socket) -> Option<CloseCode> {
    loop {
        match within("a close frame", socket.next()).await {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code),
            Some(Ok(_)) => {}
            Some(Err(error)) => panic!("expected a close frame, got {error}"),
            None => return None,
        }
    }
}

/// A well-behaved client: the pipelined call over a fresh WebSocket, then over an HTTP batch.
async fn well_behaved(addr: SocketAddr) {
    let mut socket = websocket(addr).await;
    for message in CALL {
        socket.send(Message::text(message)).await.expect("send");
    }
    assert_eq!(next_text(&mut socket).await, CALL_RESULT);
    let _ = socket.close(None).await;
    let response = within("batch", http(addr, post(&CALL.join("\n")))).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(CALL_RESULT), "{response}");
}

/// Sends a raw HTTP/1.1 request and returns the whole response text.
async fn http(addr: SocketAddr, request: String) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

fn post(body: &str) -> String {
    format!(
        "POST /capnweb HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Polls `condition` on the stats until it holds or `STEP` passes.
async fn eventually(stats: &WebStats, what: &str, condition: impl Fn(&WebStats) -> bool) {
    let deadline = Instant::now() + STEP;
    while !condition(stats) {
        assert!(Instant::now() < deadline, "{what}: not within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `messages` on a fresh WebSocket and returns the abort the server answers with, after
/// checking that a policy close (1008) follows it.
async fn abort_for(addr: SocketAddr, messages: &[&str]) -> String {
    let mut socket = websocket(addr).await;
    for message in messages {
        socket.send(Message::text(*message)).await.expect("send");
    }
    let abort = next_text(&mut socket).await;
    assert!(
        abort.starts_with(r#"["abort",["error","Error","#),
        "{abort}"
    );
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Policy));
    abort
}

async fn start(options: WebOptions) -> (TestServer, WebStats) {
    let stats = options.stats();
    (TestServer::start(options).await, stats)
}

#[tokio::test]
async fn non_json_text_frame_aborts_then_closes_1008() {
    let (server, stats) = start(WebOptions::default()).await;
    let abort = abort_for(server.addr, &["hello, not json"]).await;
    assert_eq!(
        abort,
        r#"["abort",["error","Error","malformed message: message is not valid JSON"]]"#
    );
    eventually(&stats, "aborted session counted", |s| {
        s.sessions(Transport::WebSocket).aborted == 1
    })
    .await;
    well_behaved(server.addr).await;
    assert_eq!(stats.sessions(Transport::WebSocket).aborted, 1);
    server.stop().await;
}

#[tokio::test]
async fn binary_frame_is_counted_as_bad_request() {
    let (server, stats) = start(WebOptions::default()).await;
    let mut socket = websocket(server.addr).await;
    socket
        .send(Message::binary(b"[\"pull\",1]".to_vec()))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Unsupported));
    assert_eq!(stats.refused(Refusal::BadRequest), 1);
    well_behaved(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_text_frame_closes_1007() {
    let (server, stats) = start(WebOptions::default()).await;
    let mut socket = websocket(server.addr).await;
    let frame = Frame::message(vec![b'[', 0xff, 0xfe, b']'], OpCode::Data(Data::Text), true);
    socket.send(Message::Frame(frame)).await.expect("send");
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Invalid));
    assert_eq!(stats.refused(Refusal::BadRequest), 1);
    well_behaved(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn websocket_protocol_violation_closes_1002() {
    let (server, stats) = start(WebOptions::default()).await;
    let mut socket = websocket(server.addr).await;
    // Opcode 3 is reserved (RFC 6455 5.2).
    let frame = Frame::message(b"[]".to_vec(), OpCode::Data(Data::Reserved(3)), true);
    socket.send(Message::Frame(frame)).await.expect("send");
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Protocol));
    assert_eq!(stats.refused(Refusal::BadRequest), 1);
    well_behaved(server.addr).await;
    server.stop().await;
}

/// 10,000 nested arrays: refused on the raw text, before any parser recurses.
#[tokio::test]
async fn deep_nesting_aborts_naming_the_depth() {
    let (server, stats) = start(WebOptions::default()).await;
    let deep = format!(r#"["push",{}{}]"#, "[".repeat(10_000), "]".repeat(10_000));
    let expected =
        r#"["abort",["error","Error","malformed message: message nested deeper than 64 levels"]]"#;
    assert_eq!(abort_for(server.addr, &[&deep]).await, expected);
    let body = format!("{}\n{deep}\n{}", CALL[0], CALL[2]);
    let response = within("batch", http(server.addr, post(&body))).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(expected), "{response}");
    eventually(&stats, "both aborts counted", |s| {
        s.sessions(Transport::WebSocket).aborted == 1
            && s.sessions(Transport::HttpBatch).aborted == 1
    })
    .await;
    well_behaved(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn unknown_import_in_a_pipeline_aborts() {
    let (server, stats) = start(WebOptions::default()).await;
    let abort = abort_for(
        server.addr,
        &[r#"["push",["pipeline",99,["evaluate"],[{"literal":1}]]]"#],
    )
    .await;
    assert_eq!(
        abort,
        r#"["abort",["error","Error","call on unknown export 99"]]"#
    );
    // An unknown id nested in a call's arguments is the same violation.
    let nested = concat!(
        r#"["push",["pipeline",0,["evaluate"],"#,
        r#"[{"call":{"function":["import",7],"params":[[]]}}]]]"#
    );
    let abort = abort_for(server.addr, &[nested]).await;
    assert!(abort.contains("unknown export 7"), "{abort}");
    eventually(&stats, "aborts counted", |s| {
        s.sessions(Transport::WebSocket).aborted == 2
    })
    .await;
    well_behaved(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn pull_of_an_unknown_id_aborts() {
    let (server, stats) = start(WebOptions::default()).await;
    let abort = abort_for(server.addr, &[r#"["pull",5]"#]).await;
    assert!(abort.contains("pull of unknown export 5"), "{abort}");
    let response = within("batch", http(server.addr, post(r#"["pull",5]"#))).await;
    assert!(
        response.ends_with(r#"["abort",["error","Error","pull of unknown export 5"]]"#),
        "{response}"
    );
    eventually(&stats, "aborts counted", |s| {
        s.sessions(Transport::WebSocket).aborted == 1
            && s.sessions(Transport::HttpBatch).aborted == 1
    })
    .await;
    well_behaved(server.addr).await;
    server.stop().await;
}

#[tokio::test]
async fn release_of_an_unknown_id_aborts() {
    let (server, stats) = start(WebOptions::default()).await;
    let abort = abort_for(server.addr, &[r#"["release",42,1]"#]).await;
    assert!(abort.contains("release of unknown export 42"), "{abort}");
    // Releasing more references than were introduced is caught too.
    let abort = abort_for(server.addr, &[CALL[0], r#"["release",1,2]"#]).await;
    assert!(
        abort.contains("release of export 1 by 2, but it has 1"),
        "{abort}"
    );
    eventually(&stats, "aborts counted", |s| {
        s.sessions(Transport::WebSocket).aborted == 2
    })
    .await;
    well_behaved(server.addr).await;
    server.stop().await;
}

/// capnweb ignores a resolution of something it no longer awaits (the race with a release makes
/// that legitimate), and so does the server: no abort, the session goes on.
#[tokio::test]
async fn resolve_or_reject_of_an_unknown_export_is_ignored() {
    let (server, stats) = start(WebOptions::default()).await;
    let mut socket = websocket(server.addr).await;
    for message in [
        r#"["resolve",-3,{"value":1}]"#,
        r#"["reject",-4,["error","Error","no"]]"#,
    ]
    .into_iter()
    .chain(CALL)
    {
        socket.send(Message::text(message)).await.expect("send");
    }
    assert_eq!(next_text(&mut socket).await, CALL_RESULT);
    let _ = socket.close(None).await;
    eventually(&stats, "session closed", |s| {
        s.sessions(Transport::WebSocket).active == 0
    })
    .await;
    assert_eq!(stats.sessions(Transport::WebSocket).aborted, 0);
    server.stop().await;
}

/// 20,000 pushes and no pulls: the table limit (100 here) is what bounds the session's memory;
/// push 101 aborts it while another client is served.
#[tokio::test]
async fn flood_of_pushes_without_pulls_hits_the_table_limit() {
    let (server, stats) = start(WebOptions::default().with_max_table_entries(100)).await;
    let socket = websocket(server.addr).await;
    let (mut sink, mut stream) = socket.split();
    let flood = tokio::spawn(async move {
        let push = r#"["push",["pipeline",0,["evaluate"],[{"literal":1}]]]"#;
        let mut sent = 0u32;
        for _ in 0..20_000 {
            // The server closes once it has aborted; what it no longer reads is not our concern.
            if sink.feed(Message::text(push)).await.is_err() {
                break;
            }
            sent += 1;
        }
        let _ = sink.flush().await;
        sent
    });
    well_behaved(server.addr).await;
    let abort = loop {
        match within("the abort", stream.next()).await {
            Some(Ok(Message::Text(text))) => break text.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected the abort, got {other:?}"),
        }
    };
    assert_eq!(
        abort,
        r#"["abort",["error","Error","too many live entries (limit 100): release some"]]"#
    );
    let closed = loop {
        match within("the close", stream.next()).await {
            Some(Ok(Message::Close(frame))) => break frame.map(|f| f.code),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => break None,
        }
    };
    assert_eq!(closed, Some(CloseCode::Policy));
    let sent = within("the flood", flood).await.expect("flood task");
    assert!(sent > 100, "only {sent} pushes went out");
    eventually(&stats, "abort counted", |s| {
        s.sessions(Transport::WebSocket).aborted == 1
    })
    .await;
    well_behaved(server.addr).await;
    server.stop().await;
}

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// 1,000 completed upgrades that never send a frame: a normal client is served while they are
/// open, one connection over the limit is closed at accept, and after the idle timeout each
/// idle socket gets 1001 and the connection count falls back to zero.
#[tokio::test]
async fn thousand_idle_websockets_time_out_with_1001() {
    const IDLE: usize = 1_000;
    // Client and server ends of every socket live in this process.
    if let Some(limit) = open_files_limit() {
        assert!(
            limit >= 2 * IDLE as u64 + 100,
            "open-file limit {limit} is too low for {IDLE} sockets: raise `ulimit -n` to {}",
            2 * IDLE + 100
        );
    }
    let idle_timeout = Duration::from_secs(4);
    let options = WebOptions::default()
        .with_max_connections(IDLE + 1)
        .with_idle_timeout(idle_timeout);
    let (server, stats) = start(options).await;
    let opening = Instant::now();
    let mut sockets = Vec::with_capacity(IDLE);
    for _ in 0..IDLE {
        sockets.push(websocket(server.addr).await);
    }
    let opened_in = opening.elapsed();
    assert!(
        opened_in < idle_timeout,
        "opening {IDLE} sockets took {opened_in:?}, longer than the idle timeout"
    );
    assert_eq!(stats.active_connections(), IDLE as u64);

    // A well-behaved client takes the last permit and is served while the idle ones are open.
    let mut socket = websocket(server.addr).await;
    for message in CALL {
        socket.send(Message::text(message)).await.expect("send");
    }
    assert_eq!(next_text(&mut socket).await, CALL_RESULT);
    // One more is over the limit: accepted and closed at once, before any HTTP.
    let mut over = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = [0u8; 64];
    let read = within("the refused connection", over.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert_eq!(stats.refused(Refusal::Limit), 1);
    let _ = socket.close(None).await;
    drop(socket);

    // Every idle socket is closed by the idle timeout; a sample checks the code.
    for (index, socket) in sockets.iter_mut().enumerate().step_by(50) {
        let code = tokio::time::timeout(idle_timeout + STEP, close_code(socket)).await;
        assert_eq!(code, Ok(Some(CloseCode::Away)), "idle socket {index}");
    }
    eventually(&stats, "every connection closed", |s| {
        s.active_connections() == 0
    })
    .await;
    assert_eq!(stats.sessions(Transport::WebSocket).opened, IDLE as u64 + 1);
    drop(sockets);
    well_behaved(server.addr).await;
    server.stop().await;
}

/// Writes `bytes` one at a time, `pause` apart, until the peer closes; returns when it did
/// (or after the last byte).
async fn trickle(stream: &mut TcpStream, bytes: &[u8], pause: Duration) -> Instant {
    for byte in bytes {
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        let mut probe = [0u8; 1024];
        let read = tokio::time::timeout(pause, stream.read(&mut probe)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            break;
        }
    }
    Instant::now()
}

/// A request head one byte per 200 ms: cut off at the handshake timeout (1 s), no response.
#[tokio::test]
async fn slowloris_request_head_is_cut_off() {
    let options = WebOptions::default().with_handshake_timeout(Duration::from_secs(1));
    let (server, stats) = start(options).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let started = Instant::now();
    let head = "POST /capnweb HTTP/1.1\r\nhost: localhost\r\ncontent-length: 2\r\n\r\n";
    let (ended, ()) = tokio::join!(
        trickle(&mut stream, head.as_bytes(), Duration::from_millis(200)),
        well_behaved(server.addr)
    );
    let took = ended - started;
    assert!(
        took < Duration::from_secs(4),
        "the slow head held its connection for {took:?}"
    );
    eventually(&stats, "timeout counted", |s| {
        s.refused(Refusal::Timeout) == 1
    })
    .await;
    // A connection that sends nothing at all is closed at the same deadline.
    let mut silent = TcpStream::connect(server.addr).await.expect("connect");
    let mut buf = [0u8; 16];
    let read = within("the silent connection", silent.read(&mut buf)).await;
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.stop().await;
}

/// A body one byte per 200 ms: 408 `request body too slow` at the idle timeout (1 s).
#[tokio::test]
async fn slowloris_request_body_gets_408() {
    let options = WebOptions::default().with_idle_timeout(Duration::from_secs(1));
    let (server, stats) = start(options).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    let body = CALL.join("\n");
    let head = format!(
        "POST /capnweb HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let slow = async {
        let mut response = Vec::new();
        for byte in body.bytes() {
            let _ = stream.write_all(&[byte]).await;
            let mut chunk = [0u8; 1024];
            if let Ok(Ok(n)) =
                tokio::time::timeout(Duration::from_millis(200), stream.read(&mut chunk)).await
            {
                response.extend_from_slice(&chunk[..n]);
                if n == 0 || response.ends_with(b"request body too slow") {
                    break;
                }
            }
        }
        String::from_utf8_lossy(&response).into_owned()
    };
    let (response, ()) = tokio::join!(slow, well_behaved(server.addr));
    assert!(
        response.starts_with("HTTP/1.1 408"),
        "after {:?}: {response}",
        started.elapsed()
    );
    assert!(response.ends_with("request body too slow"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(stats.refused(Refusal::Timeout), 1);
    server.stop().await;
}

/// The size limits of `tests/serve.rs`, for their counter: both are `Refusal::TooLarge`.
#[tokio::test]
async fn oversized_message_and_body_count_as_too_large() {
    let options = WebOptions::default()
        .with_max_message_bytes(1024)
        .with_max_body_bytes(1024);
    let (server, stats) = start(options).await;
    let mut socket = websocket(server.addr).await;
    socket
        .send(Message::text(format!(r#"["push","{}"]"#, "x".repeat(4096))))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Size));
    let body = format!(r#"["push","{}"]"#, "x".repeat(4096));
    let response = within("batch", http(server.addr, post(&body))).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert_eq!(stats.refused(Refusal::TooLarge), 2);
    well_behaved(server.addr).await;
    server.stop().await;
}
