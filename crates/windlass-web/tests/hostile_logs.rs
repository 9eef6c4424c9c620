//! A flood of refused requests is a few log lines, every one counted. Its own test binary: the
//! listener logs on its worker threads, so the counting subscriber must be the global one.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestServer;
use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;
use tracing_subscriber::layer::{Context, SubscriberExt};
use windlass_web::{Refusal, WebOptions};

/// Counts the WARN events of windlass-web.
#[derive(Clone, Default)]
struct WarnCount(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WarnCount {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::WARN && meta.target().starts_with("windlass_web") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

const REFUSED: u64 = 500;

#[tokio::test]
async fn five_hundred_refusals_are_a_few_warn_lines() {
    let warns = WarnCount::default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(warns.clone()))
        .expect("the only subscriber of this binary");
    let options = WebOptions::default().with_allowed_origin("https://app.example");
    let stats = options.stats();
    let server = TestServer::start(options).await;
    let started = Instant::now();
    let request = "POST /capnweb HTTP/1.1\r\nhost: localhost\r\norigin: https://evil.example\r\n\
                   content-length: 0\r\nconnection: close\r\n\r\n";
    for _ in 0..REFUSED {
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut response));
        let _ = read.await.expect("a response within 10 s");
        assert!(response.starts_with(b"HTTP/1.1 403"));
    }
    let took = started.elapsed();
    assert_eq!(stats.refused(Refusal::Origin), REFUSED);
    // LogBudget: the first at once, then one line a second.
    assert!(
        took < Duration::from_secs(4),
        "{REFUSED} refusals took {took:?}"
    );
    let lines = warns.0.load(Ordering::SeqCst);
    assert!(
        lines <= 5,
        "{REFUSED} refusals in {took:?} logged {lines} WARN lines"
    );
    assert!(lines >= 1, "the first refusal is logged");

    // The listed origin is still served meanwhile.
    let url = format!("ws://{}/capnweb", server.addr);
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url)
            .expect("request");
    request.headers_mut().insert(
        "origin",
        "https://app.example".parse().expect("header value"),
    );
    let stream = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let (mut socket, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .expect("upgrade");
    for message in [
        r#"["push",["pipeline",0,["evaluate"],[{"literal":3}]]]"#,
        r#"["push",["pipeline",1,["value","read"],[]]]"#,
        r#"["pull",2]"#,
    ] {
        socket.send(Message::text(message)).await.expect("send");
    }
    let reply = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("a reply within 10 s");
    assert_eq!(
        reply.expect("a frame").expect("a message"),
        Message::text(r#"["resolve",2,{"value":3}]"#)
    );
    server.stop().await;
}
