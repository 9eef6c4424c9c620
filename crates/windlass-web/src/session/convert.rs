//! Between expressions, values and Cap'n Proto: the session's side of the mapping.
//!
//! Pure conversions over the tables: nothing here evaluates an expression or makes a call, so
//! evaluation and callbacks both build on it.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use capnp::private::capability::PipelineOp;

use super::answer::Settled;
use super::caps::SessionCaps;
use super::state::{CapRef, State};
use crate::protocol::Expr;
use crate::schema::FieldType;
use crate::{mapping, CapId, Value};

/// A property path as field names (numbers, capnweb's array indexes, as their decimal text).
pub(super) fn path_strings(path: &[crate::protocol::PathKey]) -> Vec<String> {
    path.iter().map(|key| key.to_string()).collect()
}

/// A method name as a path element.
pub(super) fn path_key(name: &str) -> crate::protocol::PathKey {
    crate::protocol::PathKey::Name(name.to_string())
}

/// A Cap'n Proto exception as a reject's message: its type, then its text.
pub(super) fn error_text(error: &capnp::Error) -> String {
    let kind = match error.kind {
        capnp::ErrorKind::Failed => "failed",
        capnp::ErrorKind::Overloaded => "overloaded",
        capnp::ErrorKind::Disconnected => "disconnected",
        capnp::ErrorKind::Unimplemented => "unimplemented",
        _ => "failed",
    };
    if error.extra.is_empty() {
        format!("{kind}: {}", error.kind)
    } else {
        format!("{kind}: {}", error.extra)
    }
}

/// `["error", "Error", text]`.
pub(super) fn error_expr(text: &str) -> Expr {
    Expr::Error {
        kind: "Error".into(),
        message: text.into(),
        stack: None,
    }
}

/// What `path` names inside a settled answer.
pub(super) fn settled_at(
    weak: &Weak<RefCell<State>>,
    settled: &Settled,
    path: &[String],
) -> Result<Settled, String> {
    if path.is_empty() {
        return Ok(settled.clone());
    }
    match settled {
        Settled::Results {
            struct_id,
            response,
        } => {
            let state = weak.upgrade().ok_or("session closed")?;
            let schema = state.borrow().schema.clone();
            let field = schema
                .field_path(*struct_id, path)
                .map_err(|e| e.to_string())?;
            if let FieldType::Interface(interface_id) = field.ty {
                let ops: Vec<PipelineOp> = field
                    .pointers
                    .iter()
                    .map(|&i| PipelineOp::GetPointerField(i))
                    .collect();
                let reader = response.get().map_err(|e| error_text(&e))?;
                let hook = reader.get_pipelined_cap(&ops).map_err(|e| error_text(&e))?;
                return Ok(Settled::Cap {
                    hook: Rc::new(hook),
                    interface_id,
                });
            }
            let value = settled_value(weak, settled)?;
            let walked = walk(&value, path);
            // The rest of the results was decoded too: its handles are not needed.
            if let Some(state) = weak.upgrade() {
                let kept = walked.as_ref().map(cap_ids).unwrap_or_default();
                let mut borrowed = state.borrow_mut();
                let dropped: Vec<_> = cap_ids(&value)
                    .into_iter()
                    .filter(|cap| !kept.contains(cap))
                    .filter_map(|cap| borrowed.caps.remove(&cap))
                    .collect();
                drop(borrowed);
                drop(dropped);
            }
            Ok(Settled::Data(Rc::new(walked?)))
        }
        Settled::Data(value) => Ok(Settled::Data(Rc::new(walk(value, path)?))),
        Settled::Cap { .. } => Err(format!("a capability has no property `{}`", path[0])),
    }
}

