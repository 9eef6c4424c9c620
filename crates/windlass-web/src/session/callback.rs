//! The client's exports called from Cap'n Proto: a call on one becomes a push to the client,
//! and the client's answer is written into the call's results.
//!
//! The top of the session: a callback decodes params, pushes, awaits the client and converts
//! its answer as arguments, so it uses every other file. The handle it serves ([`ClientCap`]) is
//! made by `caps` from the tables; this file supplies capnp-rpc's dispatch for it.

use std::rc::Rc;

use capnp::any_pointer;
use capnp::capability::{DispatchCallResult, FromServer, Params, Promise, Results};
use futures::channel::oneshot;
use tracing::debug;

use super::awaiting::error_message;
use super::caps::{ClientCapClient, SessionCaps};
use super::convert;
use super::eval::Args;
use super::state::ClientCap;
use crate::protocol::{Expr, Message};
use crate::{mapping, Value};

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

/// capnp-rpc's dispatch for [`ClientCap`].
#[derive(Clone)]
pub(super) struct ClientCapDispatch(Rc<ClientCap>);

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
