//! Pushes and pulls: Cap'n Web expressions evaluated as Cap'n Proto calls.

use std::cell::RefCell;
use std::rc::Rc;

use capnp::any_pointer;
use capnp::capability::Client;
use capnp::private::capability::ClientHook;
use futures::future;
use tracing::debug;

use super::args::Args;
use super::convert::{self, error_text, path_strings};
use super::state::{Answer, Export, Outcome, Settled, State};
use crate::protocol::{Expr, Message};
use crate::schema::{FieldType, Method};
use crate::{mapping, Value};

/// `["push", expr]`: evaluates `expr` as the client's next import.
pub(super) fn push(state: &Rc<RefCell<State>>, expr: Expr) -> Result<(), String> {
    state.borrow().check_room()?;
    let answer = evaluate(state, expr)?;
    let mut state = state.borrow_mut();
    let id = state.next_push;
    state.next_push += 1;
    debug!(id, "push");
    state.exports.insert(
        id,
        Export::Answer {
            answer,
            refcount: 1,
        },
    );
    Ok(())
}

/// `["pull", id]`: sends `resolve` or `reject` for export `id` once it settles.
pub(super) fn pull(state: &Rc<RefCell<State>>, id: i64) -> Result<(), String> {
    let outcome = match state.borrow().exports.get(&id) {
        Some(Export::Answer { answer, .. }) => answer.outcome.clone(),
        Some(Export::Cap { .. }) => {
            return Err(format!("pull of export {id}, which is not a promise"))
        }
        None => return Err(format!("pull of unknown export {id}")),
    };
    let weak = Rc::downgrade(state);
    let task = async move {
        let outcome = outcome.await;
        let Some(state) = weak.upgrade() else { return };
        let message = match outcome.and_then(|settled| convert::settled_to_expr(&state, &settled)) {
            Ok(expr) => Message::Resolve(id, expr),
            Err(text) => Message::Reject(id, convert::error_expr(&text)),
        };
        let mut state = state.borrow_mut();
        state.outbox.send(&message);
        state.pulls_outstanding -= 1;
        if state.pulls_outstanding == 0 {
            state.drained.notify_waiters();
        }
    };
    let (task, handle) = future::abortable(task);
    let mut state = state.borrow_mut();
    state.pulls_outstanding += 1;
    state.tasks.retain(|t| !t.is_aborted());
    state.tasks.push(handle);
    tokio::task::spawn_local(task);
    Ok(())
}

/// An expression's value as a (possibly pending) answer. `Err` is a protocol violation (abort);
/// errors of the call itself make a rejected answer.
pub(super) fn evaluate(state: &Rc<RefCell<State>>, expr: Expr) -> Result<Rc<Answer>, String> {
    match expr {
        Expr::Pipeline {
            id,
            path,
            args: Some(args),
        }
        | Expr::Import {
            id,
            path,
            args: Some(args),
        } => call(state, id, &path_strings(&path), args),
        Expr::Pipeline {
            id,
            path,
            args: None,
        }
        | Expr::Import {
            id,
            path,
            args: None,
        } => property(state, id, &path_strings(&path)),
        Expr::Remap { .. } => Ok(rejected(".map() is not supported by this server".into())),
        data => {
            let mut args = Args::new(state);
            let value = args.value(data)?;
            let weak = Rc::downgrade(state);
            Ok(Answer::spawn(None, async move {
                let value = args
                    .finish(weak, vec![value])
                    .await?
                    .pop()
                    .unwrap_or(Value::Undefined);
                Ok(Settled::Data(Rc::new(value)))
            }))
        }
    }
}

fn rejected(text: Rc<str>) -> Rc<Answer> {
    Answer::spawn(None, future::ready(Err(text)))
}

/// What a call goes to: a capability and one of its methods.
struct Target {
    hook: Box<dyn ClientHook>,
    method: Method,
}

/// A call on export `id` at `path` with `args`.
fn call(
    state: &Rc<RefCell<State>>,
    id: i64,
    path: &[String],
    args: Vec<Expr>,
) -> Result<Rc<Answer>, String> {
    let target = match target(state, id, path)? {
        Ok(target) => target,
        Err(text) => return Ok(rejected(text.into())),
    };
    let mut builder = Args::new(state);
    let values = args
        .into_iter()
        .map(|a| builder.value(a))
        .collect::<Result<Vec<_>, _>>()?;
    let weak = Rc::downgrade(state);
    if builder.is_ready() {
        return Ok(match send(state, target, &values) {
            Ok((pipeline, results, promise)) => {
                Answer::spawn(Some((results, pipeline)), results_outcome(results, promise))
            }
            Err(text) => rejected(text.into()),
        });
    }
    // Some arguments are promises of data: the call goes out once they have resolved.
    Ok(Answer::spawn(None, async move {
        let values = builder.finish(weak.clone(), values).await?;
        let state = weak.upgrade().ok_or_else(|| Rc::from("session closed"))?;
        let (_, results, promise) = send(&state, target, &values).map_err(Rc::from)?;
        results_outcome(results, promise).await
    }))
}

