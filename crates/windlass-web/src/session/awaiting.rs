//! What the session awaits from the client: `resolve` / `reject` for the session's pushes to it
//! and for the promises it passed.
//!
//! Only the tables lie below: both the arguments (which wait for the client's promises) and the
//! callbacks (which wait for the client's answers) build on this.

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::oneshot;
use futures::future::{FutureExt, LocalBoxFuture};
use tracing::debug;

use super::state::State;
use crate::protocol::Expr;

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

/// A reject's expression as the text of an error.
pub(super) fn error_message(expr: &Expr) -> String {
    match expr {
        Expr::Error { kind, message, .. } => format!("{kind}: {message}"),
        other => format!("{other:?}"),
    }
}
