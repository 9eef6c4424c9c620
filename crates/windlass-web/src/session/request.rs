//! Cap'n Proto requests: which capability and method a call names, and sending it with params
//! built by the schema.
//!
//! The step of evaluation that touches Cap'n Proto; it never evaluates an expression itself, so
//! it sits below `eval`.

use std::cell::RefCell;
use std::rc::Rc;

use capnp::any_pointer;
use capnp::capability::Client;
use capnp::private::capability::ClientHook;
use tracing::debug;

use super::answer::{Outcome, Settled};
use super::caps::SessionCaps;
use super::convert::{error_text, forget_caps};
use super::state::{Export, State};
use crate::schema::{Method, Schema};
use crate::{mapping, Value};

/// What a call goes to: a capability and one of its methods.
pub(super) struct Target {
    hook: Box<dyn ClientHook>,
    method: Method,
}

impl Target {
    /// The method `name` of `hook`, a capability of interface `interface_id`; without a name,
    /// the interface's only method (a capability called as a function).
    ///
    /// # Errors
    /// The interface is not in the schema, has no such method, or (without a name) more than
    /// one.
    pub(super) fn new(
        schema: &Schema,
        hook: Box<dyn ClientHook>,
        interface_id: u64,
        name: Option<&str>,
    ) -> Result<Self, String> {
        let interface = schema
            .interface(interface_id)
            .ok_or_else(|| format!("interface {interface_id:#x} is not in the schema"))?;
        let method = match name {
            Some(name) => interface
                .method(name)
                .ok_or_else(|| format!("no method `{name}` in {}", interface.name()))?,
            None => interface
                .single_method()
                .ok_or("only a single-method interface can be called directly")?,
        };
        Ok(Self {
            hook,
            method: method.clone(),
        })
    }
}

pub(super) type Promise =
    capnp::capability::Promise<capnp::capability::Response<any_pointer::Owned>, capnp::Error>;

pub(super) async fn results_outcome(struct_id: u64, promise: Promise) -> Outcome {
    match promise.await {
        Ok(response) => Ok(Settled::Results {
            struct_id,
            response: Rc::new(response),
        }),
        Err(error) => Err(error_text(&error).into()),
    }
}

/// Builds the params by the schema and sends the call.
pub(super) fn send(
    state: &Rc<RefCell<State>>,
    target: Target,
    values: &[Value],
) -> Result<(any_pointer::Pipeline, u64, Promise), String> {
    let client = Client::new(target.hook);
    let method = target.method;
    let mut request = client.new_call::<any_pointer::Owned, any_pointer::Owned>(
        method.interface_id,
        method.ordinal,
        None,
    );
    {
        let mut borrowed = state.borrow_mut();
        let schema = borrowed.schema.clone();
        let mut caps = SessionCaps {
            state: &mut borrowed,
            weak: Rc::downgrade(state),
        };
        let written =
            mapping::encode_args(&schema, method.params, values, request.get(), &mut caps)
                .map_err(|e| format!("{}: {e}", method.name));
        // Handles the mapping did not take (or took before failing) are dropped after the borrow.
        let unused: Vec<_> = values
            .iter()
            .flat_map(|v| forget_caps(&mut borrowed, v))
            .collect();
        drop(borrowed);
        drop(unused);
        written?;
    }
    debug!(method = %method.name, "calling");
    let remote = request.send();
    Ok((remote.pipeline, method.results, remote.promise))
}

/// Resolves `path` on export `id` to a capability and a method. The outer `Err` is a protocol
/// violation, the inner one a reject.
pub(super) fn target(
    state: &Rc<RefCell<State>>,
    id: i64,
    path: &[String],
) -> Result<Result<Target, String>, String> {
    let state = state.borrow();
    let schema = state.schema.clone();
    let found = |interface_id: u64, name: Option<&str>| (interface_id, name.map(str::to_string));
    let (hook, method) = match state.exports.get(&id) {
        None => return Err(format!("call on unknown export {id}")),
        Some(Export::Cap {
            client,
            interface_id,
            ..
        }) => {
            let method = match path {
                [] => Ok(found(*interface_id, None)),
                [name] => Ok(found(*interface_id, Some(name))),
                _ => Err(format!("a capability has no property `{}`", path[0])),
            };
            (client.hook.add_ref(), method)
        }
        Some(Export::Answer { answer, .. }) => {
            // The whole path may name a capability (then call its single method), else the last
            // element is the method of the capability the rest names.
            let whole = answer.cap_at(&state.schema, path);
            match whole {
                Some((hook, interface_id)) if !path.is_empty() => {
                    (hook, Ok(found(interface_id, None)))
                }
                _ => match path.split_last() {
                    None => return Ok(Err("a result is not callable".into())),
                    Some((name, prefix)) => match answer.cap_at(&state.schema, prefix) {
                        Some((hook, interface_id)) => (hook, Ok(found(interface_id, Some(name)))),
                        None => {
                            return Ok(Err(format!("`{}` is not a capability", prefix.join("."))))
                        }
                    },
                },
            }
        }
    };
    Ok(method
        .and_then(|(interface_id, name)| Target::new(&schema, hook, interface_id, name.as_deref())))
}
