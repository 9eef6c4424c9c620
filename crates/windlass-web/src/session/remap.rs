//! capnweb's `.map()` (`["remap", id, path, captures, instructions]`): the mapper's
//! instructions run on the server, once per element of an array (once for any other value;
//! `null` and `undefined` map to themselves), with no round trip to the client per element.
//!
//! Inside a mapper the import table is local: `0` is the element, `-1, -2, …` the captures,
//! `1, 2, …` the results of earlier instructions. Each instruction is a property read, a call
//! on a capability (a capture, or one inside the element or an earlier result) or a data
//! expression built from those; the last one is the mapper's result. Instructions run one after
//! another, each call awaited before the next instruction (no pipelining inside a mapper).
//!
//! Above `request` (calls) and `convert` (values), below `eval`, which dispatches to it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures::future::{self, FutureExt, LocalBoxFuture, Shared};

use super::answer::{Answer, Outcome, Settled};
use super::convert::{self, path_strings};
use super::request::{results_outcome, send, Target};
use super::state::{Export, State};
use crate::protocol::{Capture, Expr, PathKey};
use crate::Value;

/// A settled answer, or one still to settle: what a capture or the mapped value stands for.
type Pending = Shared<LocalBoxFuture<'static, Outcome>>;

/// Starts a remap of export `id` at `path`. `Err` is a protocol violation (an unknown export or
/// capture); anything that goes wrong while mapping rejects the answer.
pub(super) fn evaluate(
    state: &Rc<RefCell<State>>,
    id: i64,
    path: &[PathKey],
    captures: &[Capture],
    instructions: Vec<Expr>,
) -> Result<Rc<Answer>, String> {
    let input = export_at(state, id, &path_strings(path))?;
    // The client's stubs the mapper captured: handles of the remap's own, dropped at its end.
    let mut client_stubs = Vec::new();
    let captures = captures
        .iter()
        .map(|capture| match capture {
            Capture::Import(id) => export_at(state, *id, &[]),
            Capture::Export(id) => {
                let stub = Value::Cap(state.borrow_mut().client_export(*id)?);
                client_stubs.push(stub.clone());
                Ok(ready(Settled::Data(Rc::new(stub))))
            }
        })
        .collect::<Result<Vec<_>, String>>()?;
    let weak = Rc::downgrade(state);
    Ok(Answer::spawn(None, async move {
        let output = async {
            let mapper = Mapper {
                weak: weak.clone(),
                captures: future::try_join_all(captures).await?,
                instructions,
            };
            mapper.map(input).await
        }
        .await;
        forget(&weak, &Value::Array(client_stubs));
        Ok(Settled::Data(Rc::new(output?)))
    }))
}

fn ready(settled: Settled) -> Pending {
    future::ready(Ok(settled)).boxed_local().shared()
}

/// What export `id` at `path` will be: a capability at once, or a push's answer once settled.
fn export_at(state: &Rc<RefCell<State>>, id: i64, path: &[String]) -> Result<Pending, String> {
    let borrowed = state.borrow();
    let outcome = match borrowed.exports.get(&id) {
        None => return Err(format!("remap of unknown export {id}")),
        Some(Export::Cap {
            client,
            interface_id,
            ..
        }) => {
            if let Some(first) = path.first() {
                let text = format!("a capability has no property `{first}`");
                return Ok(future::ready(Err(Rc::from(text))).boxed_local().shared());
            }
            return Ok(ready(Settled::Cap {
                hook: Rc::new(client.hook.add_ref()),
                interface_id: *interface_id,
            }));
        }
        Some(Export::Answer { answer, .. }) => answer.outcome.clone(),
    };
    let weak = Rc::downgrade(state);
    let path = path.to_vec();
    Ok(async move {
        let settled = outcome.await?;
        convert::settled_at(&weak, &settled, &path).map_err(Rc::from)
    }
    .boxed_local()
    .shared())
}

/// Drops the handles in `value`.
fn forget(weak: &Weak<RefCell<State>>, value: &Value) {
    if let Some(state) = weak.upgrade() {
        let dropped = convert::forget_caps(&mut state.borrow_mut(), value);
        drop(dropped);
    }
}

/// One mapper: its captures and instructions, run once per element.
///
/// Handles: every `Data` entry of a run's table owns its handles (a value taken from another
/// `Data` entry is copied with [`convert::dup_caps`]), so a run drops what it made and nothing
/// else; the input and the captures outlive the runs.
struct Mapper {
    weak: Weak<RefCell<State>>,
    captures: Vec<Settled>,
    instructions: Vec<Expr>,
}

