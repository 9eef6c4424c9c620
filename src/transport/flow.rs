//! Flow control for streaming calls (`-> stream` methods): a fixed window of bytes in flight.
//!
//! capnp-rpc hands each streaming call's message to the connection's flow controller together
//! with a promise for the call's answer (its *ack*). The message is written at once (order
//! matters), its size counts against the window until the ack arrives, and the caller's
//! `send()` resolves only while the bytes in flight fit in the window — so a fast sender waits
//! for a slow receiver instead of queuing without bound. The first failed call fails every later
//! `send()` of the stream with its error, as the protocol's streaming semantics require.

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use capnp::capability::Promise;
use capnp::Error;
use futures::stream::{FuturesUnordered, StreamExt};

/// The default window: bytes of streaming calls a sender may have unacknowledged per stream.
///
/// capnp-rpc's and the C++ implementation's default (64 KiB): about one bandwidth-delay product
/// of a LAN; raise it for high-latency links (`with_stream_window` on the server's options and
/// on the connector).
pub const DEFAULT_STREAM_WINDOW: usize = 64 * 1024;

type Ack = Pin<Box<dyn Future<Output = (usize, Result<(), Error>)>>>;

struct State {
    window: usize,
    in_flight: usize,
    /// The largest message so far: one such message may exceed the window, so a message larger
    /// than the window does not stall the stream for a round trip after each send.
    largest: usize,
    failed: Option<Error>,
    acks: FuturesUnordered<Ack>,
    /// The driver (the task capnp-rpc polls for this stream), woken when an ack is added.
    driver: Option<Waker>,
    /// Senders waiting for room in the window, and callers of `wait_all_acked`.
    waiting: Vec<Waker>,
    /// False once capnp-rpc dropped the controller: the driver then ends after the last ack.
    controller_alive: bool,
}

impl State {
    fn has_room(&self) -> bool {
        self.in_flight < self.window + self.largest
    }

    fn wake_waiting(&mut self) {
        for waker in self.waiting.drain(..) {
            waker.wake();
        }
    }
}

/// A stream's flow controller and the future that drives its acks (for
/// `capnp_rpc::Connection::new_stream`).
pub(super) fn new_stream(
    window: usize,
) -> (Box<dyn capnp_rpc::FlowController>, Promise<(), Error>) {
    let state = Rc::new(RefCell::new(State {
        window,
        in_flight: 0,
        largest: 0,
        failed: None,
        acks: FuturesUnordered::new(),
        driver: None,
        waiting: Vec::new(),
        controller_alive: true,
    }));
    let driver = drive(state.clone());
    (Box::new(Window(state)), Promise::from_future(driver))
}

/// Collects acks as they arrive, freeing their bytes; ends once the controller is gone and
/// nothing is in flight.
async fn drive(state: Rc<RefCell<State>>) -> Result<(), Error> {
    poll_fn(|cx| {
        let mut state = state.borrow_mut();
        loop {
            match state.acks.poll_next_unpin(cx) {
                Poll::Ready(Some((size, result))) => {
                    state.in_flight -= size;
                    if let Err(e) = result {
                        state.failed.get_or_insert(e);
                    }
                    state.wake_waiting();
                }
                Poll::Ready(None) if !state.controller_alive => return Poll::Ready(Ok(())),
                Poll::Ready(None) | Poll::Pending => {
                    state.driver = Some(cx.waker().clone());
                    return Poll::Pending;
                }
            }
        }
    })
    .await
}

struct Window(Rc<RefCell<State>>);

impl Drop for Window {
    fn drop(&mut self) {
        let mut state = self.0.borrow_mut();
        state.controller_alive = false;
        if let Some(driver) = state.driver.take() {
            driver.wake();
        }
    }
}

impl capnp_rpc::FlowController for Window {
    fn send(
        &mut self,
        message: Box<dyn capnp_rpc::OutgoingMessage>,
        ack: Promise<(), Error>,
    ) -> Promise<(), Error> {
        let size = message.size_in_words() * 8;
        {
            let mut state = self.0.borrow_mut();
            if let Some(e) = &state.failed {
                return Promise::err(e.clone());
            }
            // Sent now, whatever the window says: streaming calls must keep their order.
            let _ = message.send();
            state.largest = state.largest.max(size);
            state.in_flight += size;
            state.acks.push(Box::pin(async move { (size, ack.await) }));
            if let Some(driver) = state.driver.take() {
                driver.wake();
            }
        }
        let state = self.0.clone();
        Promise::from_future(poll_fn(move |cx| {
            let mut state = state.borrow_mut();
            if let Some(e) = &state.failed {
                return Poll::Ready(Err(e.clone()));
            }
            if state.has_room() {
                return Poll::Ready(Ok(()));
            }
            state.waiting.push(cx.waker().clone());
            Poll::Pending
        }))
    }

