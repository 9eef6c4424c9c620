//! Watching every RPC message of a connection without copying it: counters, last activity (for
//! idle timeouts), calls in flight (for graceful drain), how the peer left (for
//! `disconnected()`), and the server's error-redaction hook. The transport
//! ([`crate::transport`]) shows each message to a [`Watch`] as it passes.
//!
//! Reading a message's kind touches only its root pointer and union tag ([`message_tag`]), so
//! the cost per message is a few loads; message bodies are never walked.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use capnp::message::{Builder, HeapAllocator, ReaderSegments};
use capnp::Error;
use capnp_rpc::rpc_capnp::{exception, message, return_};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tracing::debug;

use crate::calls::{self, CallStats, CallTimes};
use crate::flow_limit::{body_word, Questions};
use crate::framing::Message;

mod tag;

pub(crate) use tag::message_tag;
use tag::{checked_return_word, checked_tag, question_id, ABORT, BOOTSTRAP, CALL, FINISH, RETURN};

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
    writes: AtomicU64,
    /// The peer's calls not answered yet (mirrors [`Watch::in_flight`] for other threads).
    pub(crate) in_flight: AtomicU64,
    /// Latencies and error kinds of the calls answered (see [`crate::calls`]).
    pub(crate) calls: CallStats,
    unknown_finishes: AtomicU64,
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
    /// Writes to the stream (before TLS): outgoing messages are batched, so with sequential
    /// calls this is about one per round trip, fewer than `messages_out`.
    pub writes: u64,
    /// `Finish` messages for questions the peer did not have open. capnp-rpc ignores them (C++
    /// aborts the connection); windlass ignores them too, counts them here, and does not let
    /// them lower the peer's count of unfinished questions.
    pub unknown_finishes: u64,
}

impl Counters {
    /// Adds `stats` (an ended connection's, for a server's totals).
    pub(crate) fn add(&self, stats: &ConnectionStats) {
        self.messages_in.fetch_add(stats.messages_in, Relaxed);
        self.messages_out.fetch_add(stats.messages_out, Relaxed);
        self.bytes_in.fetch_add(stats.bytes_in, Relaxed);
        self.bytes_out.fetch_add(stats.bytes_out, Relaxed);
        self.calls_in.fetch_add(stats.calls_in, Relaxed);
        self.calls_out.fetch_add(stats.calls_out, Relaxed);
        self.writes.fetch_add(stats.writes, Relaxed);
        self.unknown_finishes
            .fetch_add(stats.unknown_finishes, Relaxed);
    }

