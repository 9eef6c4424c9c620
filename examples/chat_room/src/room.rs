//! The chat room service (server side) and a client that checks it; shared by
//! `src/main.rs` and `tests/chat_room.rs`.
//!
//! The room lives on one thread (a [`HomeThread`]) and every connection, whichever server worker
//! serves it, gets a proxy of it through [`Shared::client`]. A member's `Subscriber` is a
//! capability of the *client*: the room calls it back across the bridge, the worker and the
//! client's connection.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use windlass::capnp;
use windlass::server::{ConnectionInfo, Options, Server, ServerHandle};
use windlass::{HomeThread, Shared};

use crate::chat_room_capnp::{member, room, subscriber};

/// The room's state: who is in it.
#[derive(Default)]
struct State {
    members: RefCell<Vec<(u64, String, subscriber::Client)>>,
    next_id: Cell<u64>,
}

/// The `Room` capability.
#[derive(Default)]
pub(crate) struct Room {
    state: Rc<State>,
}

impl room::Server for Room {
    async fn join(
        self: Rc<Self>,
        params: room::JoinParams,
        mut results: room::JoinResults,
    ) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let name = params.get_name()?.to_str()?.to_string();
        let subscriber = params.get_subscriber()?;
        let id = self.state.next_id.get();
        self.state.next_id.set(id + 1);
        self.state
            .members
            .borrow_mut()
            .push((id, name.clone(), subscriber));
        results
            .get()
            .set_member(windlass::capnp_rpc::new_client(Member {
                state: self.state.clone(),
                id,
                name,
                bytes: Cell::new(0),
                chunks: Cell::new(0),
            }));
        Ok(())
    }

    async fn members(
        self: Rc<Self>,
        _: room::MembersParams,
        mut results: room::MembersResults,
    ) -> Result<(), capnp::Error> {
        let members = self.state.members.borrow();
        let len =
            u32::try_from(members.len()).map_err(|_| capnp::Error::failed("too many".into()))?;
        let mut names = results.get().init_names(len);
        for (i, (_, name, _)) in members.iter().enumerate() {
            names.set(i as u32, name.as_str());
        }
        Ok(())
    }
}

/// One member's handle; dropping it (every reference, over every connection) leaves the room.
struct Member {
    state: Rc<State>,
    id: u64,
    name: String,
    bytes: Cell<u64>,
    chunks: Cell<u64>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.state
            .members
            .borrow_mut()
            .retain(|(id, ..)| *id != self.id);
    }
}

impl member::Server for Member {
    async fn post(
        self: Rc<Self>,
        params: member::PostParams,
        _: member::PostResults,
    ) -> Result<(), capnp::Error> {
        let text = params.get()?.get_text()?.to_str()?.to_string();
        // Copied out of the RefCell first: no borrow may be held across an await.
        let subscribers: Vec<subscriber::Client> = self
            .state
            .members
            .borrow()
            .iter()
            .map(|(_, _, s)| s.clone())
            .collect();
        let deliveries = subscribers.iter().map(|s| {
            let mut request = s.deliver_request();
            request.get().set_from(self.name.as_str());
            request.get().set_text(text.as_str());
            request.send().promise
        });
        // The post returns once every member has it; a member whose connection died is skipped.
        for outcome in futures::future::join_all(deliveries).await {
            if let Err(e) = outcome {
                eprintln!("chat_room: a delivery failed: {e}");
            }
        }
        Ok(())
    }

    async fn upload(self: Rc<Self>, params: member::UploadParams) -> Result<(), capnp::Error> {
        let chunk = params.get()?.get_chunk()?;
        self.bytes.set(self.bytes.get() + chunk.len() as u64);
        self.chunks.set(self.chunks.get() + 1);
        Ok(())
    }

    async fn uploaded(
        self: Rc<Self>,
        _: member::UploadedParams,
        mut results: member::UploadedResults,
    ) -> Result<(), capnp::Error> {
        results.get().set_bytes(self.bytes.get());
        results.get().set_chunks(self.chunks.get());
        Ok(())
    }
}

/// A chat server: the room on a home thread, `workers` workers serving it.
pub(crate) struct ChatServer {
    /// The running server.
    pub(crate) server: ServerHandle,
    /// The worker of each connection, as the bootstrap factory saw it.
    pub(crate) workers_seen: Arc<Mutex<BTreeSet<usize>>>,
    // Dropped after the server: the room outlives every connection.
    _home: HomeThread,
}