fn walk(value: &Value, path: &[String]) -> Result<Value, String> {
    let mut at = value;
    for key in path {
        at = match at {
            Value::Object(_) => at.field(key),
            Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
        .ok_or_else(|| format!("no property `{key}`"))?;
    }
    Ok(at.clone())
}

/// A settled answer as a value (results decoded by the schema).
pub(super) fn settled_value(
    weak: &Weak<RefCell<State>>,
    settled: &Settled,
) -> Result<Value, String> {
    let state = weak.upgrade().ok_or("session closed")?;
    let mut state = state.borrow_mut();
    match settled {
        Settled::Results {
            struct_id,
            response,
        } => {
            let schema = state.schema.clone();
            let reader = response.get().map_err(|e| error_text(&e))?;
            let mut caps = SessionCaps {
                state: &mut state,
                weak: weak.clone(),
            };
            mapping::decode_object(&schema, *struct_id, reader, &mut caps)
                .map_err(|e| e.to_string())
        }
        Settled::Cap { hook, interface_id } => Ok(Value::Cap(state.new_cap(CapRef::Hook {
            hook: hook.add_ref(),
            interface_id: *interface_id,
        }))),
        Settled::Data(value) => Ok((**value).clone()),
    }
}

/// A settled answer as the expression of a `resolve`.
pub(super) fn settled_to_expr(
    state: &Rc<RefCell<State>>,
    settled: &Settled,
) -> Result<Expr, Rc<str>> {
    let value = settled_value(&Rc::downgrade(state), settled).map_err(Rc::from)?;
    let mut state = state.borrow_mut();
    Ok(value_to_expr(&mut state, value))
}

/// A value as an expression to send; its capabilities become exports.
pub(super) fn value_to_expr(state: &mut State, value: Value) -> Expr {
    match value {
        Value::Null => Expr::Null,
        Value::Undefined => Expr::Undefined,
        Value::Bool(b) => Expr::Bool(b),
        Value::Number(n) => Expr::Number(n),
        Value::BigInt(n) => Expr::BigInt(n),
        Value::String(s) => Expr::String(s),
        Value::Bytes(b) => Expr::Bytes(b),
        Value::Date(d) => Expr::Date(d),
        Value::Error { kind, message } => Expr::Error {
            kind,
            message,
            stack: None,
        },
        Value::Array(items) => {
            Expr::Array(items.into_iter().map(|v| value_to_expr(state, v)).collect())
        }
        Value::Object(fields) => Expr::Object(
            fields
                .into_iter()
                .map(|(k, v)| (k, value_to_expr(state, v)))
                .collect(),
        ),
        Value::Cap(cap) => match state.caps.remove(&cap) {
            Some(CapRef::Hook { hook, interface_id }) => {
                Expr::Export(state.export_cap(hook, interface_id))
            }
            Some(CapRef::ClientExport(id)) => Expr::Import {
                id,
                path: Vec::new(),
                args: None,
            },
            Some(CapRef::Deferred(_)) | None => Expr::Undefined,
        },
    }
}

/// A data expression (no references) as a value.
pub(crate) fn plain_value(expr: Expr) -> Result<Value, String> {
    Ok(match expr {
        Expr::Null => Value::Null,
        Expr::Undefined => Value::Undefined,
        Expr::Bool(b) => Value::Bool(b),
        Expr::Number(n) => Value::Number(n),
        Expr::BigInt(n) => Value::BigInt(n),
        Expr::String(s) => Value::String(s),
        Expr::Bytes(b) => Value::Bytes(b),
        Expr::Date(d) => Value::Date(d),
        Expr::Error { kind, message, .. } => Value::Error { kind, message },
        other => return Err(format!("unsupported expression: {other:?}")),
    })
}

/// Replaces deferred placeholders in `value` with what they resolved to.
pub(super) fn substitute(state: &mut State, value: &mut Value, resolved: &[Value]) {
    match value {
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| substitute(state, v, resolved)),
        Value::Object(fields) => fields
            .iter_mut()
            .for_each(|(_, v)| substitute(state, v, resolved)),
        Value::Cap(cap) => {
            if let Some(CapRef::Deferred(index)) = state.caps.get(cap) {
                let index = *index;
                state.caps.remove(cap);
                *value = resolved.get(index).cloned().unwrap_or(Value::Undefined);
            }
        }
        _ => {}
    }
}

/// The handles in `value`.
fn cap_ids(value: &Value) -> Vec<CapId> {
    let mut ids = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(fields) => stack.extend(fields.iter().map(|(_, v)| v)),
            Value::Cap(cap) => ids.push(*cap),
            _ => {}
        }
    }
    ids
}

/// Forgets the handles in `value` that the mapping did not use.
pub(super) fn forget_caps(state: &mut State, value: &Value) -> Vec<CapRef> {
    let mut dropped = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(fields) => stack.extend(fields.iter().map(|(_, v)| v)),
            Value::Cap(cap) => dropped.extend(state.caps.remove(cap)),
            _ => {}
        }
    }
    dropped
}

/// A copy of `value` whose capabilities are new handles for the same capabilities, so the copy
/// can be consumed (by the mapping or by sending it) while `value` stays usable.
pub(super) fn dup_caps(state: &mut State, value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(|v| dup_caps(state, v)).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), dup_caps(state, v)))
                .collect(),
        ),
        Value::Cap(cap) => {
            let copy = match state.caps.get(cap) {
                Some(CapRef::Hook { hook, interface_id }) => CapRef::Hook {
                    hook: hook.add_ref(),
                    interface_id: *interface_id,
                },
                Some(CapRef::ClientExport(id)) => CapRef::ClientExport(*id),
                Some(CapRef::Deferred(_)) | None => return Value::Undefined,
            };
            Value::Cap(state.new_cap(copy))
        }
        other => other.clone(),
    }
}

/// The Cap'n Proto capability a settled answer is, if it is one: a capability answer, or data
/// that is a handle on a Cap'n Proto capability.
pub(super) fn settled_cap(
    state: &State,
    settled: &Settled,
) -> Option<(Box<dyn capnp::private::capability::ClientHook>, u64)> {
    match settled {
        Settled::Cap { hook, interface_id } => Some((hook.add_ref(), *interface_id)),
        Settled::Data(value) => match &**value {
            Value::Cap(cap) => match state.caps.get(cap) {
                Some(CapRef::Hook { hook, interface_id }) => Some((hook.add_ref(), *interface_id)),
                _ => None,
            },
            _ => None,
        },
        Settled::Results { .. } => None,
    }
}
