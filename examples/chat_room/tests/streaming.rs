//! `-> stream` calls over real sockets: a slow receiver holds the sender back to the configured
//! window (the sender's memory stays bounded), a failed call fails the later ones, and dropping
//! the capability mid-stream leaves the connection working. Uses the chat room example's schema
//! (`Member.upload(chunk) -> stream`) with servers of its own.

mod common;

#[path = "../src/schema.rs"]
mod chat_room_capnp;

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chat_room_capnp::member;
use common::run_local;
use windlass::server::{ConnectionInfo, Options, Server, ServerHandle};
use windlass::Connector;

const CHUNK: usize = 8 * 1024;
const BOUND: Duration = Duration::from_secs(10);

/// A member whose `upload` waits until the test opens the gate, counting what it received, and
/// refuses the chunk numbered `fail_at`.
struct Slow {
    gate: Arc<tokio::sync::Semaphore>,
    received: Arc<AtomicU64>,
    fail_at: Option<u64>,
    seen: Cell<u64>,
}

impl member::Server for Slow {
    async fn upload(self: Rc<Self>, params: member::UploadParams) -> Result<(), capnp::Error> {
        let n = self.seen.get();
        self.seen.set(n + 1);
        let _ = params.get()?.get_chunk()?;
        let permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| capnp::Error::failed("gate closed".into()))?;
        permit.forget();
        if Some(n) == self.fail_at {
            return Err(capnp::Error::failed(format!("chunk {n} refused")));
        }
        self.received.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

struct Slowness {
    server: ServerHandle,
    gate: Arc<tokio::sync::Semaphore>,
    received: Arc<AtomicU64>,
}

fn slow_server(fail_at: Option<u64>) -> Slowness {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let received = Arc::new(AtomicU64::new(0));
    let (g, r) = (gate.clone(), received.clone());
    let server = Server::bind(
        "127.0.0.1:0",
        Options::new().with_workers(1),
        move |_: &ConnectionInfo| {
            windlass::capnp_rpc::new_client::<member::Client, _>(Slow {
                gate: g.clone(),
                received: r.clone(),
                fail_at,
                seen: Cell::new(0),
            })
            .client
        },
    )
    .expect("bind");
    Slowness {
        server,
        gate,
        received,
    }
}

/// How many `send()`s of 8 KiB chunks resolve while the receiver handles none, for `window`.
fn sends_ahead_of_a_stalled_receiver(window: usize) -> usize {
    let slow = slow_server(None);
    let addr = slow.server.local_addr().to_string();
    let gate = slow.gate.clone();
    let ahead = run_local(async move {
        let conn = Connector::new(&addr)
            .with_stream_window(window)
            .connect()
            .await
            .expect("connect");
        let member: member::Client = conn.bootstrap();
        let chunk = vec![7u8; CHUNK];
        let mut ahead = 0;
        loop {
            let mut request = member.upload_request();
            request.get().set_chunk(&chunk);
            // A send that does not resolve within the bound is the window holding us back.
            match tokio::time::timeout(Duration::from_millis(300), request.send()).await {
                Ok(sent) => {
                    sent.expect("stream call accepted");
                    ahead += 1;
                    assert!(
                        ahead < 10_000,
                        "the window never filled: memory grows without bound"
                    );
                }
                Err(_) => break,
            }
        }
        // Let everything through: the stream drains and the connection is healthy.
        gate.add_permits(1 << 20);
        let response = member.uploaded_request().send().promise.await;
        // `Slow` does not implement `uploaded`: the answer proves the connection still works.
        assert_eq!(
            response.map(drop).expect_err("unimplemented").kind,
            capnp::ErrorKind::Unimplemented
        );
        ahead
    });
    assert_eq!(
        slow.received.load(Ordering::SeqCst),
        ahead as u64 + 1,
        "every chunk sent arrived (including the one that found the window full)"
    );
    ahead
}

#[test]
fn a_slow_receiver_holds_the_sender_to_its_window() {
    let small = sends_ahead_of_a_stalled_receiver(32 * 1024);
    let large = sends_ahead_of_a_stalled_receiver(256 * 1024);
    // 8 KiB chunks (plus a few words of message each): a 32 KiB window lets about 4 ahead (plus
    // one largest message), a 256 KiB window about 32.
    assert!(
        (3..=6).contains(&small),
        "32 KiB window: {small} sends ahead"
    );
    assert!(
        (28..=36).contains(&large),
        "256 KiB window: {large} sends ahead"
    );
}

#[test]
fn a_failed_stream_call_fails_the_later_ones() {
    let slow = slow_server(Some(2));
    slow.gate.add_permits(1 << 20);
    let addr = slow.server.local_addr().to_string();
    let outcome = run_local(async move {
        let conn = windlass::client::connect(&addr).await.expect("connect");
        let member: member::Client = conn.bootstrap();
        let chunk = vec![1u8; CHUNK];
        let mut first_error = None;
        for i in 0..200 {
            let mut request = member.upload_request();
            request.get().set_chunk(&chunk);
            if let Err(e) = request.send().await {
                first_error = Some((i, e));
                break;
            }
        }
        first_error
    });
    let (at, error) = outcome.expect("the stream reports the refused chunk");
    assert!(error.to_string().contains("chunk 2 refused"), "{error}");
    assert!(at >= 2, "reported on a later send ({at})");
    assert_eq!(
        slow.received.load(Ordering::SeqCst),
        2,
        "chunks 0 and 1 arrived"
    );
}

#[test]
fn dropping_the_capability_mid_stream_is_clean() {
    let slow = slow_server(None);
    let addr = slow.server.local_addr().to_string();
    let gate = slow.gate.clone();
    run_local(async move {
        let conn = windlass::client::connect(&addr).await.expect("connect");
        let member: member::Client = conn.bootstrap();
        let chunk = vec![3u8; CHUNK];
        let mut pending = Vec::new();
        for _ in 0..20 {
            let mut request = member.upload_request();
            request.get().set_chunk(&chunk);
            pending.push(request.send());
        }
        drop(member);
        drop(pending);
        gate.add_permits(1 << 20);
        // The connection is still usable: a fresh bootstrap answers.
        let again: member::Client = conn.bootstrap();
        let mut request = again.upload_request();
        request.get().set_chunk(&chunk);
        tokio::time::timeout(BOUND, request.send())
            .await
            .expect("in time")
            .expect("a new stream on the same connection works");
        assert!(!conn.is_disconnected());
        conn.close().await.expect("clean close");
    });
    assert!(slow.server.wait_idle(BOUND));
}
