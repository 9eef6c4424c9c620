//! Arguments of a call: expressions to values, with promises of data awaited before the call.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures::future::{self, FutureExt, LocalBoxFuture};

use super::convert::{self, path_strings};
use super::eval::{answer_cap, evaluate};
use super::state::{Answer, CapRef, Export, State};
use crate::protocol::Expr;
use crate::Value;

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
            Expr::Export(id) => {
                let state = self.state()?;
                let mut state = state.borrow_mut();
                state.check_room()?;
                state
                    .client_imports
                    .borrow_mut()
                    .entry(id)
                    .or_insert_with(|| super::state::ClientImport {
                        refcount: 0,
                        server: Weak::new(),
                    })
                    .refcount += 1;
                Value::Cap(state.new_cap(CapRef::ClientExport(id)))
            }
            Expr::Promise(id) => {
                let resolution = super::callback::client_promise(&self.state()?, id)?;
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
                        if let Some((hook, interface_id)) = answer_cap(&state, &answer, &path) {
                            Value::Cap(state.new_cap(CapRef::Hook { hook, interface_id }))
                        } else {
                            drop(state);
                            self.defer_answer(answer, path)
                        }
                    }
                }
            }
            Expr::Remap { .. } => return Err(".map() is not supported by this server".into()),
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
