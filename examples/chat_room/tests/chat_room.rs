//! The chat room example's service across 4 workers and 16 clients: every client hears every
//! post (the room lives on one thread, each connection reaches it through a proxy), and the
//! streamed upload arrives whole.

#[path = "../src/room.rs"]
mod room;

#[path = "../src/schema.rs"]
mod chat_room_capnp;

mod common;

#[test]
fn sixteen_clients_on_four_workers_hear_every_post() {
    let chat = room::ChatServer::start(4).expect("start");
    let addr = chat.server.local_addr().to_string();
    let outcome = common::run_local(room::exercise(&addr, 16, 4 << 20)).expect("exercise");
    assert_eq!(outcome.expected, 256);
    assert_eq!(outcome.deliveries, 256, "every post reached every member");
    assert_eq!(
        outcome.uploaded.0, outcome.uploaded.1,
        "every streamed byte counted"
    );
    assert_eq!(outcome.uploaded.1, 4 << 20);
    eprintln!("4 MiB streamed in {:?}", outcome.upload_time);
    let workers = chat.workers_seen.lock().expect("lock").len();
    assert_eq!(
        workers, 4,
        "the 16 connections were spread over the 4 workers"
    );
    chat.server.shutdown().expect("shutdown");
}
