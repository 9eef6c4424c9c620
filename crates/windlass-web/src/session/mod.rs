//! One Cap'n Web session over a Cap'n Proto bootstrap capability.
//!
//! The session is transport-free: [`Session::receive`] takes one message's text, and what the
//! session says goes out through the receiver [`Session::new`] returns, one message's text per
//! item. It runs on the `LocalSet` of the thread that made it (capnp-rpc is `!Send`).
//!
//! Tables follow capnweb's ID rules (see its `protocol.md`): export 0 is the bootstrap, the
//! client's pushes take export IDs 1, 2, …; capabilities the session sends take -1, -2, …; the
//! client's own exports are negative IDs it picked, the session's pushes to the client 1, 2, ….

// Layers from the bottom up, each file using only those before it: outbox, answer, state, caps,
// convert, awaiting, request, remap, eval, callback.
mod answer;
mod awaiting;
mod callback;
mod caps;
mod convert;
mod eval;
mod outbox;
mod remap;
mod request;
mod state;

/// Data expressions as values, for the fuzzing harness's mapping too.
#[cfg(feature = "fuzzing")]
pub(crate) use convert::plain_value;
#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::rc::Rc;

use futures::channel::mpsc;
use tracing::debug;

use crate::protocol::{Expr, Limits, Message};
use crate::schema::Schema;
use outbox::Outbox;
use state::State;

/// A session's limits and abilities.
#[derive(Clone, Debug)]
pub(crate) struct SessionConfig {
    /// The largest incoming message text, in bytes.
    pub(crate) max_message_bytes: usize,
    /// Live entries in the import and export tables together, at most.
    pub(crate) max_table_entries: usize,
    /// Whether the server may call the client's functions (not during an HTTP batch, whose
    /// client cannot answer before the response).
    pub(crate) callbacks: bool,
}

/// The session ended: an abort was sent or received.
#[derive(Debug)]
pub(crate) struct SessionEnded;

/// A Cap'n Web session bound to one bootstrap capability.
pub(crate) struct Session {
    state: Rc<RefCell<State>>,
    outbox: Rc<Outbox>,
}

impl Session {
    /// A session whose main interface (import 0 on the client's side) is `bootstrap`, of the
    /// interface `interface_id` in `schema`.
    pub(crate) fn new(
        schema: Rc<Schema>,
        bootstrap: capnp::capability::Client,
        interface_id: u64,
        config: SessionConfig,
    ) -> (Self, mpsc::UnboundedReceiver<String>) {
        let (sender, receiver) = mpsc::unbounded();
        let outbox = Rc::new(Outbox::new(sender));
        let state = State::new(schema, bootstrap, interface_id, config, outbox.clone());
        (Self { state, outbox }, receiver)
    }

    /// Processes one message.
    ///
    /// # Errors
    /// [`SessionEnded`] when the session is over: the peer aborted, or its message was malformed
    /// or broke a limit (an abort saying why has been queued).
    pub(crate) fn receive(&self, text: &str) -> Result<(), SessionEnded> {
        if self.outbox.is_closed() {
            return Err(SessionEnded);
        }
        let limits = {
            let state = self.state.borrow();
            Limits {
                max_message_bytes: state.config.max_message_bytes,
                ..Limits::default()
            }
        };
        let message = match Message::parse(text, &limits) {
            Ok(message) => message,
            Err(error) => {
                // The listener logs the aborted session within its log budget.
                debug!(%error, "malformed message");
                self.abort(&format!("malformed message: {error}"));
                return Err(SessionEnded);
            }
        };
        debug!(?message, "received");
        let outcome = match message {
            Message::Push(expr) => eval::push(&self.state, expr),
            Message::Pull(id) => eval::pull(&self.state, id),
            Message::Release(id, count) => State::release(&self.state, id, count),
            Message::Resolve(id, expr) => awaiting::settle(&self.state, id, Ok(expr)),
            Message::Reject(id, expr) => awaiting::settle(&self.state, id, Err(expr)),
            Message::Abort(expr) => {
                debug!(reason = ?expr, "peer aborted");
                self.close();
                return Err(SessionEnded);
            }
            #[allow(unreachable_patterns)] // if the protocol grows messages we do not serve
            other => Err(format!("unsupported message: {other:?}")),
        };
        if let Err(reason) = outcome {
            debug!(%reason, "protocol violation");
            self.abort(&reason);
            return Err(SessionEnded);
        }
        Ok(())
    }

    /// Resolves once no pulled result is outstanding (an HTTP batch's end).
    ///
    /// # Cancel safety
    /// Cancel-safe: it only watches.
    pub(crate) async fn drained(&self) {
        let notify = self.state.borrow().drained.clone();
        loop {
            let notified = notify.notified();
            if self.state.borrow().pulls_outstanding == 0 || self.outbox.is_closed() {
                return;
            }
            notified.await;
        }
    }

    /// Sends an abort with `reason` and ends the session.
    pub(crate) fn abort(&self, reason: &str) {
        let error = Expr::Error {
            kind: "Error".into(),
            message: reason.into(),
            stack: None,
        };
        self.outbox.send(&Message::Abort(error));
        self.close();
    }

    /// Ends the session: no more messages go out, its Cap'n Proto calls and capabilities are
    /// dropped (which cancels calls still running).
    pub(crate) fn close(&self) {
        self.outbox.close();
        // Take the tables out first: dropping capabilities may run code that looks at the state.
        let dropped = State::clear(&self.state);
        drop(dropped);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.close();
    }
}
