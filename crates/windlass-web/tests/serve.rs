//! The web listener's HTTP and WebSocket behaviour, with hand-written Cap'n Web messages (no
//! node needed): routing, the origin policy, size limits, frame types, a pipelined call.

mod common;

use common::TestServer;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use windlass_web::WebOptions;

/// Sends a raw HTTP/1.1 request and returns the whole response text.
async fn http(addr: std::net::SocketAddr, request: String) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
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

#[tokio::test]
async fn unknown_path_is_404() {
    let server = TestServer::start(WebOptions::default()).await;
    let response = http(
        server.addr,
        "GET /nope HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n".into(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn batch_pipelined_call_resolves() {
    let server = TestServer::start(WebOptions::default()).await;
    let body = [
        r#"["push",["pipeline",0,["evaluate"],[{"literal":3}]]]"#,
        r#"["push",["pipeline",1,["value","read"],[]]]"#,
        r#"["pull",2]"#,
    ]
    .join("\n");
    let response = http(server.addr, post(&body)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with(r#"["resolve",2,{"value":3}]"#),
        "{response}"
    );
    assert_eq!(server.sessions(), 1);
    server.stop().await;
}

#[tokio::test]
async fn batch_body_may_end_with_a_newline() {
    let server = TestServer::start(WebOptions::default()).await;
    let body = concat!(
        r#"["push",["pipeline",0,["evaluate"],[{"literal":5}]]]"#,
        "\n",
        r#"["push",["pipeline",1,["value","read"],[]]]"#,
        "\n",
        r#"["pull",2]"#,
        "\n",
    );
    let response = http(server.addr, post(body)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(!response.contains("abort"), "{response}");
    assert!(
        response.ends_with(r#"["resolve",2,{"value":5}]"#),
        "{response}"
    );
    // An empty line inside the body is still a malformed message.
    let body = concat!(
        r#"["push",["pipeline",0,["evaluate"],[{"literal":5}]]]"#,
        "\n\n",
        r#"["pull",1]"#,
    );
    let response = http(server.addr, post(body)).await;
    assert!(response.contains(r#"["abort",["error""#), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn batch_unknown_method_rejects_and_goes_on() {
    let server = TestServer::start(WebOptions::default()).await;
    let body = [
        r#"["push",["pipeline",0,["nope"],[]]]"#,
        r#"["pull",1]"#,
        r#"["push",["pipeline",0,["evaluate"],[{"literal":4}]]]"#,
        r#"["push",["pipeline",2,["value","read"],[]]]"#,
        r#"["pull",3]"#,
    ]
    .join("\n");
    let response = http(server.addr, post(&body)).await;
    assert!(
        response.contains(r#"["reject",1,["error","Error""#),
        "{response}"
    );
    assert!(response.contains("nope"), "{response}");
    assert!(
        response.contains(r#"["resolve",3,{"value":4}]"#),
        "{response}"
    );
    server.stop().await;
}

#[tokio::test]
async fn batch_malformed_message_aborts() {
    let server = TestServer::start(WebOptions::default()).await;
    let response = http(server.addr, post(r#"["push""#)).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#"["abort",["error""#), "{response}");
    server.stop().await;
}

#[tokio::test]
async fn batch_body_over_limit_is_413() {
    let server = TestServer::start(WebOptions::default().with_max_body_bytes(64)).await;
    let body = format!(r#"["push","{}"]"#, "x".repeat(100));
    let response = http(server.addr, post(&body)).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    server.stop().await;
}

async fn websocket(
    server: &TestServer,
    origin: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/capnweb", server.addr).into_client_request()?;
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().expect("header"));
    }
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    Ok(tokio_tungstenite::client_async(request, stream).await?.0)
}

async fn close_code(
    socket: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
) -> Option<CloseCode> {
    while let Some(frame) = socket.next().await {
        if let Ok(Message::Close(frame)) = frame {
            return frame.map(|f| f.code);
        }
    }
    None
}

#[tokio::test]
async fn websocket_pipelined_call_resolves() {
    let server = TestServer::start(WebOptions::default()).await;
    let mut socket = websocket(&server, None).await.expect("upgrade");
    for message in [
        r#"["push",["pipeline",0,["evaluate"],[{"literal":3}]]]"#,
        r#"["push",["pipeline",1,["value","read"],[]]]"#,
        r#"["pull",2]"#,
    ] {
        socket.send(Message::text(message)).await.expect("send");
    }
    let reply = socket.next().await.expect("a reply").expect("a frame");
    assert_eq!(reply, Message::text(r#"["resolve",2,{"value":3}]"#));
    server.stop().await;
}

#[tokio::test]
async fn websocket_cross_origin_refused_unless_listed() {
    let server =
        TestServer::start(WebOptions::default().with_allowed_origin("https://app.example")).await;
    let refused = websocket(&server, Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected 403, got {:?}", other.map(|_| ())),
    }
    let mut allowed = websocket(&server, Some("https://app.example"))
        .await
        .expect("listed origin");
    let push = r#"["push",["pipeline",0,["evaluate"],[{"literal":1}]]]"#;
    allowed.send(Message::text(push)).await.expect("send");
    allowed
        .send(Message::text(r#"["pull",1]"#))
        .await
        .expect("send");
    assert!(
        allowed.next().await.is_some(),
        "the listed origin gets a session"
    );
    assert_eq!(server.sessions(), 1, "the refused origin got none");
    server.stop().await;
}

#[tokio::test]
async fn websocket_binary_frame_closes_1003() {
    let server = TestServer::start(WebOptions::default()).await;
    let mut socket = websocket(&server, None).await.expect("upgrade");
    socket
        .send(Message::binary(vec![1, 2, 3]))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Unsupported));
    server.stop().await;
}

#[tokio::test]
async fn websocket_oversized_message_closes_1009() {
    let server = TestServer::start(WebOptions::default().with_max_message_bytes(1024)).await;
    let mut socket = websocket(&server, None).await.expect("upgrade");
    socket
        .send(Message::text("x".repeat(4096)))
        .await
        .expect("send");
    assert_eq!(close_code(&mut socket).await, Some(CloseCode::Size));
    server.stop().await;
}
