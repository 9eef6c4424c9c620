//! Helpers for the hostile-peer tests: servers, good calls that must keep succeeding, raw RPC
//! messages built with capnp-rpc's own schema.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use windlass::capnp_rpc::rpc_capnp::{exception, message};
use windlass::server::{Options, ServerHandle};
use windlass_calculator as calculator;

/// A Calculator server with `options`, one worker so attacks and good calls share it.
pub fn server(options: Options) -> ServerHandle {
    windlass::Server::bind("127.0.0.1:0", options.with_workers(1), |_| {
        calculator::new_client().client
    })
    .expect("spawn")
}

/// One good call on a fresh connection, bounded by `limit`: `Ok` if it returned the right
/// answer.
pub async fn good_call(addr: SocketAddr, limit: Duration) -> Result<(), String> {
    let call = async {
        let conn = windlass::client::connect(&addr.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let calc = conn.bootstrap();
        let expr = calculator::parse("6 * 7").map_err(|e| e.to_string())?;
        let value = calculator::evaluate(&calc, &expr)
            .await
            .map_err(|e| e.to_string())?;
        let _ = conn.close().await;
        if value == 42.0 {
            Ok(())
        } else {
            Err(format!("wrong answer {value}"))
        }
    };
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {limit:?}")))
}

/// Good calls, one after another on fresh connections, until `until`: (succeeded, tried).
pub async fn good_calls_until(addr: SocketAddr, until: Instant) -> (usize, usize) {
    let (mut ok, mut tried) = (0, 0);
    while Instant::now() < until {
        tried += 1;
        if good_call(addr, Duration::from_secs(2)).await.is_ok() {
            ok += 1;
        }
    }
    (ok, tried)
}

/// Waits until the server closes `stream` (end of stream or reset), discarding what it sends;
/// returns how long that took, or `None` if it stays open past `limit`.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let wait = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .ok()
        .map(|()| start.elapsed())
}

/// Reads framed RPC messages until an `Abort` (its reason and kind) or the end of stream
/// (`None`), within `limit`.
pub async fn read_abort(stream: &mut TcpStream, limit: Duration) -> Option<(String, String)> {
    let read = async {
        let mut bytes = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            let n = stream.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                return None;
            }
            bytes.extend_from_slice(&buf[..n]);
            let mut rest = &bytes[..];
            while let Ok(Some(m)) = windlass::capnp::serialize::try_read_message(
                &mut rest,
                windlass::capnp::message::ReaderOptions::new(),
            ) {
                let root: message::Reader<'_> = m.get_root().ok()?;
                if let Ok(message::Abort(Ok(e))) = root.which() {
                    let reason = e.get_reason().ok()?.to_string().ok()?;
                    let kind = match e.get_type() {
                        Ok(exception::Type::Overloaded) => "overloaded",
                        Ok(exception::Type::Disconnected) => "disconnected",
                        _ => "failed",
                    };
                    return Some((reason, kind.to_string()));
                }
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().flatten()
}

fn framed(build: impl FnOnce(message::Builder<'_>)) -> Vec<u8> {
    let mut builder = windlass::capnp::message::Builder::new_default();
    build(builder.init_root());
    windlass::capnp::serialize::write_message_to_words(&builder)
}

/// A `Bootstrap` message asking question `id`.
pub fn bootstrap(id: u32) -> Vec<u8> {
    framed(|m| m.init_bootstrap().set_question_id(id))
}

/// A `Finish` for question `id`.
pub fn finish(id: u32) -> Vec<u8> {
    framed(|m| m.init_finish().set_question_id(id))
}

/// Messages of the same shape built fast: `template(MARK)` holds `MARK` once (little-endian),
/// replaced by each id.
pub struct Stamp {
    bytes: Vec<u8>,
    at: usize,
}

pub const MARK: u32 = 0x5a17_c0de;

impl Stamp {
    pub fn new(template: Vec<u8>) -> Self {
        let at = template
            .windows(4)
            .position(|w| w == MARK.to_le_bytes())
            .expect("the mark is in the message");
        Stamp {
            bytes: template,
            at,
        }
    }

    pub fn append(&mut self, id: u32, out: &mut Vec<u8>) {
        self.bytes[self.at..self.at + 4].copy_from_slice(&id.to_le_bytes());
        out.extend_from_slice(&self.bytes);
    }
}

/// Deterministic pseudo-random bytes (xorshift), so a failure can be replayed.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as u8
        })
        .collect()
}
