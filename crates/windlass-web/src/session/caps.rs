//! Capabilities between the tables and the mapping: the answers to the mapping's capability
//! questions, and the Cap'n Proto capability that stands for each of the client's exports.
//!
//! This sits below everything that converts or calls. [`client_cap`] wraps a [`ClientCap`] with
//! capnp-rpc, whose dispatch (the `FromServer` and `Server` impls) `callback` supplies: a call
//! on the client's export needs the whole session, but making the capability needs only the
//! tables.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use capnp::capability::FromClientHook;
use capnp::private::capability::ClientHook;

use super::state::{CapRef, ClientCap, ClientImport, State};
use crate::{CapId, Caps};

/// The session's answers to the mapping's capability questions.
pub(super) struct SessionCaps<'a> {
    pub(super) state: &'a mut State,
    pub(super) weak: Weak<RefCell<State>>,
}

impl Caps for SessionCaps<'_> {
    fn to_capnp(&mut self, cap: CapId, _interface_id: u64) -> Result<Box<dyn ClientHook>, String> {
        match self.state.caps.remove(&cap) {
            Some(CapRef::Hook { hook, .. }) => Ok(hook),
            Some(CapRef::ClientExport(id)) => Ok(client_cap(self.state, self.weak.clone(), id)),
            Some(CapRef::Deferred(_)) | None => Err("unknown capability".into()),
        }
    }

    fn to_web(&mut self, hook: Box<dyn ClientHook>, interface_id: u64) -> CapId {
        self.state.new_cap(CapRef::Hook { hook, interface_id })
    }
}

/// A capability for the client's export `id` (the schema says which interface it plays).
fn client_cap(state: &mut State, weak: Weak<RefCell<State>>, id: i64) -> Box<dyn ClientHook> {
    if !state.config.callbacks {
        let error = capnp::Error::failed(
            "the client cannot be called back during an HTTP batch; use a WebSocket session".into(),
        );
        return capnp_rpc::new_broken_cap(error).hook;
    }
    let existing = state
        .client_imports
        .borrow()
        .get(&id)
        .and_then(|e| e.server.upgrade());
    let server = match existing {
        Some(server) => server,
        None => {
            let server = Rc::new(ClientCap {
                state: weak,
                outbox: state.outbox.clone(),
                client_imports: state.client_imports.clone(),
                import_id: id,
            });
            let mut imports = state.client_imports.borrow_mut();
            let entry = imports.entry(id).or_insert(ClientImport {
                refcount: 0,
                server: Weak::new(),
            });
            entry.server = Rc::downgrade(&server);
            server
        }
    };
    capnp_rpc::new_client_from_rc::<ClientCapClient, ClientCap>(server).into_client_hook()
}

/// The typed-client shim capnp-rpc needs to wrap [`ClientCap`] as a local capability.
pub(super) struct ClientCapClient(Box<dyn ClientHook>);

impl FromClientHook for ClientCapClient {
    fn new(hook: Box<dyn ClientHook>) -> Self {
        Self(hook)
    }
    fn into_client_hook(self) -> Box<dyn ClientHook> {
        self.0
    }
    fn as_client_hook(&self) -> &dyn ClientHook {
        self.0.as_ref()
    }
}
