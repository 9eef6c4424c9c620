//! The segment transport against pyzmq (feature `zmq`): address books sent as ZeroMQ multipart
//! messages, one frame per segment, from pycapnp + pyzmq to windlass's `ZmqSegmentTransport`
//! and back.

use capnp::message::{self, ReaderSegments};
use windlass::framing::{Limits, SegmentReceiver, SegmentSender, ZmqSegmentTransport};
use windlass_addressbook::AddressBook;
use zeromq::Socket;

use crate::harness::{python, python_script, Process, TIMEOUT};
use crate::serialization::{assert_same, books, scratch, spec_json, split_message, write_file};

/// Each book goes twice: split (a one-word first segment, so several segments) and with default
/// allocation, in this order on both sides.
const FORMS: [&str; 2] = ["split", "default"];

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn pyzmq_sends_segments_and_windlass_receives_them() {
    let python = python("pyzmq sends segment frames, windlass receives them");
    let dir = scratch("zmq-pyzmq-sends");
    let books = books();
    let spec = dir.join("spec.json");
    write_file(&spec, spec_json(&books).as_bytes());

    runtime().block_on(async {
        let mut pull = zeromq::PullSocket::new();
        let endpoint = pull.bind("tcp://127.0.0.1:0").await.expect("bind PULL");
        let mut receiver = ZmqSegmentTransport::new(pull, Limits::new());
        let mut command = python_script(&python, "segments_zmq.py");
        command.arg("send").arg(endpoint.to_string()).arg(&spec);
        let sender = Process::spawn("segments_zmq.py send", &mut command);

        for (n, book) in books.iter().enumerate() {
            for form in FORMS {
                let what = format!("book {n} ({form})");
                let received = tokio::time::timeout(TIMEOUT, receiver.recv())
                    .await
                    .unwrap_or_else(|_| panic!("{what}: nothing received in {TIMEOUT:?}"))
                    .unwrap_or_else(|e| panic!("{what}: {e}"))
                    .expect("ZeroMQ never ends");
                let segments = received.get_segments().len();
                if form == "split" && !book.people.is_empty() {
                    assert!(segments > 1, "{what}: one segment");
                }
                let got = AddressBook::from_message(&received)
                    .unwrap_or_else(|e| panic!("{what} ({segments} segments): {e}"));
                assert_same(&what, &got, book);
            }
        }
        let finished = tokio::task::spawn_blocking(move || sender.finish())
            .await
            .expect("join");
        finished.success();
    });
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[cfg_attr(
    not(interop),
    ignore = "set WINDLASS_PYTHON to a Python with pycapnp 2.x (docs/interop.md)"
)]
fn windlass_sends_segments_and_pyzmq_receives_them() {
    let python = python("windlass sends segment frames, pyzmq receives them");
    let dir = scratch("zmq-windlass-sends");
    let books = books();
    let spec = dir.join("spec.json");
    write_file(&spec, spec_json(&books).as_bytes());

    let mut command = python_script(&python, "segments_zmq.py");
    command.arg("recv").arg(&spec);
    let mut receiver = Process::spawn("segments_zmq.py recv", &mut command);
    let endpoint = receiver.wait_for("`bound ENDPOINT`", |line| {
        line.strip_prefix("bound ").map(str::to_owned)
    });

    let finished = runtime().block_on(async {
        let mut push = zeromq::PushSocket::new();
        push.connect(&endpoint).await.expect("connect PUSH");
        let mut sender = ZmqSegmentTransport::new(push, Limits::new());
        for book in &books {
            let split = split_message(book);
            let mut default = message::Builder::new_default();
            book.build(&mut default);
            for message in [&split, &default] {
                tokio::time::timeout(TIMEOUT, sender.send(message))
                    .await
                    .expect("send in time")
                    .expect("send");
            }
        }
        // Keep the socket (and this runtime, which drives it) alive until Python has it all.
        let finished = tokio::task::spawn_blocking(move || receiver.finish())
            .await
            .expect("join");
        drop(sender);
        finished
    });
    let stdout = finished.success();
    let expected = books.len() * FORMS.len();
    assert_eq!(stdout.matches("PASS ").count(), expected, "{finished}");
    assert!(stdout.contains("0 failure(s)"), "{finished}");
    let _ = std::fs::remove_dir_all(&dir);
}