type Promise =
    capnp::capability::Promise<capnp::capability::Response<any_pointer::Owned>, capnp::Error>;

async fn results_outcome(struct_id: u64, promise: Promise) -> Outcome {
    match promise.await {
        Ok(response) => Ok(Settled::Results {
            struct_id,
            response: Rc::new(response),
        }),
        Err(error) => Err(error_text(&error).into()),
    }
}

/// Builds the params by the schema and sends the call.
fn send(
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
        let mut caps = convert::SessionCaps {
            state: &mut borrowed,
            weak: Rc::downgrade(state),
        };
        let written =
            mapping::encode_args(&schema, method.params, values, request.get(), &mut caps)
                .map_err(|e| format!("{}: {e}", method.name));
        // Handles the mapping did not take (or took before failing) are dropped after the borrow.
        let unused: Vec<_> = values
            .iter()
            .flat_map(|v| convert::forget_caps(&mut borrowed, v))
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
fn target(
    state: &Rc<RefCell<State>>,
    id: i64,
    path: &[String],
) -> Result<Result<Target, String>, String> {
    let state = state.borrow();
    let schema = state.schema.clone();
    let found = |interface_id: u64, name: Option<&str>| -> Result<Method, String> {
        let interface = schema
            .interface(interface_id)
            .ok_or_else(|| format!("interface {interface_id:#x} is not in the schema"))?;
        match name {
            Some(name) => interface
                .method(name)
                .cloned()
                .ok_or_else(|| format!("no method `{name}`")),
            None => interface
                .single_method()
                .cloned()
                .ok_or_else(|| "only a single-method interface can be called directly".to_string()),
        }
    };
    let (hook, method) = match state.exports.get(&id) {
        None => return Err(format!("call on unknown export {id}")),
        Some(Export::Cap {
            client,
            interface_id,
            ..
        }) => {
            let method = match path {
                [] => found(*interface_id, None),
                [name] => found(*interface_id, Some(name)),
                _ => Err(format!("a capability has no property `{}`", path[0])),
            };
            (client.hook.add_ref(), method)
        }
        Some(Export::Answer { answer, .. }) => {
            // The whole path may name a capability (then call its single method), else the last
            // element is the method of the capability the rest names.
            let whole = answer_cap(&state, answer, path);
            match whole {
                Some((hook, interface_id)) if !path.is_empty() => (hook, found(interface_id, None)),
                _ => match path.split_last() {
                    None => return Ok(Err("a result is not callable".into())),
                    Some((name, prefix)) => match answer_cap(&state, answer, prefix) {
                        Some((hook, interface_id)) => (hook, found(interface_id, Some(name))),
                        None => {
                            return Ok(Err(format!("`{}` is not a capability", prefix.join("."))))
                        }
                    },
                },
            }
        }
    };
    Ok(method.map(|method| Target { hook, method }))
}

/// The capability at `path` in an answer: pipelined when the call is in flight, or a promise
/// capability resolved when the answer settles. `None` if the path names no capability.
pub(super) fn answer_cap(
    state: &State,
    answer: &Answer,
    path: &[String],
) -> Option<(Box<dyn ClientHook>, u64)> {
    if let Some((struct_id, pipeline)) = &answer.pipeline {
        let field = state.schema.field_path(*struct_id, path).ok()?;
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
    let outcome = answer.outcome.clone();
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

/// A push of a property path (no call): the capability or data it names.
fn property(state: &Rc<RefCell<State>>, id: i64, path: &[String]) -> Result<Rc<Answer>, String> {
    let borrowed = state.borrow();
    match borrowed.exports.get(&id) {
        None => Err(format!("reference to unknown export {id}")),
        Some(Export::Cap {
            client,
            interface_id,
            ..
        }) => Ok(if path.is_empty() {
            let settled = Settled::Cap {
                hook: Rc::new(client.hook.add_ref()),
                interface_id: *interface_id,
            };
            Answer::spawn(None, future::ready(Ok(settled)))
        } else {
            rejected(format!("a capability has no property `{}`", path[0]).into())
        }),
        Some(Export::Answer { answer, .. }) => {
            if let Some((hook, interface_id)) = answer_cap(&borrowed, answer, path) {
                let settled = Settled::Cap {
                    hook: Rc::new(hook),
                    interface_id,
                };
                return Ok(Answer::spawn(None, future::ready(Ok(settled))));
            }
            let outcome = answer.outcome.clone();
            let path = path.to_vec();
            let weak = Rc::downgrade(state);
            Ok(Answer::spawn(None, async move {
                let settled = outcome.await?;
                convert::settled_at(&weak, &settled, &path).map_err(Rc::from)
            }))
        }
    }
}
