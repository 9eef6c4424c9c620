//! The session's outgoing side, apart from its tables: the transport's receiver is handed out by
//! [`super::Session::new`], and capabilities dropped after the session's end must still find a
//! closed outbox rather than a dangling table.

use std::cell::RefCell;

use futures::channel::mpsc;
use tracing::debug;

use crate::protocol::Message;

/// The outgoing side: message texts for the transport, until the session closes.
pub(super) struct Outbox {
    sender: RefCell<Option<mpsc::UnboundedSender<String>>>,
}

impl Outbox {
    pub(super) fn new(sender: mpsc::UnboundedSender<String>) -> Self {
        Self {
            sender: RefCell::new(Some(sender)),
        }
    }

    pub(super) fn send(&self, message: &Message) {
        if let Some(sender) = self.sender.borrow().as_ref() {
            debug!(?message, "sending");
            let _ = sender.unbounded_send(message.to_text());
        }
    }

    pub(super) fn close(&self) {
        self.sender.borrow_mut().take();
    }

    pub(super) fn is_closed(&self) -> bool {
        self.sender.borrow().is_none()
    }
}