    fn wait_all_acked(&mut self) -> Promise<(), Error> {
        let state = self.0.clone();
        Promise::from_future(poll_fn(move |cx: &mut Context<'_>| {
            let mut state = state.borrow_mut();
            if let Some(e) = &state.failed {
                return Poll::Ready(Err(e.clone()));
            }
            if state.in_flight == 0 {
                return Poll::Ready(Ok(()));
            }
            state.waiting.push(cx.waker().clone());
            Poll::Pending
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capnp::message::{Builder, HeapAllocator};
    use futures::FutureExt;

    /// An outgoing message of `words` words that records that it was sent.
    struct Fake {
        message: Builder<HeapAllocator>,
        sent: Rc<RefCell<usize>>,
    }

    impl capnp_rpc::OutgoingMessage for Fake {
        fn get_body(&mut self) -> capnp::Result<capnp::any_pointer::Builder<'_>> {
            self.message.get_root()
        }
        fn get_body_as_reader(&self) -> capnp::Result<capnp::any_pointer::Reader<'_>> {
            self.message.get_root_as_reader()
        }
        fn send(self: Box<Self>) -> (Promise<(), Error>, Rc<Builder<HeapAllocator>>) {
            *self.sent.borrow_mut() += 1;
            (Promise::ok(()), Rc::new(self.message))
        }
        fn take(self: Box<Self>) -> Builder<HeapAllocator> {
            self.message
        }
        fn size_in_words(&self) -> usize {
            1000 // 8 000 bytes
        }
    }

    fn fake(sent: &Rc<RefCell<usize>>) -> Box<dyn capnp_rpc::OutgoingMessage> {
        Box::new(Fake {
            message: Builder::new_default(),
            sent: sent.clone(),
        })
    }

    #[test]
    fn sends_wait_for_room_and_every_message_goes_out_at_once() {
        let (mut window, mut driver) = new_stream(16_000);
        let sent = Rc::new(RefCell::new(0));
        let mut acks = Vec::new();
        let mut ready = Vec::new();
        for _ in 0..4 {
            let (tx, rx) = futures::channel::oneshot::channel::<Result<(), Error>>();
            acks.push(tx);
            let ack = Promise::from_future(async move { rx.await.unwrap_or(Ok(())) });
            ready.push(window.send(fake(&sent), ack).now_or_never().is_some());
        }
        assert_eq!(*sent.borrow(), 4, "streaming messages are never held back");
        // 8 000-byte messages, window 16 000 plus one largest message: 3 fit, the 4th waits.
        assert_eq!(ready, [true, true, false, false]);
        assert!(driver.poll_unpin(&mut noop()).is_pending());
        let _ = acks.remove(0).send(Ok(()));
        assert!(driver.poll_unpin(&mut noop()).is_pending());
        assert!(
            window.wait_all_acked().now_or_never().is_none(),
            "3 still in flight"
        );
    }

    #[test]
    fn a_failed_call_fails_the_later_sends() {
        let (mut window, mut driver) = new_stream(1 << 20);
        let sent = Rc::new(RefCell::new(0));
        let failed = Promise::err(Error::failed("chunk 1 was refused".into()));
        assert!(window.send(fake(&sent), failed).now_or_never().is_some());
        assert!(driver.poll_unpin(&mut noop()).is_pending());
        let later = window
            .send(fake(&sent), Promise::ok(()))
            .now_or_never()
            .expect("decided at once");
        assert!(later
            .expect_err("fails")
            .to_string()
            .contains("chunk 1 was refused"));
        assert!(window
            .wait_all_acked()
            .now_or_never()
            .expect("ready")
            .is_err());
    }

    #[test]
    fn the_driver_ends_when_the_controller_is_dropped_and_nothing_is_in_flight() {
        let (window, mut driver) = new_stream(1024);
        assert!(driver.poll_unpin(&mut noop()).is_pending());
        drop(window);
        assert!(matches!(
            driver.poll_unpin(&mut noop()),
            Poll::Ready(Ok(()))
        ));
    }

    fn noop() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }
}
