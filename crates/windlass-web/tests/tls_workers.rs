//! The web listener's https/wss (the library's `ServerTls`, the development certificates),
//! its worker threads and its counters, with hand-written Cap'n Web messages (no node needed).

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::TestServer;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use windlass::tls::{dev, ClientAuth};
use windlass_web::{Refusal, Transport, WebOptions};

/// One pipelined call: `evaluate({literal: 3}).value.read()`, answered `{"value":3}`.
const CALL: [&str; 3] = [
    r#"["push",["pipeline",0,["evaluate"],[{"literal":3}]]]"#,
    r#"["push",["pipeline",1,["value","read"],[]]]"#,
    r#"["pull",2]"#,
];
const ANSWER: &str = r#"["resolve",2,{"value":3}]"#;

fn post(body: &str) -> String {
    format!(
        "POST /capnweb HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Sends `request` on `stream` and reads the whole response (the request asks to close).
async fn exchange<S>(mut stream: S, request: &str) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// The pipelined call as one HTTP batch on `stream`; the whole response.
async fn batch_call<S>(stream: S) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    exchange(stream, &post(&CALL.join("\n"))).await
}

/// A TLS connection to the server, verified against the development CA, presenting the
/// development client certificate if `identify`.
async fn tls_connect(
    server: &TestServer,
    identify: bool,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let mut builder = dev::client();
    if identify {
        let (cert, key) = dev::client_identity();
        builder = builder.client_cert(cert, key);
    }
    let config = builder.build().expect("client tls").rustls_config();
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").expect("name");
    tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("tls handshake")
}

fn tls_options() -> WebOptions {
    WebOptions::default().with_tls(dev::server().build().expect("server tls"))
}

#[tokio::test]
async fn wss_session_with_the_development_certificates() {
    let server = TestServer::start(tls_options()).await;
    let stream = tls_connect(&server, false).await;
    let request = format!("wss://localhost:{}/capnweb", server.addr.port())
        .into_client_request()
        .expect("request");
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade over tls");
    for message in CALL {
        socket.send(Message::text(message)).await.expect("send");
    }
    let reply = socket.next().await.expect("a reply").expect("a frame");
    assert_eq!(reply, Message::text(ANSWER));
    server.stop().await;
}

#[tokio::test]
async fn https_batch_and_the_client_certificate_reach_the_factory() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let tls = dev::server()
        .client_auth(dev::ca(), ClientAuth::Optional)
        .build()
        .expect("server tls");
    let options = WebOptions::default().with_tls(tls);
    let server = TestServer::start_with(options, move |info| {
        let subject = info.peer_certificate().map(|c| c.subject().to_string());
        record
            .lock()
            .expect("lock")
            .push((info.is_tls(), info.transport(), subject));
    })
    .await;
    for identify in [true, false] {
        let response = batch_call(tls_connect(&server, identify).await).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        assert!(response.ends_with(ANSWER), "{response}");
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen
        .iter()
        .all(|(tls, transport, _)| *tls && *transport == Transport::HttpBatch));
    let subject = seen[0].2.as_deref().expect("the client certificate");
    assert!(subject.contains("CN="), "{subject}");
    assert_eq!(seen[1].2, None, "no certificate presented, none seen");
    server.stop().await;
}

#[tokio::test]
async fn plain_http_and_silence_on_a_tls_listener_are_handshake_refusals() {
    let options = tls_options().with_handshake_timeout(Duration::from_millis(300));
    let stats = options.stats();
    let server = TestServer::start(options).await;
    // Plain HTTP where TLS is expected: the handshake fails, the connection is closed.
    let mut plain = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    plain
        .write_all(post(&CALL.join("\n")).as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), plain.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the server closes a plain-HTTP connection");
    assert!(!String::from_utf8_lossy(&buf).contains("200 OK"));
    // A connection that says nothing is closed after the handshake timeout.
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let closed = tokio::time::timeout(Duration::from_secs(5), silent.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a silent connection is closed");
    // The worker counts a refusal just after it drops the connection: poll, bounded.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats.refused(Refusal::Handshake) < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats.refused(Refusal::Handshake), 2);
    // Well-behaved TLS clients are still served.
    let response = batch_call(tls_connect(&server, false).await).await;
    assert!(response.ends_with(ANSWER), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn sessions_are_spread_over_the_workers() {
    let threads = Arc::new(Mutex::new(Vec::new()));
    let record = threads.clone();
    let options = WebOptions::default().with_workers(3);
    let server = TestServer::start_with(options, move |_| {
        let name = std::thread::current().name().map(str::to_owned);
        record.lock().expect("lock").push(name);
    })
    .await;
    for _ in 0..6 {
        let stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        let response = batch_call(stream).await;
        assert!(response.ends_with(ANSWER), "{response}");
    }
    let threads = threads.lock().expect("lock").clone();
    let distinct: HashSet<_> = threads.iter().collect();
    assert_eq!(threads.len(), 6);
    assert_eq!(distinct.len(), 3, "round robin over 3 workers: {threads:?}");
    assert!(threads
        .iter()
        .all(|t| t.as_deref().is_some_and(|n| n.starts_with("windlass-web-"))));
    server.stop().await;
}

#[tokio::test]
async fn stats_count_sessions_messages_and_refusals() {
    let options = WebOptions::default();
    let stats = options.stats();
    let server = TestServer::start(options).await;
    // A WebSocket session: 3 messages in, 1 out.
    let request = format!("ws://{}/capnweb", server.addr)
        .into_client_request()
        .expect("request");
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut socket, _) = tokio_tungstenite::client_async(request, tcp)
        .await
        .expect("upgrade");
    for message in CALL {
        socket.send(Message::text(message)).await.expect("send");
    }
    assert_eq!(
        socket.next().await.expect("reply").expect("frame"),
        Message::text(ANSWER)
    );
    let open = stats.sessions(Transport::WebSocket);
    assert_eq!((open.opened, open.active), (1, 1));
    socket.close(None).await.expect("close");
    drop(socket);
    // An HTTP batch: 3 in, 1 out; a 404.
    for request in [
        post(&CALL.join("\n")),
        "GET /elsewhere HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".to_string(),
    ] {
        let stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        exchange(stream, &request).await;
    }
    // The WebSocket's end is counted when its task sees the close.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while stats.sessions(Transport::WebSocket).active > 0 && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ws = stats.sessions(Transport::WebSocket);
    assert_eq!((ws.opened, ws.active, ws.aborted), (1, 0, 0));
    assert_eq!((ws.messages_in, ws.messages_out), (3, 1));
    let batch = stats.sessions(Transport::HttpBatch);
    assert_eq!((batch.opened, batch.active, batch.aborted), (1, 0, 0));
    assert_eq!((batch.messages_in, batch.messages_out), (3, 1));
    assert_eq!(stats.refused(Refusal::BadRequest), 1);
    assert_eq!(stats.accepted(), 3);
    server.stop().await;
}