    /// The current values.
    pub(crate) fn snapshot(&self) -> ConnectionStats {
        ConnectionStats {
            messages_in: self.messages_in.load(Relaxed),
            messages_out: self.messages_out.load(Relaxed),
            bytes_in: self.bytes_in.load(Relaxed),
            bytes_out: self.bytes_out.load(Relaxed),
            calls_in: self.calls_in.load(Relaxed),
            calls_out: self.calls_out.load(Relaxed),
            writes: self.writes.load(Relaxed),
            unknown_finishes: self.unknown_finishes.load(Relaxed),
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
    call_times: CallTimes,
    /// The peer's open questions and the bounds on them (see [`crate::flow_limit`]).
    pub(crate) questions: Questions,
}

impl Watch {
    pub(crate) fn new(counters: Arc<Counters>, redact: Option<Redactor>) -> Rc<Self> {
        Rc::new(Watch {
            counters,
            last_activity: Cell::new(Instant::now()),
            in_flight: Cell::new(0),
            drained: Notify::new(),
            end: RefCell::new(None),
            ended: Notify::new(),
            redact,
            call_times: CallTimes::default(),
            questions: Questions::default(),
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

    /// Records the peer's clean end of stream.
    pub(crate) fn closed(&self) {
        self.set_end(End::Closed);
    }

    /// Whether the next message may be read: fewer calls unanswered than the flow limit.
    pub(crate) fn may_read(&self) -> bool {
        self.questions.may_read(self.in_flight.get())
    }

    /// A paused read's wait for [`Watch::may_read`].
    pub(crate) fn poll_may_read(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.questions.poll_may_read(cx, self.in_flight.get())
    }

    /// Sees a message from the peer: counts it and, if it is a call, counts it in flight.
    ///
    /// # Errors
    /// `Overloaded` when the peer has more questions open than its flow limits allow.
    pub(crate) fn saw_incoming(&self, message: &Message) -> Result<(), Error> {
        let now = Instant::now();
        self.last_activity.set(now);
        self.counters.messages_in.fetch_add(1, Relaxed);
        let first = message.get_segments().get_segment(0);
        let tag = first
            .and_then(message_tag)
            .or_else(|| checked_tag(message.get_root()));
        match tag {
            Some(tag @ (CALL | BOOTSTRAP)) => {
                if tag == CALL {
                    self.counters.calls_in.fetch_add(1, Relaxed);
                }
                let in_flight = self.in_flight.get() + 1;
                self.in_flight.set(in_flight);
                self.counters.in_flight.store(in_flight, Relaxed);
                if let Some(id) = question_id(first, message.get_root()) {
                    if tag == CALL {
                        self.call_times.started(id, now);
                    }
                    self.questions.asked(id)?;
                }
            }
            Some(FINISH) => {
                let id = question_id(first, message.get_root());
                if id.is_some_and(|id| !self.questions.finished(id)) {
                    self.counters.unknown_finishes.fetch_add(1, Relaxed);
                }
            }
            // capnp-rpc stops reading after an Abort, so the stream's end is never seen: the
            // Abort is the end. One of kind Disconnected is a deliberate close (capnp-rpc sends
            // it from `Disconnector`, e.g. at shutdown or idle timeout).
            Some(ABORT) => {
                let exception =
                    message
                        .get_root::<message::Reader<'_>>()
                        .and_then(|m| match m.which()? {
                            message::Abort(exception) => exception,
                            _ => Err(Error::failed("not an abort".into())),
                        });
                let end = match exception.map(exception_error) {
                    Ok(error) if error.kind == capnp::ErrorKind::Disconnected => End::Closed,
                    Ok(error) => End::Failed(error),
                    Err(e) => End::Failed(Error::failed(format!(
                        "peer aborted the connection with an unreadable reason: {e}"
                    ))),
                };
                self.set_end(end);
            }
            _ => {}
        }
        Ok(())
    }

    /// Sees a message about to be sent: counts it and, if it answers a call, takes the call out
    /// of flight and applies the redaction hook to an error it carries.
    pub(crate) fn sending(&self, out: &mut Builder<HeapAllocator>) {
        let now = Instant::now();
        self.last_activity.set(now);
        self.counters.messages_out.fetch_add(1, Relaxed);
        let segments = out.get_segments_for_output();
        let first = segments.first().copied();
        let tag = first
            .and_then(message_tag)
            .or_else(|| checked_tag(out.get_root_as_reader()));
        match tag {
            Some(CALL) => {
                self.counters.calls_out.fetch_add(1, Relaxed);
            }
            Some(RETURN) => {
                if first.is_some_and(|first| self.saw_return(first, now)) {
                    let kind = exception_kind(out.get_root_as_reader());
                    self.counters.calls.error(kind);
                }
                let left = self.in_flight.get().saturating_sub(1);
                self.in_flight.set(left);
                self.counters.in_flight.store(left, Relaxed);
                if left == 0 {
                    self.drained.notify_waiters();
                }
                self.questions.answered(left);
                let word = out
                    .get_segments_for_output()
                    .first()
                    .and_then(|segment| body_word(segment))
                    .or_else(|| checked_return_word(out.get_root_as_reader()));
                // `noFinishNeeded` (bit 33): capnp-rpc dropped the answer; no Finish will come.
                if let Some(word) = word.filter(|w| w >> 33 & 1 == 1) {
                    self.questions.forget(word as u32);
                }
                if let Some(redact) = &self.redact {
                    if let Err(e) = redact_return(out, redact) {
                        debug!(error = %e, "cannot apply the error redaction hook");
                    }
                }
            }
            _ => {}
        }
    }
}

impl Watch {
    /// Times the call a `Return` answers; says whether it carries an exception.
    fn saw_return(&self, segment: &[u8], now: Instant) -> bool {
        if let Some(started) = calls::question_id(segment).and_then(|q| self.call_times.answered(q))
        {
            self.counters
                .calls
                .observe(now.saturating_duration_since(started));
        }
        calls::returns_exception(segment) == Some(true)
    }
}

/// The `Exception.Type` ordinal (index into [`calls::ERROR_KINDS`]) of a `Return` known to carry
/// an exception: the validated (slow) read, done only for failed calls.
fn exception_kind(root: capnp::Result<capnp::any_pointer::Reader<'_>>) -> usize {
    let kind = root
        .and_then(|r| r.get_as::<message::Reader<'_>>())
        .and_then(|m| match m.which()? {
            message::Return(ret) => match ret?.which()? {
                return_::Exception(e) => Ok(e?.get_type()?),
                _ => Err(Error::failed("not an exception".into())),
            },
            _ => Err(Error::failed("not a return".into())),
        });
    match kind {
        Ok(exception::Type::Overloaded) => 1,
        Ok(exception::Type::Disconnected) => 2,
        Ok(exception::Type::Unimplemented) => 3,
        _ => 0,
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
fn redact_return(out: &mut Builder<HeapAllocator>, redact: &Redactor) -> capnp::Result<()> {
    let mut body = out.get_root::<message::Builder<'_>>()?;
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
            self.counters.writes.fetch_add(1, Relaxed);
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
            self.counters.writes.fetch_add(1, Relaxed);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use capnp::message::Builder;

    /// Every kind of message capnp-rpc sends, built the normal way.
    fn messages() -> Vec<(Builder<HeapAllocator>, u16)> {
        let mut all = Vec::new();
        for tag in 0..14u16 {
            let mut builder = Builder::new_default();
            {
                let m = builder.init_root::<message::Builder<'_>>();
                match tag {
                    0 => {
                        m.init_unimplemented();
                    }
                    1 => m.init_abort().set_reason("bye"),
                    2 => m.init_call().set_question_id(7),
                    3 => m.init_return().set_answer_id(7),
                    4 => m.init_finish().set_question_id(7),
                    5 => m.init_resolve().set_promise_id(1),
                    6 => m.init_release().set_id(1),
                    8 => m.init_bootstrap().set_question_id(0),
                    13 => m.init_disembargo().init_context().set_sender_loopback(1),
                    _ => continue,
                }
            }
            all.push((builder, tag));
        }
        all
    }

    #[test]
    fn raw_tags_agree_with_the_validated_reader() {
        for (builder, tag) in messages() {
            let segments = builder.get_segments_for_output();
            assert_eq!(message_tag(segments[0]), Some(tag), "tag {tag}");
            let watched = if [ABORT, CALL, RETURN, FINISH, BOOTSTRAP].contains(&tag) {
                tag
            } else {
                u16::MAX
            };
            assert_eq!(
                checked_tag(builder.get_root_as_reader()),
                Some(watched),
                "tag {tag}"
            );
        }
    }

    #[test]
    fn unusual_roots_fall_back_to_the_validated_reader() {
        // Too short, null, far pointer, list pointer.
        assert_eq!(message_tag(&[0; 4]), None);
        assert_eq!(message_tag(&[0; 16]), None);
        let far = 2u64 | (5 << 3);
        assert_eq!(message_tag(&far.to_le_bytes()), None);
        let list = 1u64;
        assert_eq!(message_tag(&[list.to_le_bytes(), [0; 8]].concat()), None);
        // A struct pointer whose struct runs past the segment: not trusted.
        let past_end = (1u64 << 32) | (4 << 2);
        assert_eq!(
            message_tag(&[past_end.to_le_bytes(), [0; 8]].concat()),
            None
        );
        // A negative offset pointing before the segment.
        let before = (1u64 << 32) | ((-3i32 as u32 as u64) << 2 & 0xffff_fffc);
        assert_eq!(message_tag(&[before.to_le_bytes(), [0; 8]].concat()), None);
        // No data section: the tag reads as its default.
        let empty = 1u64 << 48;
        assert_eq!(
            message_tag(&[empty.to_le_bytes(), [0; 8]].concat()),
            Some(0)
        );
    }
}
