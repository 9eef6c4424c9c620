//! A session's tables: what each ID and each [`CapId`] stands for.
//!
//! Only the outbox and the answers lie below; every other session file works on these tables. The client's exports' Cap'n Proto handles ([`ClientCap`]) live here too, because a
//! table entry points at its handle and the handle's drop updates the table; what a call on a
//! handle does is `callback`'s business.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use capnp::capability::Client;
use capnp::private::capability::ClientHook;
use futures::channel::oneshot;
use futures::future::{AbortHandle, LocalBoxFuture, Shared};

use super::answer::Answer;
use super::outbox::Outbox;
use super::SessionConfig;
use crate::protocol::{Expr, Message};
use crate::schema::Schema;
use crate::CapId;

/// The resolution of a promise the client passed, shared by every use of it.
pub(super) type ClientPromise = Shared<LocalBoxFuture<'static, Result<Expr, Rc<str>>>>;

/// An entry of the session's export table (the client's imports).
pub(super) enum Export {
    /// A capability: the bootstrap, or one sent in a result.
    Cap {
        client: Client,
        interface_id: u64,
        refcount: u32,
    },
    /// A push's result.
    Answer { answer: Rc<Answer>, refcount: u32 },
}

/// What a [`CapId`] in a [`crate::Value`] stands for.
pub(super) enum CapRef {
    /// A Cap'n Proto capability (bootstrap, pipelined, or from a result) of an interface.
    Hook {
        hook: Box<dyn ClientHook>,
        interface_id: u64,
    },
    /// The client's export `id` (a stub or a function it passed).
    ClientExport(i64),
    /// A value still being computed; `eval` substitutes it before use.
    Deferred(usize),
}

/// An entry for an export of the client's that the session holds.
pub(super) struct ClientImport {
    /// How many times the client introduced this ID (sent back in `release`).
    pub(super) refcount: u32,
    /// The Cap'n Proto face of it, while anyone holds it.
    pub(super) server: Weak<ClientCap>,
}

/// The Cap'n Proto face of the client's export `import_id`.
pub(super) struct ClientCap {
    pub(super) state: Weak<RefCell<State>>,
    pub(super) outbox: Rc<Outbox>,
    pub(super) client_imports: Rc<RefCell<HashMap<i64, ClientImport>>>,
    pub(super) import_id: i64,
}

impl Drop for ClientCap {
    fn drop(&mut self) {
        // Nothing on the Cap'n Proto side holds it any more: give the client its export back.
        let entry = self.client_imports.borrow_mut().remove(&self.import_id);
        if let Some(entry) = entry {
            if entry.refcount > 0 {
                self.outbox
                    .send(&Message::Release(self.import_id, entry.refcount));
            }
        }
    }
}

/// Everything the session knows. Borrowed briefly, never across an `.await`.
pub(super) struct State {
    pub(super) schema: Rc<Schema>,
    pub(super) config: SessionConfig,
    pub(super) outbox: Rc<Outbox>,
    pub(super) exports: HashMap<i64, Export>,
    /// The ID the client's next push takes.
    pub(super) next_push: i64,
    /// The ID the session's next exported capability takes (negative, going down).
    pub(super) next_export: i64,
    /// The client's exports the session holds; a separate cell because a capability's drop
    /// (which may happen while `State` is borrowed) updates it.
    pub(super) client_imports: Rc<RefCell<HashMap<i64, ClientImport>>>,
    /// Resolutions awaited from the client: its promises and the session's pushes to it.
    pub(super) awaiting: HashMap<i64, oneshot::Sender<Result<Expr, Expr>>>,
    /// Shared futures for the client's promises, so several uses wait for one resolution.
    pub(super) client_promises: HashMap<i64, ClientPromise>,
    /// The ID of the session's next push to the client.
    pub(super) next_import: i64,
    pub(super) caps: HashMap<CapId, CapRef>,
    next_cap: u64,
    /// Pulled results not yet resolved or rejected.
    pub(super) pulls_outstanding: usize,
    pub(super) drained: Rc<tokio::sync::Notify>,
    /// Pull tasks still running, by number, to cancel when the session closes; each removes
    /// its own entry when it finishes, so the map holds only what is in flight.
    pub(super) tasks: HashMap<u64, AbortHandle>,
    /// The number of the next pull task.
    pub(super) next_task: u64,
}

