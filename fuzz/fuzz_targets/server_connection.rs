//! A whole server connection (windlass's transport, flow limits and capnp-rpc serving the
//! Calculator) fed arbitrary bytes in memory: no sockets, virtual time. It must never panic,
//! hang or grow without bound; the connection may of course be refused.
//!
//! First byte even: the rest is the raw byte stream. Odd: structure-aware — the rest is a list
//! of operations that build *valid* RPC messages (Bootstrap, Calculator `evaluate` calls
//! pipelined on a bootstrap, Finish, Release) and mutate them (flip a byte, cut the stream), so
//! the fuzzer gets past framing into the RPC state machine.
#![no_main]

use std::time::Duration;

use capnp::traits::HasTypeId;
use capnp_rpc::rpc_capnp::message;
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use windlass_calculator::calculator_capnp::calculator;

fn framed(build: impl FnOnce(message::Builder<'_>)) -> Vec<u8> {
    let mut builder = capnp::message::Builder::new_default();
    build(builder.init_root());
    capnp::serialize::write_message_to_words(&builder)
}

fn evaluate_call(question: u32, target: u32, literal: f64) -> Vec<u8> {
    framed(|m| {
        let mut call = m.init_call();
        call.set_question_id(question);
        call.set_interface_id(calculator::Client::TYPE_ID);
        call.set_method_id(0);
        call.reborrow()
            .init_target()
            .init_promised_answer()
            .set_question_id(target);
        let params = call.init_params().init_content();
        let mut params: calculator::evaluate_params::Builder<'_> = params.init_as();
        params.reborrow().init_expression().set_literal(literal);
    })
}

/// The structure-aware mode: operations of 3 bytes (kind, two arguments).
fn build(ops: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for op in ops.chunks(3) {
        let [kind, a, b] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let (a32, b32) = (u32::from(a % 16), u32::from(b % 16));
        match kind % 6 {
            0 => out.extend(framed(|m| m.init_bootstrap().set_question_id(a32))),
            1 => out.extend(evaluate_call(a32, b32, f64::from(b))),
            2 => out.extend(framed(|m| m.init_finish().set_question_id(a32))),
            3 => out.extend(framed(|m| {
                let mut r = m.init_release();
                r.set_id(a32);
                r.set_reference_count(b32);
            })),
            4 if !out.is_empty() => {
                let at = (usize::from(a) << 8 | usize::from(b)) % out.len();
                out[at] ^= 1 << (b % 8);
            }
            5 if !out.is_empty() => {
                let at = (usize::from(a) << 8 | usize::from(b)) % out.len();
                out.truncate(at);
            }
            _ => {}
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let input = if mode % 2 == 0 { rest.to_vec() } else { build(rest) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    let options = windlass::server::Options::new()
        .with_max_message_bytes(1 << 20)
        .with_max_calls_in_flight(8)
        .with_read_timeout(Some(Duration::from_secs(5)));
    tokio::task::LocalSet::new().block_on(&runtime, async move {
        let (ours, mut theirs) = tokio::io::duplex(1 << 16);
        let bootstrap = windlass_calculator::new_client().client;
        let server = tokio::task::spawn_local(async move {
            let _ = windlass::server::serve_stream(ours, &options, bootstrap).await;
        });
        let (mut read, mut write) = tokio::io::split(&mut theirs);
        let peer = async {
            let _ = write.write_all(&input).await;
            let _ = write.shutdown().await;
        };
        let drain = async {
            let mut sink = Vec::new();
            let _ = read.read_to_end(&mut sink).await;
        };
        // Virtual time: the bound costs nothing unless the connection would hang.
        let done = tokio::time::timeout(Duration::from_secs(60), async {
            futures_join(peer, drain).await;
        })
        .await;
        server.abort();
        assert!(done.is_ok(), "the connection did not end within 60 s of virtual time");
    });
});

async fn futures_join(a: impl std::future::Future<Output = ()>, b: impl std::future::Future<Output = ()>) {
    tokio::join!(a, b);
}
