//! A `VatNetwork` wrapper that watches every RPC message of a connection without copying it:
//! counters, last activity (for idle timeouts), calls in flight (for graceful drain), how the
//! peer left (for `disconnected()`), and the server's error-redaction hook.
//!
//! Reading a message's kind touches only its root pointer and union tag, so the cost per
//! message is a few loads; message bodies are never walked.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use capnp::capability::Promise;
use capnp::Error;
use capnp_rpc::rpc_capnp::{exception, message, return_};
use capnp_rpc::twoparty::VatId;
use capnp_rpc::{Connection, IncomingMessage, OutgoingMessage, VatNetwork};
use futures::{FutureExt, TryFutureExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tracing::{debug, warn};

/// Replaces an error before it is sent to the peer; see `Options::with_error_redaction`.
pub(crate) type Redactor = Arc<dyn Fn(Error) -> Error + Send + Sync>;

/// Running totals for one connection, readable from any thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    messages_in: AtomicU64,
    messages_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    calls_in: AtomicU64,
    calls_out: AtomicU64,
}

/// A snapshot of one connection's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    /// RPC messages received.
    pub messages_in: u64,
    /// RPC messages sent.
    pub messages_out: u64,
    /// Bytes received (after TLS decryption).
    pub bytes_in: u64,
    /// Bytes sent (before TLS encryption).
    pub bytes_out: u64,
    /// Calls the peer made to us.
    pub calls_in: u64,
    /// Calls we made to the peer (e.g. callbacks into client-side capabilities).
    pub calls_out: u64,
}

impl Counters {
    /// The current values.
    pub(crate) fn snapshot(&self) -> ConnectionStats {
        ConnectionStats {
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            calls_in: self.calls_in.load(Relaxed),
            calls_out: self.calls_out.load(Relaxed),
        }
    }
}

/// How the peer's side of a connection ended.
#[derive(Debug, Clone)]
pub(crate) enum End {
    /// The peer closed the stream cleanly.
    Closed,
    /// Reading failed: reset, timeout, TLS alert, a message over the limit, garbage.
    Failed(Error),
}

/// What the wrappers share with the task that owns the connection.
pub(crate) struct Watch {
    pub(crate) counters: Arc<Counters>,
    last_activity: Cell<Instant>,
    in_flight: Cell<u64>,
    drained: Notify,
    end: RefCell<Option<End>>,
    ended: Notify,
    redact: Option<Redactor>,
    max_words: Option<usize>,
}

impl Watch {
    pub(crate) fn new(
        counters: Arc<Counters>,
        redact: Option<Redactor>,
        max_words: Option<usize>,
    ) -> Rc<Self> {
        Rc::new(Watch {
            counters,
            last_activity: Cell::new(Instant::now()),
            in_flight: Cell::new(0),
            drained: Notify::new(),
            end: RefCell::new(None),
            ended: Notify::new(),
            redact,
            max_words,
        })
    }

    /// When a message last went either way.
    pub(crate) fn last_activity(&self) -> Instant {
        self.last_activity.get()
    }

