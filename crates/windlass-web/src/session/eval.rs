//! Expressions evaluated: pushes and pulls as Cap'n Proto calls, and the arguments of those
//! calls as values.
//!
//! One idea in two halves that recurse into each other: a call's arguments may hold calls
//! (evaluated first, their results substituted), and a pushed value is evaluated as arguments.
//! Everything it builds on (requests, conversions, the tables) lies below.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures::future::{self, FutureExt, LocalBoxFuture};
use tracing::debug;

use super::answer::{Answer, Settled};
use super::awaiting::client_promise;
use super::convert::{self, path_strings};
use super::remap;
use super::request::{results_outcome, send, target};
use super::state::{CapRef, Export, State};
use crate::protocol::{Expr, Message};
use crate::Value;

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
    let number = {
        let mut state = state.borrow_mut();
        state.next_task += 1;
        state.next_task
    };
    let task = async move {
        let outcome = outcome.await;
        let Some(state) = weak.upgrade() else { return };
        state.borrow_mut().tasks.remove(&number);
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
    state.tasks.insert(number, handle);
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
        Expr::Remap {
            id,
            path,
            captures,
            instructions,
        } => remap::evaluate(state, id, &path, &captures, instructions),
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
            if let Some((hook, interface_id)) = answer.cap_at(&borrowed.schema, path) {
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

/// Arguments being converted: promises of data among them are awaited before the call.
pub(super) struct Args {
    /// Weak: the futures of `deferred` may end up inside the state's own tables.
    state: Weak<RefCell<State>>,
    deferred: Vec<LocalBoxFuture<'static, Result<Value, Rc<str>>>>,
}

impl Args {
    pub(super) fn new(state: &Rc<RefCell<State>>) -> Self {
        Self {
            state: Rc::downgrade(state),
            deferred: Vec::new(),
        }
    }

    /// Whether no argument waits for a promise (the call can go out at once).
    pub(super) fn is_ready(&self) -> bool {
        self.deferred.is_empty()
    }

    fn state(&self) -> Result<Rc<RefCell<State>>, String> {
        self.state
            .upgrade()
            .ok_or_else(|| "session closed".to_string())
    }

    /// An expression as a value; capabilities become [`crate::CapId`]s.
    pub(super) fn value(&mut self, expr: Expr) -> Result<Value, String> {
        Ok(match expr {
            Expr::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|e| self.value(e))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Object(fields) => Value::Object(
                fields
                    .into_iter()
                    .map(|(k, e)| Ok((k, self.value(e)?)))
                    .collect::<Result<_, String>>()?,
            ),
            Expr::Export(id) => Value::Cap(self.state()?.borrow_mut().client_export(id)?),
            Expr::Promise(id) => {
                let resolution = client_promise(&self.state()?, id)?;
                let weak = self.state.clone();
                self.defer(async move {
                    let expr = resolution.await?;
                    let state = weak.upgrade().ok_or_else(|| Rc::from("session closed"))?;
                    let mut args = Args::new(&state);
                    let value = args.value(expr).map_err(Rc::from)?;
                    Ok(args
                        .finish(weak, vec![value])
                        .await?
                        .pop()
                        .unwrap_or(Value::Undefined))
                })
            }
            Expr::Pipeline { args: Some(_), .. } | Expr::Import { args: Some(_), .. } => {
                // A call inside the arguments: made first, its result substituted.
                let answer = evaluate(&self.state()?, expr)?;
                self.defer_answer(answer, Vec::new())
            }
            Expr::Pipeline {
                id,
                path,
                args: None,
            }
            | Expr::Import {
                id,
                path,
                args: None,
            } => {
                let path = path_strings(&path);
                let state = self.state()?;
                let mut state = state.borrow_mut();
                match state.exports.get(&id) {
                    None => return Err(format!("reference to unknown export {id}")),
                    Some(Export::Cap {
                        client,
                        interface_id,
                        ..
                    }) if path.is_empty() => {
                        let cap = CapRef::Hook {
                            hook: client.hook.add_ref(),
                            interface_id: *interface_id,
                        };
                        Value::Cap(state.new_cap(cap))
                    }
                    Some(Export::Cap { .. }) => {
                        let text = format!("a capability has no property `{}`", path[0]);
                        drop(state);
                        self.defer(future::ready(Err(Rc::from(text))))
                    }
                    Some(Export::Answer { answer, .. }) => {
                        let answer = answer.clone();
                        if let Some((hook, interface_id)) = answer.cap_at(&state.schema, &path) {
                            Value::Cap(state.new_cap(CapRef::Hook { hook, interface_id }))
                        } else {
                            drop(state);
                            self.defer_answer(answer, path)
                        }
                    }
                }
            }
            Expr::Remap { .. } => {
                // A map inside the arguments: made first, its result substituted.
                let answer = evaluate(&self.state()?, expr)?;
                self.defer_answer(answer, Vec::new())
            }
            other => convert::plain_value(other)?,
        })
    }

    fn defer_answer(&mut self, answer: Rc<Answer>, path: Vec<String>) -> Value {
        let weak = self.state.clone();
        self.defer(async move {
            let settled = answer.outcome.clone().await?;
            let settled = convert::settled_at(&weak, &settled, &path).map_err(Rc::from)?;
            convert::settled_value(&weak, &settled).map_err(Rc::from)
        })
    }

    fn defer(
        &mut self,
        future: impl std::future::Future<Output = Result<Value, Rc<str>>> + 'static,
    ) -> Value {
        let index = self.deferred.len();
        self.deferred.push(future.boxed_local());
        match self.state.upgrade() {
            Some(state) => Value::Cap(state.borrow_mut().new_cap(CapRef::Deferred(index))),
            None => Value::Undefined,
        }
    }

    /// Awaits the deferred values and puts them in place.
    pub(super) async fn finish(
        self,
        weak: Weak<RefCell<State>>,
        mut values: Vec<Value>,
    ) -> Result<Vec<Value>, Rc<str>> {
        if self.deferred.is_empty() {
            return Ok(values);
        }
        let resolved = future::try_join_all(self.deferred).await?;
        let state = weak.upgrade().ok_or_else(|| Rc::from("session closed"))?;
        let mut state = state.borrow_mut();
        for value in &mut values {
            convert::substitute(&mut state, value, &resolved);
        }
        Ok(values)
    }
}