impl Mapper {
    /// The mapper applied to what `input` settles to: to each element of an array, to any other
    /// value once; `null` and `undefined` map to themselves, as in capnweb.
    async fn map(&self, input: Pending) -> Result<Value, Rc<str>> {
        let input = input.await?;
        let input = self.owned(&input, &input)?;
        let output = match &input {
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match self.run(item).await {
                        Ok(value) => out.push(value),
                        Err(error) => {
                            forget(&self.weak, &Value::Array(out));
                            forget(&self.weak, &input);
                            return Err(error);
                        }
                    }
                }
                Ok(Value::Array(out))
            }
            Value::Null | Value::Undefined => Ok(input.clone()),
            other => self.run(other).await,
        };
        forget(&self.weak, &input);
        output
    }

    /// `settled` (taken from `entry`) as a value with handles of its own.
    fn owned(&self, entry: &Settled, settled: &Settled) -> Result<Value, String> {
        let value = convert::settled_value(&self.weak, settled)?;
        if !matches!(entry, Settled::Data(_)) {
            // Decoded from results, or a capability: the handles are new.
            return Ok(value);
        }
        let state = self.weak.upgrade().ok_or("session closed")?;
        let copy = convert::dup_caps(&mut state.borrow_mut(), &value);
        Ok(copy)
    }

    /// The mapper's result for one element: its last instruction's value.
    async fn run(&self, element: &Value) -> Result<Value, Rc<str>> {
        let input = Settled::Data(Rc::new(element.clone()));
        let mut table: Vec<Settled> = Vec::with_capacity(self.instructions.len());
        let mut outcome = Ok(());
        for instruction in &self.instructions {
            match self.step(&input, &table, instruction).await {
                Ok(settled) => table.push(settled),
                Err(error) => {
                    outcome = Err(error);
                    break;
                }
            }
        }
        let last = table.pop();
        for entry in &table {
            if let Settled::Data(value) = entry {
                forget(&self.weak, value);
            }
        }
        outcome?;
        Ok(match last {
            None => Value::Undefined,
            // Its handles are its own (see `Mapper`): they move to the result.
            Some(Settled::Data(value)) => (*value).clone(),
            Some(last) => convert::settled_value(&self.weak, &last)?,
        })
    }

    /// Entry `id` of the mapper's local import table.
    fn local<'a>(
        &'a self,
        input: &'a Settled,
        table: &'a [Settled],
        id: i64,
    ) -> Result<&'a Settled, String> {
        let entry = match id {
            0 => Some(input),
            n if n < 0 => usize::try_from(-(n + 1))
                .ok()
                .and_then(|i| self.captures.get(i)),
            n => usize::try_from(n - 1).ok().and_then(|i| table.get(i)),
        };
        entry.ok_or_else(|| format!("mapper reference {id} names nothing (yet)"))
    }

    async fn step(
        &self,
        input: &Settled,
        table: &[Settled],
        instruction: &Expr,
    ) -> Result<Settled, Rc<str>> {
        match instruction {
            Expr::Pipeline { id, path, args } | Expr::Import { id, path, args } => {
                let entry = self.local(input, table, *id)?;
                let path = path_strings(path);
                match args {
                    Some(args) => self.call(input, table, entry, &path, args).await,
                    None => {
                        let settled = convert::settled_at(&self.weak, entry, &path)?;
                        if !matches!(settled, Settled::Data(_)) {
                            return Ok(settled);
                        }
                        let value = self.owned(entry, &settled)?;
                        Ok(Settled::Data(Rc::new(value)))
                    }
                }
            }
            data => {
                let value = self.value(input, table, data)?;
                Ok(Settled::Data(Rc::new(value)))
            }
        }
    }

    /// A call of the capability at `path` in `entry`: the whole path naming a capability to call
    /// as a function, or the last element the method of the capability the rest names.
    async fn call(
        &self,
        input: &Settled,
        table: &[Settled],
        entry: &Settled,
        path: &[String],
        args: &[Expr],
    ) -> Result<Settled, Rc<str>> {
        let state = self.weak.upgrade().ok_or("session closed")?;
        let cap_at = |path: &[String]| -> Result<Option<_>, String> {
            let settled = convert::settled_at(&self.weak, entry, path)?;
            Ok(convert::settled_cap(&state.borrow(), &settled))
        };
        let schema = state.borrow().schema.clone();
        let target = match (cap_at(path), path.split_last()) {
            (Ok(Some((hook, interface))), _) => Target::new(&schema, hook, interface, None),
            (_, Some((name, prefix))) => match cap_at(prefix)? {
                Some((hook, interface)) => Target::new(&schema, hook, interface, Some(name)),
                None => Err(format!("`{}` is not a capability", prefix.join("."))),
            },
            (_, None) => Err("the mapper calls something that is not a capability".into()),
        }?;
        let values = args
            .iter()
            .map(|arg| self.value(input, table, arg))
            .collect::<Result<Vec<_>, _>>()?;
        let (_, struct_id, promise) = send(&state, target, &values)?;
        drop(state);
        results_outcome(struct_id, promise).await
    }

    /// A data expression with mapper references in it, as a value with handles of its own.
    fn value(&self, input: &Settled, table: &[Settled], expr: &Expr) -> Result<Value, String> {
        Ok(match expr {
            Expr::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|e| self.value(input, table, e))
                    .collect::<Result<_, _>>()?,
            ),
            Expr::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(k, e)| Ok((k.clone(), self.value(input, table, e)?)))
                    .collect::<Result<_, String>>()?,
            ),
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
                let entry = self.local(input, table, *id)?;
                let settled = convert::settled_at(&self.weak, entry, &path_strings(path))?;
                self.owned(entry, &settled)?
            }
            Expr::Pipeline { .. } | Expr::Import { .. } | Expr::Remap { .. } => {
                return Err("a mapper's call must be an instruction of its own".into())
            }
            Expr::Export(_) | Expr::Promise(_) => {
                return Err("a mapper has no export table; capture the stub".into())
            }
            other => convert::plain_value(other.clone())?,
        })
    }
}
