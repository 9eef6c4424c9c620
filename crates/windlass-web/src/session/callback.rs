//! The client's exports as Cap'n Proto capabilities: calls on them become pushes to the client.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use capnp::any_pointer;
use capnp::capability::{DispatchCallResult, FromClientHook, FromServer, Params, Promise, Results};
use capnp::private::capability::ClientHook;
use futures::channel::oneshot;
use futures::future::{FutureExt, LocalBoxFuture};
use tracing::debug;

use super::args::Args;
use super::convert::{self, SessionCaps};
use super::state::{ClientImport, Outbox, State};
use crate::protocol::{Expr, Message};
use crate::{mapping, Value};

/// The Cap'n Proto face of the client's export `import_id`.
pub(super) struct ClientCap {
    state: Weak<RefCell<State>>,
    outbox: Rc<Outbox>,
    client_imports: Rc<RefCell<HashMap<i64, ClientImport>>>,
    import_id: i64,
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

/// A capability for the client's export `id` (the schema says which interface it plays).
pub(super) fn client_cap(
    state: &mut State,
    weak: Weak<RefCell<State>>,
    id: i64,
) -> Box<dyn ClientHook> {
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

/// `resolve` / `reject` from the client for `id`: a push of the session's, or a promise the
/// client passed.
pub(super) fn settle(
    state: &Rc<RefCell<State>>,
    id: i64,
    outcome: Result<Expr, Expr>,
) -> Result<(), String> {
    let waiter = state.borrow_mut().awaiting.remove(&id);
    match waiter {
        Some(waiter) => {
            let _ = waiter.send(outcome);
        }
        // capnweb ignores resolutions of what it no longer waits for; so do we.
        None => debug!(id, "resolution of nothing awaited"),
    }
    Ok(())
}

/// The client's promise `id`'s resolution, awaited once however often it is used.
pub(super) fn client_promise(
    state: &Rc<RefCell<State>>,
    id: i64,
) -> Result<LocalBoxFuture<'static, Result<Expr, Rc<str>>>, String> {
    let mut state = state.borrow_mut();
    if let Some(shared) = state.client_promises.get(&id) {
        return Ok(shared.clone().boxed_local());
    }
    state.check_room()?;
    let (sender, receiver) = oneshot::channel();
    state.awaiting.insert(id, sender);
    let shared = async move {
        match receiver.await {
            Ok(Ok(expr)) => Ok(expr),
            Ok(Err(error)) => Err(Rc::from(error_message(&error))),
            Err(_) => Err(Rc::from("session closed")),
        }
    }
    .boxed_local()
    .shared();
    state.client_promises.insert(id, shared.clone());
    Ok(shared.boxed_local())
}

fn error_message(expr: &Expr) -> String {
    match expr {
        Expr::Error { kind, message, .. } => format!("{kind}: {message}"),
        other => format!("{other:?}"),
    }
}

impl ClientCap {
    /// A Cap'n Proto call on the export: push a call of it to the client, pull, and write the
    /// result into `results` by the schema.
    async fn call(
        self: Rc<Self>,
        interface_id: u64,
        ordinal: u16,
        params: Params<any_pointer::Owned>,
        mut results: Results<any_pointer::Owned>,
    ) -> Result<(), capnp::Error> {
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| capnp::Error::disconnected("session closed".into()))?;
        let (method, function, args) = {
            let mut borrowed = state.borrow_mut();
            let schema = borrowed.schema.clone();
            let interface = schema.interface(interface_id).ok_or_else(|| {
                capnp::Error::unimplemented(format!(
                    "interface {interface_id:#x} is not in the schema"
                ))
            })?;
            let function = interface.single_method().is_some();
            let method = interface
                .methods()
                .iter()
                .find(|m| m.ordinal == ordinal && m.interface_id == interface_id)
                .cloned()
                .ok_or_else(|| capnp::Error::unimplemented(format!("method @{ordinal}")))?;
            let mut caps = SessionCaps {
                state: &mut borrowed,
                weak: self.state.clone(),
            };
            let args = mapping::decode_args(&schema, method.params, params.get()?, &mut caps)
                .map_err(|e| capnp::Error::failed(e.to_string()))?;
            let args = args
                .into_iter()
                .map(|v| convert::value_to_expr(&mut borrowed, v))
                .collect();
            (method, function, args)
        };
        drop(params);
        let (sender, receiver) = oneshot::channel();
        let id = {
            let mut borrowed = state.borrow_mut();
            borrowed.check_room().map_err(capnp::Error::overloaded)?;
            let id = borrowed.next_import;
            borrowed.next_import += 1;
            borrowed.awaiting.insert(id, sender);
            id
        };
        // A single-method interface is a function to the client; others are stubs called by name.
        let path = if function {
            Vec::new()
        } else {
            vec![convert::path_key(&method.name)]
        };
        debug!(export = self.import_id, method = %method.name, "calling the client");
        self.outbox.send(&Message::Push(Expr::Pipeline {
            id: self.import_id,
            path,
            args: Some(args),
        }));
        self.outbox.send(&Message::Pull(id));
        drop(state);
        let outcome = receiver
            .await
            .map_err(|_| capnp::Error::disconnected("session closed".into()))?;
        // The client's export for the push is no longer needed.
        self.outbox.send(&Message::Release(id, 1));
        let expr = outcome.map_err(|e| capnp::Error::failed(error_message(&e)))?;
        let state = self
            .state
            .upgrade()
            .ok_or_else(|| capnp::Error::disconnected("session closed".into()))?;
        let mut args = Args::new(&state);
        let value = args.value(expr).map_err(capnp::Error::failed)?;
        let value = args
            .finish(self.state.clone(), vec![value])
            .await
            .map_err(|e| capnp::Error::failed(e.to_string()))?
            .pop()
            .unwrap_or(Value::Undefined);
        let mut borrowed = state.borrow_mut();
        let schema = borrowed.schema.clone();
        let mut caps = SessionCaps {
            state: &mut borrowed,
            weak: self.state.clone(),
        };
        let written = match &value {
            Value::Object(_) => {
                mapping::encode_object(&schema, method.results, &value, results.get(), &mut caps)
            }
            // A bare value is the results' first (usually only) field, as a function returns it.
            _ => mapping::encode_args(
                &schema,
                method.results,
                std::slice::from_ref(&value),
                results.get(),
                &mut caps,
            ),
        };
        written.map_err(|e| capnp::Error::failed(format!("result of {}: {e}", method.name)))
    }
}