    /// Calls the peer made that we have not answered yet.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.get()
    }

    /// Resolves once no call of the peer's is unanswered.
    pub(crate) async fn drained(&self) {
        while self.in_flight.get() > 0 {
            self.drained.notified().await;
        }
    }

    /// How the peer's side ended, once it has.
    pub(crate) fn end(&self) -> Option<End> {
        self.end.borrow().clone()
    }

    /// Resolves when the peer's side has ended.
    pub(crate) async fn ended(&self) -> End {
        loop {
            let notified = self.ended.notified();
            if let Some(end) = self.end() {
                return end;
            }
            notified.await;
        }
    }

    /// Records a failure found outside the stream (e.g. an unanswered heartbeat).
    pub(crate) fn fail(&self, error: Error) {
        self.set_end(End::Failed(error));
    }

    /// Records the end of a connection whose RPC system finished, if nothing more precise was
    /// seen first.
    pub(crate) fn finished(&self, result: &Result<(), Error>) {
        match result {
            Ok(()) => self.set_end(End::Closed),
            Err(e) => self.set_end(End::Failed(e.clone())),
        }
    }

    fn set_end(&self, end: End) {
        let mut slot = self.end.borrow_mut();
        if slot.is_none() {
            *slot = Some(end);
            self.ended.notify_waiters();
        }
    }

    fn saw_incoming(&self, body: capnp::Result<capnp::any_pointer::Reader<'_>>) {
        self.last_activity.set(Instant::now());
        self.counters.messages_in.fetch_add(1, Relaxed);
        let kind = body
            .and_then(|b| b.get_as::<message::Reader<'_>>())
            .and_then(|m| Ok(m.which()?));
        match kind {
            Ok(message::Call(_)) => {
                self.counters.calls_in.fetch_add(1, Relaxed);
                self.in_flight.set(self.in_flight.get() + 1);
            }
            // capnp-rpc stops reading after an Abort, so the stream's end is never seen: the
            // Abort is the end. One of kind Disconnected is a deliberate close (capnp-rpc sends
            // it from `Disconnector`, e.g. at shutdown or idle timeout).
            Ok(message::Abort(Ok(exception))) => {
                let error = exception_error(exception);
                let end = match error.kind {
                    capnp::ErrorKind::Disconnected => End::Closed,
                    _ => End::Failed(error),
                };
                self.set_end(end);
            }
            _ => {}
        }
    }

    fn sending(&self, out: &mut dyn OutgoingMessage) {
        self.last_activity.set(Instant::now());
        self.counters.messages_out.fetch_add(1, Relaxed);
        let is_return = match out
            .get_body_as_reader()
            .and_then(|b| b.get_as::<message::Reader<'_>>())
        {
            Ok(m) => match m.which() {
                Ok(message::Call(_)) => {
                    self.counters.calls_out.fetch_add(1, Relaxed);
                    false
                }
                Ok(message::Return(_)) => true,
                _ => false,
            },
            Err(_) => false,
        };
        if is_return {
            let left = self.in_flight.get().saturating_sub(1);
            self.in_flight.set(left);
            if left == 0 {
                self.drained.notify_waiters();
            }
            if let Some(redact) = &self.redact {
                if let Err(e) = redact_return(out, redact) {
                    debug!(error = %e, "cannot apply the error redaction hook");
                }
            }
        }
    }

    fn received(
        &self,
        result: Result<Option<Box<dyn IncomingMessage>>, Error>,
    ) -> Result<Option<Box<dyn IncomingMessage>>, Error> {
        match result {
            Ok(Some(message)) => {
                self.saw_incoming(message.get_body());
                Ok(Some(message))
            }
            Ok(None) => {
                self.set_end(End::Closed);
                Ok(None)
            }
            Err(e) => {
                let e = self.limit_error(e);
                self.set_end(End::Failed(e.clone()));
                Err(e)
            }
        }
    }

    /// capnp refuses a message over the traversal limit before reading it, with kind `Failed`;
    /// the peer should hear `Overloaded` (it may retry smaller), and the log should say so.
    fn limit_error(&self, e: Error) -> Error {
        match self.max_words {
            Some(limit) if e.extra.contains("which is too large") => {
                warn!(limit_bytes = limit * 8, error = %e, "peer sent a message over the size limit; closing");
                Error::overloaded(format!(
                    "{} (this peer accepts at most {} bytes per message)",
                    e.extra,
                    limit * 8
                ))
            }
            _ => e,
        }
    }
}

/// The error an exception on the wire describes.
fn exception_error(exception: exception::Reader<'_>) -> Error {
    let kind = match exception.get_type() {
        Ok(exception::Type::Overloaded) => capnp::ErrorKind::Overloaded,
        Ok(exception::Type::Disconnected) => capnp::ErrorKind::Disconnected,
        Ok(exception::Type::Unimplemented) => capnp::ErrorKind::Unimplemented,
        _ => capnp::ErrorKind::Failed,
    };
    let reason = exception
        .get_reason()
        .ok()
        .and_then(|r| r.to_string().ok())
        .unwrap_or_else(|| "(no reason given)".to_string());
    Error {
        kind,
        extra: format!("peer aborted the connection: {reason}"),
    }
}

/// Applies the redaction hook to an outgoing `Return` that carries an exception.
fn redact_return(out: &mut dyn OutgoingMessage, redact: &Redactor) -> capnp::Result<()> {
    let mut body = out.get_body()?.get_as::<message::Builder<'_>>()?;
    let message::Which::Return(ret) = body.reborrow().which()? else {
        return Ok(());
    };
    let return_::Which::Exception(exception) = ret?.which()? else {
        return Ok(());
    };
    let mut exception = exception?;
    let kind = match exception.reborrow().get_type()? {
        exception::Type::Failed => capnp::ErrorKind::Failed,
        exception::Type::Overloaded => capnp::ErrorKind::Overloaded,
        exception::Type::Disconnected => capnp::ErrorKind::Disconnected,
        exception::Type::Unimplemented => capnp::ErrorKind::Unimplemented,
    };
    let reason = exception.reborrow().get_reason()?.to_string()?;
    let replaced = redact(Error {
        kind,
        extra: reason,
    });
    exception.set_type(match replaced.kind {
        capnp::ErrorKind::Overloaded => exception::Type::Overloaded,
        capnp::ErrorKind::Disconnected => exception::Type::Disconnected,
        capnp::ErrorKind::Unimplemented => exception::Type::Unimplemented,
        _ => exception::Type::Failed,
    });
    exception.set_reason(replaced.extra.as_str());
    Ok(())
}

/// The network wrapper.
pub(crate) struct Network {
    inner: Box<dyn VatNetwork<VatId>>,
    watch: Rc<Watch>,
}

impl Network {
    pub(crate) fn boxed(
        inner: Box<dyn VatNetwork<VatId>>,
        watch: Rc<Watch>,
    ) -> Box<dyn VatNetwork<VatId>> {
        Box::new(Network { inner, watch })
    }
}

impl VatNetwork<VatId> for Network {
    fn connect(&mut self, host_id: VatId) -> Option<Box<dyn Connection<VatId>>> {
        let watch = self.watch.clone();
        self.inner.connect(host_id).map(|inner| wrap(inner, watch))
    }

    fn accept(&mut self) -> Promise<Box<dyn Connection<VatId>>, Error> {
        let watch = self.watch.clone();
        Promise::from_future(self.inner.accept().map_ok(move |inner| wrap(inner, watch)))
    }

    fn drive_until_shutdown(&mut self) -> Promise<(), Error> {
        self.inner.drive_until_shutdown()
    }
}

fn wrap(inner: Box<dyn Connection<VatId>>, watch: Rc<Watch>) -> Box<dyn Connection<VatId>> {
    Box::new(WatchedConnection { inner, watch })
}

/// The largest first segment an outgoing RPC message starts with, in 8-byte words.
///
/// capnp-rpc 0.27 asks for 1 024 words (8 KiB, zeroed) for every call it sends, whatever its
/// size; a Calculator call is ≈ 20 words. Zeroing those 8 KiB was 11.5 % of all instructions of
/// a sequential-call benchmark (callgrind, BENCHMARKS.md). A larger message simply grows a
/// second segment, as any Cap'n Proto builder does, so nothing is lost but a little time on
/// calls over 1 KiB.
const MAX_FIRST_SEGMENT_WORDS: u32 = 128;

struct WatchedConnection {
    inner: Box<dyn Connection<VatId>>,
    watch: Rc<Watch>,
}

impl Connection<VatId> for WatchedConnection {
    fn get_peer_vat_id(&self) -> VatId {
        self.inner.get_peer_vat_id()
    }

    fn new_outgoing_message(&mut self, first_segment_word_size: u32) -> Box<dyn OutgoingMessage> {
        let words = first_segment_word_size.min(MAX_FIRST_SEGMENT_WORDS);
        Box::new(WatchedOutgoing {
            inner: self.inner.new_outgoing_message(words),
            watch: self.watch.clone(),
        })
    }

    fn receive_incoming_message(&mut self) -> Promise<Option<Box<dyn IncomingMessage>>, Error> {
        let watch = self.watch.clone();
        Promise::from_future(
            self.inner
                .receive_incoming_message()
                .map(move |r| watch.received(r)),
        )
    }

    fn new_stream(&mut self) -> (Box<dyn capnp_rpc::FlowController>, Promise<(), Error>) {
        self.inner.new_stream()
    }

    fn shutdown(&mut self, result: capnp::Result<()>) -> Promise<(), Error> {
        self.inner.shutdown(result)
    }
}

struct WatchedOutgoing {
    inner: Box<dyn OutgoingMessage>,
    watch: Rc<Watch>,
}

impl OutgoingMessage for WatchedOutgoing {
    fn get_body(&mut self) -> capnp::Result<capnp::any_pointer::Builder<'_>> {
        self.inner.get_body()
    }

    fn get_body_as_reader(&self) -> capnp::Result<capnp::any_pointer::Reader<'_>> {
        self.inner.get_body_as_reader()
    }

    fn send(
        mut self: Box<Self>,
    ) -> (
        Promise<(), Error>,
        Rc<capnp::message::Builder<capnp::message::HeapAllocator>>,
    ) {
        self.watch.sending(self.inner.as_mut());
        self.inner.send()
    }

    fn take(self: Box<Self>) -> capnp::message::Builder<capnp::message::HeapAllocator> {
        self.inner.take()
    }

    fn size_in_words(&self) -> usize {
        self.inner.size_in_words()
    }
}

/// Counts the bytes that pass through a stream half.
pub(crate) struct Counted<S> {
    inner: S,
    counters: Arc<Counters>,
}

impl<S> Counted<S> {
    pub(crate) fn new(inner: S, counters: Arc<Counters>) -> Self {
        Counted { inner, counters }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.counters.bytes_in.fetch_add(n as u64, Relaxed);
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.bytes_out.fetch_add(n as u64, Relaxed);
        }
        poll
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.bytes_out.fetch_add(n as u64, Relaxed);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
