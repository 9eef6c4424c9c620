//! The key-value store of docs/your-own-service.md: a service with its own schema, its state
//! shared by every connection on every server worker, and watchers called back across them.
//!
//! The code between `ANCHOR` comments is quoted in the guide verbatim (a test checks it).

// ANCHOR: generated
// The code capnpc generated from schemas/kv.capnp (see build.rs).
// (The allow keeps strict lints of your own crate off the generated code.)
#[allow(clippy::all, missing_docs, unreachable_pub)]
pub mod kv_capnp {
    include!(concat!(env!("OUT_DIR"), "/kv_capnp.rs"));
}
// ANCHOR_END: generated

// ANCHOR: server
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use kv_capnp::{store, subscription, watcher};
use windlass::capnp;

/// The store's state. Methods take `self: Rc<Self>` (capnp-rpc is single-threaded), so mutable
/// state goes in `Cell`/`RefCell` — and no borrow is ever held across an `.await`.
#[derive(Default)]
pub struct Store {
    entries: RefCell<BTreeMap<String, Vec<u8>>>,
    watchers: Rc<RefCell<Vec<(u64, watcher::Client)>>>,
    next_watcher: Cell<u64>,
}

impl Store {
    fn set(&self, key: String, value: Vec<u8>) -> Vec<watcher::Client> {
        self.entries.borrow_mut().insert(key, value);
        self.watchers
            .borrow()
            .iter()
            .map(|(_, w)| w.clone())
            .collect()
    }
}

impl store::Server for Store {
    async fn get(
        self: Rc<Self>,
        params: store::GetParams,
        mut results: store::GetResults,
    ) -> Result<(), capnp::Error> {
        let key = params.get()?.get_key()?.to_str()?;
        if let Some(value) = self.entries.borrow().get(key) {
            results.get().set_value(value);
            results.get().set_found(true);
        }
        Ok(())
    }

    async fn put(
        self: Rc<Self>,
        params: store::PutParams,
        _: store::PutResults,
    ) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let key = params.get_key()?.to_str()?.to_string();
        let value = params.get_value()?.to_vec();
        let watchers = self.set(key.clone(), value.clone());
        // Tell every watcher; the put answers once they all have it. A watcher whose client
        // has gone fails with `Disconnected` and is skipped.
        let calls = watchers.iter().map(|w| {
            let mut request = w.changed_request();
            request.get().set_key(key.as_str());
            request.get().set_value(&value);
            request.send().promise
        });
        await_all(calls).await;
        Ok(())
    }

    async fn watch(
        self: Rc<Self>,
        params: store::WatchParams,
        mut results: store::WatchResults,
    ) -> Result<(), capnp::Error> {
        let watcher = params.get()?.get_watcher()?;
        let id = self.next_watcher.get();
        self.next_watcher.set(id + 1);
        self.watchers.borrow_mut().push((id, watcher));
        // The subscription removes the watcher when the client drops it (or disconnects).
        let subscription = Subscription {
            id,
            watchers: self.watchers.clone(),
        };
        results
            .get()
            .set_subscription(windlass::capnp_rpc::new_client(subscription));
        Ok(())
    }

    async fn load(self: Rc<Self>, params: store::LoadParams) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let key = params.get_key()?.to_str()?.to_string();
        // Bulk loading does not notify watchers.
        self.set(key, params.get_value()?.to_vec());
        Ok(())
    }
}

/// A watcher's registration; dropped when the client lets go of it.
struct Subscription {
    id: u64,
    watchers: Rc<RefCell<Vec<(u64, watcher::Client)>>>,
}

impl subscription::Server for Subscription {}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.watchers.borrow_mut().retain(|(id, _)| *id != self.id);
    }
}
// ANCHOR_END: server

/// Awaits every call, ignoring failures (a watcher that went away).
async fn await_all<F>(calls: impl Iterator<Item = F>)
where
    F: std::future::Future,
{
    for call in calls.collect::<Vec<_>>() {
        let _ = call.await;
    }
}

// ANCHOR: serve
use windlass::server::{ConnectionInfo, Options, Server, ServerHandle};
use windlass::{HomeThread, Shared};

/// Serves one store, shared by every connection on every worker, on `addr`.
pub fn serve(addr: &str, options: Options) -> Result<(ServerHandle, HomeThread), windlass::Error> {
    // The store lives on a thread of its own; every worker reaches it through a proxy.
    let home = HomeThread::spawn("kv-store")?;
    let store: Shared<store::Client> =
        home.share(|| windlass::capnp_rpc::new_client(Store::default()))?;
    let server = Server::bind(addr, options, move |conn: &ConnectionInfo| {
        eprintln!("kv-store: connection {} from {:?}", conn.id(), conn.peer());
        store.client().client
    })?;
    Ok((server, home))
}
// ANCHOR_END: serve

// ANCHOR: watcher
/// Every change a watcher heard, in order: (key, value).
pub type Heard = Rc<RefCell<Vec<(String, Vec<u8>)>>>;

/// A client-side watcher: the server calls it back over the client's connection.
pub struct PrintChanges {
    /// What it heard.
    pub heard: Heard,
}

impl watcher::Server for PrintChanges {
    async fn changed(
        self: Rc<Self>,
        params: watcher::ChangedParams,
        _: watcher::ChangedResults,
    ) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let key = params.get_key()?.to_str()?.to_string();
        let value = params.get_value()?.to_vec();
        self.heard.borrow_mut().push((key, value));
        Ok(())
    }
}
// ANCHOR_END: watcher

// ANCHOR: calls
/// `put(key, value)`.
pub async fn put(kv: &store::Client, key: &str, value: &[u8]) -> Result<(), capnp::Error> {
    let mut request = kv.put_request();
    request.get().set_key(key);
    request.get().set_value(value);
    request.send().promise.await?;
    Ok(())
}

/// `get(key)`: the value, if the key is set.
pub async fn get(kv: &store::Client, key: &str) -> Result<Option<Vec<u8>>, capnp::Error> {
    let mut request = kv.get_request();
    request.get().set_key(key);
    let response = request.send().promise.await?;
    let results = response.get()?;
    Ok(results
        .get_found()
        .then(|| results.get_value())
        .transpose()?
        .map(<[u8]>::to_vec))
}
// ANCHOR_END: calls

// ANCHOR: stream
/// Loads `entries` with the streaming `load` method: each call waits only while the
/// flow-control window is full, and the first failure ends the upload with that error.
pub async fn load_all(
    kv: &store::Client,
    entries: impl IntoIterator<Item = (String, Vec<u8>)>,
) -> Result<(), capnp::Error> {
    for (key, value) in entries {
        let mut request = kv.load_request();
        request.get().set_key(key.as_str());
        request.get().set_value(&value);
        request.send().await?;
    }
    // A plain call after the stream: answered once every streamed call before it was handled.
    get(kv, "").await.map(drop)
}
// ANCHOR_END: stream

// ANCHOR: tls
use windlass::tls::{ClientTls, ServerTls};

/// Server options for TLS from PEM files (e.g. certs/server.crt and certs/server.key).
pub fn tls_options(cert: &str, key: &str) -> Result<Options, windlass::Error> {
    Ok(Options::new().with_tls(ServerTls::builder(cert, key).build()?))
}

/// A connector that trusts the CA in `ca` (PEM) and checks the server's name.
pub fn tls_connector(addr: &str, ca: &str) -> Result<windlass::Connector, windlass::Error> {
    let tls = ClientTls::builder().ca(ca).build()?;
    Ok(windlass::Connector::new(addr).with_tls(tls))
}
// ANCHOR_END: tls