/// The typed-client shim capnp-rpc needs to wrap [`ClientCap`] as a local capability.
struct ClientCapClient(Box<dyn ClientHook>);

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

/// capnp-rpc's dispatch for [`ClientCap`].
#[derive(Clone)]
struct ClientCapDispatch(Rc<ClientCap>);

impl std::ops::Deref for ClientCapDispatch {
    type Target = ClientCap;
    fn deref(&self) -> &ClientCap {
        &self.0
    }
}

impl capnp::capability::Server for ClientCapDispatch {
    fn dispatch_call(
        self,
        interface_id: u64,
        method_id: u16,
        params: Params<any_pointer::Owned>,
        results: Results<any_pointer::Owned>,
    ) -> DispatchCallResult {
        // The work starts when capnp-rpc polls the promise, never inside this call.
        let promise = Promise::from_future(self.0.call(interface_id, method_id, params, results));
        DispatchCallResult::new(promise, false)
    }

    fn as_ptr(&self) -> usize {
        Rc::as_ptr(&self.0) as usize
    }
}

impl FromServer<ClientCap> for ClientCapClient {
    type Dispatch = ClientCapDispatch;
    fn from_server(s: Rc<ClientCap>) -> ClientCapDispatch {
        ClientCapDispatch(s)
    }
}
