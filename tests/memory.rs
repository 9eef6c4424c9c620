//! Memory per connection is bounded: 100,000 pipelined calls from a peer that never reads, and
//! 100,000 calls never finished, each grow the process's RSS by at most 64 MiB while other
//! clients keep being served. Heavy (and meaningful in a release build): `#[ignore]`d, run by
//! `.ci/run` with `--release`.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::time::{Duration, Instant};

use capnp::traits::HasTypeId;
use common::run_local;
use hostile::{bootstrap, good_call, server, Stamp, MARK};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use windlass::capnp_rpc::rpc_capnp::message;
use windlass::server::Options;
use windlass_calculator::calculator_capnp::calculator;

const CALLS: u32 = 100_000;
const MAX_GROWTH: u64 = 64 << 20;

/// The resident set of this process, from `/proc/self/status` (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    kb * 1024
}

/// `evaluate(literal)` on the bootstrap capability (question 0), as question `MARK`.
fn evaluate_template() -> Vec<u8> {
    let mut builder = capnp::message::Builder::new_default();
    let mut call = builder.init_root::<message::Builder<'_>>().init_call();
    call.set_question_id(MARK);
    call.set_interface_id(calculator::Client::TYPE_ID);
    call.set_method_id(0);
    call.reborrow()
        .init_target()
        .init_promised_answer()
        .set_question_id(0);
    let params: calculator::evaluate_params::Builder<'_> =
        call.init_params().init_content().init_as();
    params.init_expression().set_literal(1.0);
    capnp::serialize::write_message_to_words(&builder)
}

/// Sends `CALLS` pipelined calls in chunks (so the attacker's own memory stays small), reading
/// the answers or not; returns (calls written, good calls ok, good calls tried, RSS growth).
async fn attack(addr: std::net::SocketAddr, read_answers: bool) -> (u32, usize, usize, u64) {
    let before = rss();
    let mut peak = before;
    let stream = TcpStream::connect(addr).await.expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let mut stamp = Stamp::new(evaluate_template());
    let mut written = 0;
    let (mut ok, mut tried) = (0, 0);
    // Reads the answers (or holds the read half without reading) until the server closes.
    let drain = tokio::task::spawn_local(async move {
        let mut buf = vec![0u8; 1 << 16];
        if read_answers {
            while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
        } else {
            std::future::pending::<()>().await;
        }
    });
    let send = async {
        writer.write_all(&bootstrap(0)).await.expect("bootstrap");
        for chunk in 0..CALLS / 1000 {
            let mut bytes = Vec::new();
            for id in 1 + chunk * 1000..1 + (chunk + 1) * 1000 {
                stamp.append(id, &mut bytes);
            }
            match tokio::time::timeout(Duration::from_secs(3), writer.write_all(&bytes)).await {
                Ok(Ok(())) => written += 1000,
                _ => break,
            }
            if chunk % 10 == 0 {
                tried += 1;
                if good_call(addr, Duration::from_secs(3)).await.is_ok() {
                    ok += 1;
                }
                peak = peak.max(rss());
            }
        }
        let end = Instant::now() + Duration::from_secs(3);
        while Instant::now() < end {
            tried += 1;
            if good_call(addr, Duration::from_secs(3)).await.is_ok() {
                ok += 1;
            }
            peak = peak.max(rss());
        }
    };
    send.await;
    drain.abort();
    (written, ok, tried, peak.saturating_sub(before))
}

fn report(what: &str, (written, ok, tried, growth): (u32, usize, usize, u64)) {
    println!(
        "{what}: {written} calls written, RSS growth {:.1} MiB, good calls {ok}/{tried}",
        growth as f64 / (1 << 20) as f64
    );
    assert!(growth <= MAX_GROWTH, "{what}: RSS grew {growth} bytes");
    assert!(
        ok * 10 >= tried * 9,
        "{what}: only {ok} of {tried} good calls succeeded"
    );
}

#[test]
#[ignore = "heavy: 100,000 calls; run by .ci/run in release"]
fn a_peer_that_never_reads_costs_bounded_memory() {
    let handle = server(Options::new());
    let addr = handle.local_addr();
    let result = run_local(attack(addr, false));
    report("never reads", result);
}

#[test]
#[ignore = "heavy: 100,000 calls; run by .ci/run in release"]
fn calls_never_finished_cost_bounded_memory() {
    let handle = server(Options::new());
    let addr = handle.local_addr();
    let result = run_local(attack(addr, true));
    report("never finishes", result);
}