impl State {
    pub(super) fn new(
        schema: Rc<Schema>,
        bootstrap: Client,
        interface_id: u64,
        config: SessionConfig,
        outbox: Rc<Outbox>,
    ) -> Rc<RefCell<Self>> {
        let mut exports = HashMap::new();
        exports.insert(
            0,
            Export::Cap {
                client: bootstrap,
                interface_id,
                refcount: 1,
            },
        );
        Rc::new(RefCell::new(Self {
            schema,
            config,
            outbox,
            exports,
            next_push: 1,
            next_export: -1,
            client_imports: Rc::default(),
            awaiting: HashMap::new(),
            client_promises: HashMap::new(),
            next_import: 1,
            caps: HashMap::new(),
            next_cap: 0,
            pulls_outstanding: 0,
            drained: Rc::default(),
            tasks: HashMap::new(),
            next_task: 0,
        }))
    }

    /// Live table entries, against [`SessionConfig::max_table_entries`].
    pub(super) fn entries(&self) -> usize {
        self.exports.len() + self.client_imports.borrow().len() + self.awaiting.len()
    }

    /// Fails when the tables are full.
    pub(super) fn check_room(&self) -> Result<(), String> {
        if self.entries() >= self.config.max_table_entries {
            return Err(format!(
                "too many live entries (limit {}): release some",
                self.config.max_table_entries
            ));
        }
        Ok(())
    }

    /// `["export", id]` from the client: one introduction more of its export `id`, and a handle
    /// for it.
    ///
    /// # Errors
    /// The tables are full.
    pub(super) fn client_export(&mut self, id: i64) -> Result<CapId, String> {
        self.check_room()?;
        self.client_imports
            .borrow_mut()
            .entry(id)
            .or_insert_with(|| ClientImport {
                refcount: 0,
                server: Weak::new(),
            })
            .refcount += 1;
        Ok(self.new_cap(CapRef::ClientExport(id)))
    }

    pub(super) fn new_cap(&mut self, cap: CapRef) -> CapId {
        self.next_cap += 1;
        let id = CapId(self.next_cap);
        self.caps.insert(id, cap);
        id
    }

    /// Exports `hook` (a capability found in a result): a new negative ID, or the ID it already
    /// has, one introduction more.
    pub(super) fn export_cap(&mut self, hook: Box<dyn ClientHook>, interface_id: u64) -> i64 {
        let ptr = hook.get_ptr();
        for (id, export) in &mut self.exports {
            if let Export::Cap {
                client, refcount, ..
            } = export
            {
                if *id < 0 && client.hook.get_ptr() == ptr {
                    *refcount += 1;
                    return *id;
                }
            }
        }
        let id = self.next_export;
        self.next_export -= 1;
        self.exports.insert(
            id,
            Export::Cap {
                client: Client::new(hook),
                interface_id,
                refcount: 1,
            },
        );
        id
    }

    /// `["release", id, count]`: the client dropped `count` introductions of export `id`.
    pub(super) fn release(state: &RefCell<Self>, id: i64, count: u32) -> Result<(), String> {
        let removed = {
            let mut state = state.borrow_mut();
            let Some(export) = state.exports.get_mut(&id) else {
                return Err(format!("release of unknown export {id}"));
            };
            let refcount = match export {
                Export::Cap { refcount, .. } | Export::Answer { refcount, .. } => refcount,
            };
            if *refcount < count {
                return Err(format!(
                    "release of export {id} by {count}, but it has {refcount}"
                ));
            }
            *refcount -= count;
            if *refcount > 0 || id == 0 {
                return Ok(());
            }
            state.exports.remove(&id)
        };
        // Dropped outside the borrow: dropping a capability may call back into the session.
        drop(removed);
        Ok(())
    }

    /// Empties every table (the session ends); the caller drops what comes back, outside the
    /// borrow.
    pub(super) fn clear(state: &RefCell<Self>) -> Cleared {
        let mut state = state.borrow_mut();
        for (_, task) in state.tasks.drain() {
            task.abort();
        }
        state.pulls_outstanding = 0;
        state.drained.notify_waiters();
        let client_imports = std::mem::take(&mut *state.client_imports.borrow_mut());
        Cleared {
            _exports: std::mem::take(&mut state.exports),
            _caps: std::mem::take(&mut state.caps),
            _awaiting: std::mem::take(&mut state.awaiting),
            _client_promises: std::mem::take(&mut state.client_promises),
            _client_imports: client_imports,
        }
    }
}

/// The tables of a closed session, to be dropped.
pub(super) struct Cleared {
    _exports: HashMap<i64, Export>,
    _caps: HashMap<CapId, CapRef>,
    _awaiting: HashMap<i64, oneshot::Sender<Result<Expr, Expr>>>,
    _client_promises: HashMap<i64, ClientPromise>,
    _client_imports: HashMap<i64, ClientImport>,
}
