//! A user project as windlass-build's acceptance criterion describes it: its `build.rs` is
//! the one line `windlass_build::compile(&["schemas/features.capnp"])`, and the schema has
//! generics, unions, groups, annotations, defaults and an interface with a callback. Where the
//! `capnp` tool is absent the pure-Rust front end compiles it; `tests/features.rs` serves it over
//! real sockets, reads every default and checks the generated code equals the C++ tool's.
//!
//! The service: `Store(Text, Item)`, an in-memory map whose `watch` registers a
//! `Watcher(Text, Item)` callback that every `put` calls, until the returned `Handle` is dropped.

// The code capnpc generated from schemas/features.capnp into OUT_DIR (see build.rs).
windlass::capnp::generated_code!(pub mod features_capnp);

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

use features_capnp::{handle, item, store, watcher};
use windlass::capnp;
use windlass::capnp::message::{Builder, HeapAllocator};
use windlass::capnp::text;
use windlass::server::{ConnectionInfo, Options, Server, ServerHandle};
use windlass::{HomeThread, Shared};

/// The brand this crate serves: `Store(Text, Item)`.
pub type ItemStoreClient = store::Client<text::Owned, item::Owned>;
/// The callback of that brand: `Watcher(Text, Item)`.
pub type ItemWatcherClient = watcher::Client<text::Owned, item::Owned>;

/// The registered watchers, by registration number.
type Watchers = Rc<RefCell<Vec<(u64, ItemWatcherClient)>>>;

/// `Store(Text, Item)` in memory. Methods take `self: Rc<Self>` (capnp-rpc is single-threaded),
/// so no borrow of the state is held across an `.await`.
#[derive(Default)]
pub struct ItemStore {
    items: RefCell<BTreeMap<String, Builder<HeapAllocator>>>,
    watchers: Watchers,
    next_watcher: Cell<u64>,
}

impl store::Server<text::Owned, item::Owned> for ItemStore {
    async fn put(
        self: Rc<Self>,
        params: store::PutParams<text::Owned, item::Owned>,
        _: store::PutResults<text::Owned, item::Owned>,
    ) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let key = params.get_key()?.to_str()?;
        let value = params.get_value()?;
        let mut copy = Builder::new_default();
        copy.set_root(value)?;
        let calls = self
            .watchers
            .borrow()
            .iter()
            .map(|(_, watcher)| {
                let mut request = watcher.changed_request();
                request.get().set_key(key)?;
                request.get().set_value(value)?;
                Ok(request.send().promise)
            })
            .collect::<Result<Vec<_>, capnp::Error>>()?;
        self.items.borrow_mut().insert(key.to_string(), copy);
        // The put answers once every watcher has heard; one that has gone is skipped.
        for call in calls {
            let _ = call.await;
        }
        Ok(())
    }

    async fn get(
        self: Rc<Self>,
        params: store::GetParams<text::Owned, item::Owned>,
        mut results: store::GetResults<text::Owned, item::Owned>,
    ) -> Result<(), capnp::Error> {
        let key = params.get()?.get_key()?.to_str()?;
        if let Some(stored) = self.items.borrow().get(key) {
            let mut results = results.get();
            let item: item::Reader<'_> = stored.get_root_as_reader()?;
            results.reborrow().init_value().set_value(item)?;
            results.set_found(true);
        }
        Ok(())
    }

    async fn watch(
        self: Rc<Self>,
        params: store::WatchParams<text::Owned, item::Owned>,
        mut results: store::WatchResults<text::Owned, item::Owned>,
    ) -> Result<(), capnp::Error> {
        let watcher = params.get()?.get_watcher()?;
        let id = self.next_watcher.get();
        self.next_watcher.set(id + 1);
        self.watchers.borrow_mut().push((id, watcher));
        let registration = Registration {
            id,
            watchers: self.watchers.clone(),
        };
        results
            .get()
            .set_handle(windlass::capnp_rpc::new_client(registration));
        Ok(())
    }
}

/// A watcher's registration, behind the `Handle` its client holds: dropped (and the watcher
/// unregistered) when the client lets go of the handle or disconnects.
struct Registration {
    id: u64,
    watchers: Watchers,
}

impl handle::Server for Registration {}

impl Drop for Registration {
    fn drop(&mut self) {
        self.watchers.borrow_mut().retain(|(id, _)| *id != self.id);
    }
}

/// Serves one [`ItemStore`], shared by every connection, on `addr` (`127.0.0.1:0` for any free
/// port). Keep the [`HomeThread`]: the store lives there.
pub fn serve(addr: &str) -> Result<(ServerHandle, HomeThread), windlass::Error> {
    let home = HomeThread::spawn("item-store")?;
    let store: Shared<ItemStoreClient> =
        home.share(|| windlass::capnp_rpc::new_client(ItemStore::default()))?;
    let server = Server::bind(addr, Options::new(), move |_: &ConnectionInfo| {
        store.client().client
    })?;
    Ok((server, home))
}

/// What a watcher heard: (key, the item's name, the item's count), in order.
pub type Heard = Rc<RefCell<Vec<(String, String, u32)>>>;

/// A client-side `Watcher(Text, Item)`: the server calls it back over the client's connection.
pub struct RecordChanges {
    /// Every change heard.
    pub heard: Heard,
}

impl watcher::Server<text::Owned, item::Owned> for RecordChanges {
    async fn changed(
        self: Rc<Self>,
        params: watcher::ChangedParams<text::Owned, item::Owned>,
        _: watcher::ChangedResults<text::Owned, item::Owned>,
    ) -> Result<(), capnp::Error> {
        let params = params.get()?;
        let value = params.get_value()?;
        self.heard.borrow_mut().push((
            params.get_key()?.to_str()?.to_string(),
            value.get_name()?.to_str()?.to_string(),
            value.get_count(),
        ));
        Ok(())
    }
}

/// `put(key, item)`, where `fill` writes the item (a fresh item reads every schema default).
pub async fn put(
    store: &ItemStoreClient,
    key: &str,
    fill: impl FnOnce(item::Builder<'_>),
) -> Result<(), capnp::Error> {
    let mut request = store.put_request();
    request.get().set_key(key)?;
    fill(request.get().init_value());
    request.send().promise.await?;
    Ok(())
}

/// `get(key)`: the stored item's (name, count), if the key is set.
pub async fn get(
    store: &ItemStoreClient,
    key: &str,
) -> Result<Option<(String, u32)>, capnp::Error> {
    let mut request = store.get_request();
    request.get().set_key(key)?;
    let response = request.send().promise.await?;
    let results = response.get()?;
    if !results.get_found() {
        return Ok(None);
    }
    let item = results.get_value()?.get_value()?;
    Ok(Some((
        item.get_name()?.to_str()?.to_string(),
        item.get_count(),
    )))
}
