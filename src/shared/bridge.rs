//! Bridges: one in-process Cap'n Proto connection per pair of threads, over which a thread
//! reaches the capabilities another thread shares.
//!
//! The near end (the thread asking) runs a client `RpcSystem` whose bootstrap is the far
//! thread's `Registry`; the far end (the owner) serves that registry. Both run windlass's own
//! two-party transport over a `tokio::io::duplex` pipe, so a proxy behaves exactly like a
//! capability on a network connection: pipelining, callbacks and capabilities passed either way
//! all work, at the cost of one serialization per hop.

use std::cell::Cell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

use capnp::message::ReaderOptions;
use capnp::private::capability::ClientHook;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::RpcSystem;
use tokio::io::DuplexStream;

use super::home::{Home, Job, Link, Owner};
use super::Handle;
use crate::instrument::{Counters, Watch};
use crate::schemas::shared_capnp::registry;
use crate::transport;

/// Bytes the in-memory pipe between two threads buffers in each direction before the writer
/// waits for the reader: large enough that a burst of pipelined calls is written at once, small
/// enough that a thread that stops reading holds back its peer.
const PIPE_BYTES: usize = 256 * 1024;

/// A proxy on this thread for the capability behind `handle`, owned by another thread.
pub(super) fn proxy(home: &Rc<Home>, handle: &Arc<Handle>) -> Box<dyn ClientHook> {
    let registry = link(home, &handle.owner);
    let mut request = registry.get_request();
    request.get().set_id(handle.id);
    let response = request.send();
    let cap = response.pipeline.get_cap().as_cap();
    // Keep the capability registered until the owner has answered: if the last `Shared` were
    // dropped right after this call, its release could otherwise overtake the request.
    let keep = handle.clone();
    tokio::task::spawn_local(async move {
        let _ = response.promise.await;
        drop(keep);
    });
    cap
}

/// The registry of `owner` as seen from this thread, over the bridge to it (made on first use).
fn link(home: &Rc<Home>, owner: &Owner) -> registry::Client {
    if let Some(registry) = home.live_link(owner.key()) {
        return registry;
    }
    let (near, far) = tokio::io::duplex(PIPE_BYTES);
    let serve: Job = Box::new(move |owner_home| serve_far_end(owner_home, far));
    // If the owner is gone, `far` is dropped with the job: the near end reads end-of-stream and
    // every call on the bridge fails with `Disconnected`.
    let _ = owner.send(serve);

    let (reader, writer) = tokio::io::split(near);
    let config = transport::Config::new(Side::Client, options());
    let network = transport::network(reader, writer, config, watch());
    let mut system = RpcSystem::new(network, None);
    let registry: registry::Client = system.bootstrap(Side::Server);
    let alive = Rc::new(Cell::new(true));
    let flag = alive.clone();
    tokio::task::spawn_local(async move {
        let _ = system.await;
        flag.set(false);
    });
    home.links.borrow_mut().insert(
        owner.key(),
        Link {
            registry: registry.clone(),
            alive,
        },
    );
    registry
}

/// The owner's end of a new bridge: serves this home's registry over `far`.
fn serve_far_end(home: &Rc<Home>, far: DuplexStream) {
    let (reader, writer) = tokio::io::split(far);
    let config = transport::Config::new(Side::Server, options());
    let network = transport::network(reader, writer, config, watch());
    let registry: registry::Client = capnp_rpc::new_client(Registry {
        home: Rc::downgrade(home),
    });
    let system = RpcSystem::new(network, Some(registry.client));
    tokio::task::spawn_local(async move {
        let _ = system.await;
    });
}

/// Both ends trust each other (one process), so the limits are the capnp defaults: they only
/// guard against runaway messages, not hostile peers.
fn options() -> ReaderOptions {
    ReaderOptions::new()
}

fn watch() -> Rc<Watch> {
    Watch::new(Arc::new(Counters::default()), None)
}

/// The owner's registry, served to every bridge.
struct Registry {
    home: Weak<Home>,
}

impl registry::Server for Registry {
    async fn get(
        self: Rc<Self>,
        params: registry::GetParams,
        mut results: registry::GetResults,
    ) -> Result<(), capnp::Error> {
        let id = params.get()?.get_id();
        let home = self.home.upgrade().ok_or_else(|| {
            capnp::Error::disconnected("the owner thread's registry is gone".into())
        })?;
        let hook = home.hook(id).ok_or_else(|| super::released(id))?;
        results.get().init_cap().set_as_capability(hook);
        Ok(())
    }
}