impl ChatServer {
    /// Starts the room and the server on 127.0.0.1 on a free port.
    pub(crate) fn start(workers: usize) -> Result<ChatServer, windlass::Error> {
        let home = HomeThread::spawn("chat-room")?;
        let room: Shared<room::Client> =
            home.share(|| windlass::capnp_rpc::new_client(Room::default()))?;
        let workers_seen = Arc::new(Mutex::new(BTreeSet::new()));
        let seen = workers_seen.clone();
        let server = Server::bind(
            "127.0.0.1:0",
            Options::new().with_workers(workers),
            move |info: &ConnectionInfo| {
                if let Ok(mut seen) = seen.lock() {
                    seen.insert(info.worker());
                }
                // A proxy on this connection's worker for the one room on the home thread.
                room.client().client
            },
        )?;
        Ok(ChatServer {
            server,
            workers_seen,
            _home: home,
        })
    }
}

/// What a client's `Subscriber` received.
#[derive(Default)]
struct Inbox {
    posts: RefCell<Vec<(String, String)>>,
}

struct Listener(Rc<Inbox>);

impl subscriber::Server for Listener {
    async fn deliver(
        self: Rc<Self>,
        params: subscriber::DeliverParams,
        _: subscriber::DeliverResults,
    ) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let from = params.get_from()?.to_str()?.to_string();
        let text = params.get_text()?.to_str()?.to_string();
        self.0.posts.borrow_mut().push((from, text));
        Ok(())
    }
}

/// What [`exercise`] measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// Posts delivered to members, counted by the members.
    pub(crate) deliveries: usize,
    /// `clients × clients`: every client hears every post, its own included.
    pub(crate) expected: usize,
    /// Bytes the room counted for the upload, and the bytes sent.
    pub(crate) uploaded: (u64, u64),
    /// How long the upload took.
    pub(crate) upload_time: Duration,
}

/// Connects `clients` clients on separate connections; each joins and posts once; then the first
/// streams `upload_bytes` to the room in 64 KiB chunks. Must run inside a `LocalSet`.
pub(crate) async fn exercise(
    addr: &str,
    clients: usize,
    upload_bytes: u64,
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let mut joined = Vec::new();
    for i in 0..clients {
        let conn = windlass::client::connect(addr).await?;
        let room: room::Client = conn.bootstrap();
        let inbox = Rc::new(Inbox::default());
        let mut request = room.join_request();
        request.get().set_name(format!("client-{i}").as_str());
        request
            .get()
            .set_subscriber(windlass::capnp_rpc::new_client(Listener(inbox.clone())));
        let member = request.send().promise.await?.get()?.get_member()?;
        joined.push((conn, room, member, inbox));
    }
    let posts = joined.iter().enumerate().map(|(i, (_, _, member, _))| {
        let mut request = member.post_request();
        request
            .get()
            .set_text(format!("hello from client-{i}").as_str());
        request.send().promise
    });
    for outcome in futures::future::join_all(posts).await {
        outcome?;
    }
    let deliveries = joined
        .iter()
        .map(|(.., inbox)| inbox.posts.borrow().len())
        .sum();

    let (upload_time, uploaded) = match joined.first() {
        Some((_, _, member, _)) => upload(member, upload_bytes).await?,
        None => (Duration::ZERO, (0, 0)),
    };
    for (conn, room, member, _) in joined {
        drop((room, member));
        conn.close().await?;
    }
    Ok(Outcome {
        deliveries,
        expected: clients * clients,
        uploaded,
        upload_time,
    })
}

/// Streams `bytes` to the room through `member.upload` (a `-> stream` method: each call waits
/// only when the flow-control window is full), then asks what arrived.
async fn upload(
    member: &member::Client,
    bytes: u64,
) -> Result<(Duration, (u64, u64)), capnp::Error> {
    const CHUNK: u64 = 64 * 1024;
    let chunk = vec![0x5a_u8; CHUNK as usize];
    let started = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        let len = CHUNK.min(bytes - sent) as usize;
        let mut request = member.upload_request();
        request.get().set_chunk(&chunk[..len]);
        request.send().await?;
        sent += len as u64;
    }
    let response = member.uploaded_request().send().promise.await?;
    let counted = response.get()?.get_bytes();
    Ok((started.elapsed(), (counted, sent)))
}
