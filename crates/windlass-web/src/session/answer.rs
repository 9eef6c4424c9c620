//! A push's result: pending or settled, and the capabilities that can be named inside it.
//!
//! Kept below the tables ([`super::state`]) because an export holds an [`Answer`]; an answer
//! needs only the schema, never the session, so it can be reasoned about on its own.

use std::future::Future;
use std::rc::Rc;

use capnp::any_pointer;
use capnp::capability::{Client, Response};
use capnp::private::capability::ClientHook;
use futures::future::{self, AbortHandle, FutureExt, LocalBoxFuture, Shared};

use crate::schema::{FieldType, Schema};

/// What a settled push evaluates to.
#[derive(Clone)]
pub(super) enum Settled {
    /// The results of a Cap'n Proto call: struct `struct_id` in `response`.
    Results {
        struct_id: u64,
        response: Rc<Response<any_pointer::Owned>>,
    },
    /// A capability (a property path that named one).
    Cap {
        hook: Rc<Box<dyn ClientHook>>,
        interface_id: u64,
    },
    /// Plain data (a pushed value, or a data property of a result).
    Data(Rc<crate::Value>),
}

/// The outcome of a push: settled, or the error's text for a reject.
pub(super) type Outcome = Result<Settled, Rc<str>>;

/// A push's result, pending or settled.
pub(super) struct Answer {
    /// Promise pipelining into the results (struct ID, pipeline); only for a call sent at once.
    pub(super) pipeline: Option<(u64, any_pointer::Pipeline)>,
    pub(super) outcome: Shared<LocalBoxFuture<'static, Outcome>>,
    /// The task driving `outcome`: capnp-rpc runs a local call only while its promise is
    /// polled, and a call used only for pipelining is never pulled.
    driver: AbortHandle,
}

impl Answer {
    /// An answer settled by `outcome`, driven from now on (on the current `LocalSet`).
    pub(super) fn spawn(
        pipeline: Option<(u64, any_pointer::Pipeline)>,
        outcome: impl Future<Output = Outcome> + 'static,
    ) -> Rc<Self> {
        let outcome = outcome.boxed_local().shared();
        let (driver_task, driver) = future::abortable(outcome.clone());
        tokio::task::spawn_local(driver_task);
        Rc::new(Self {
            pipeline,
            outcome,
            driver,
        })
    }

    /// The capability at `path` in the answer: pipelined when the call is in flight, or a
    /// promise capability resolved when the answer settles. `None` if the path names no
    /// capability.
    pub(super) fn cap_at(
        &self,
        schema: &Schema,
        path: &[String],
    ) -> Option<(Box<dyn ClientHook>, u64)> {
        if let Some((struct_id, pipeline)) = &self.pipeline {
            let field = schema.field_path(*struct_id, path).ok()?;
            let FieldType::Interface(interface_id) = field.ty else {
                return None;
            };
            let mut cap = pipeline.noop();
            for index in field.pointers {
                cap = cap.get_pointer_field(index);
            }
            return Some((cap.as_cap(), interface_id));
        }
        // The call has not gone out yet: only a settled capability answer can stand in for a
        // capability; its interface is known once it settles, so only the empty path is served.
        if !path.is_empty() {
            return None;
        }
        let outcome = self.outcome.clone();
        let interface_id = match outcome.peek() {
            Some(Ok(Settled::Cap { interface_id, .. })) => *interface_id,
            _ => return None,
        };
        let client: Client = capnp_rpc::new_future_client(async move {
            match outcome.await {
                Ok(Settled::Cap { hook, .. }) => Ok(Client::new(hook.add_ref())),
                Ok(_) => Err(capnp::Error::failed("not a capability".into())),
                Err(text) => Err(capnp::Error::failed(text.to_string())),
            }
        });
        Some((client.hook, interface_id))
    }
}

impl Drop for Answer {
    /// Released: dropping the promise cancels the Cap'n Proto call, as capnweb's release does.
    fn drop(&mut self) {
        self.driver.abort();
    }
}
