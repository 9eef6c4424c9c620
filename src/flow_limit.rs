//! Per-connection bounds on what a peer can make us hold: questions (calls and bootstraps) it
//! has asked and not finished, and calls we have not answered yet.
//!
//! Two numbers matter, and capnp-rpc bounds neither:
//!
//! - **Unanswered calls** cost whatever their methods hold while they run. When the peer has
//!   [`FlowLimits::max_in_flight`] of them, the transport stops *reading* until an answer goes
//!   out: TCP backpressure, as C++ capnp's `setFlowLimit` does. Nothing is refused, so a
//!   well-behaved client that pipelines deeply only waits. (As with `setFlowLimit`, a service whose
//!   calls all wait on callbacks into the same peer can stall at the limit: the callbacks'
//!   answers are not read. Raise the limit for such services.)
//! - **Unfinished questions**: capnp-rpc keeps an answer-table entry (≈ 2.4 KB measured, more
//!   with capabilities in the result) until the peer sends `Finish`, even after the `Return`. A
//!   peer that never sends `Finish` would grow it without bound, and pausing the reads cannot
//!   help (the `Finish` messages come *from* the stream). Past [`FlowLimits::max_open`] the
//!   connection is aborted with `Overloaded`.
//!
//! Question ids are tracked in a set rather than counted, so that a peer cannot lower the
//! count with `Finish` messages for ids it never asked (capnp-rpc ignores those silently; so do
//! we, counting them in `ConnectionStats::unknown_finishes`).

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use capnp::Error;

/// The bounds one connection is held to. The default bounds nothing (clients, tests).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowLimits {
    /// Unanswered calls (and bootstraps) at which reading pauses.
    pub(crate) max_in_flight: u64,
    /// Questions asked and not finished beyond which the connection is aborted.
    pub(crate) max_open: usize,
    /// How long one incoming message may take to arrive once its first byte has.
    pub(crate) read_timeout: Option<Duration>,
}

impl Default for FlowLimits {
    fn default() -> Self {
        FlowLimits {
            max_in_flight: u64::MAX,
            max_open: usize::MAX,
            read_timeout: None,
        }
    }
}

/// The questions one peer has open with us.
#[derive(Default)]
pub(crate) struct Questions {
    limits: Cell<FlowLimits>,
    open: RefCell<HashSet<u32>>,
    /// The paused read, waiting for an answer to go out.
    reader: RefCell<Option<Waker>>,
}

impl Questions {
    pub(crate) fn set_limits(&self, limits: FlowLimits) {
        self.limits.set(limits);
    }

    pub(crate) fn limits(&self) -> FlowLimits {
        self.limits.get()
    }

    /// The peer asked question `id` (a `Call` or a `Bootstrap`).
    ///
    /// # Errors
    /// `Overloaded` when the peer now has more questions open than allowed.
    pub(crate) fn asked(&self, id: u32) -> Result<(), Error> {
        let mut open = self.open.borrow_mut();
        open.insert(id);
        let max = self.limits.get().max_open;
        if open.len() > max {
            return Err(Error::overloaded(format!(
                "too many questions without a Finish (this server keeps at most {max} per \
                 connection); closing"
            )));
        }
        Ok(())
    }

    /// The peer finished question `id`. Returns `false` (and changes nothing) for an id it
    /// never asked or already finished.
    pub(crate) fn finished(&self, id: u32) -> bool {
        let known = self.open.borrow_mut().remove(&id);
        if !known {
            tracing::debug!(question_id = id, "Finish for a question not open; ignored");
        }
        known
    }

    /// We answered question `id` with `noFinishNeeded`: the peer will not finish it.
    pub(crate) fn forget(&self, id: u32) {
        self.open.borrow_mut().remove(&id);
    }

    /// Questions open now.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.open.borrow().len()
    }

    /// Whether the next message may be read with `in_flight` calls unanswered.
    pub(crate) fn may_read(&self, in_flight: u64) -> bool {
        in_flight < self.limits.get().max_in_flight
    }

    /// The paused read's wait: ready once `in_flight` is under the limit.
    pub(crate) fn poll_may_read(&self, cx: &mut Context<'_>, in_flight: u64) -> Poll<()> {
        if self.may_read(in_flight) {
            return Poll::Ready(());
        }
        *self.reader.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// An answer went out, leaving `in_flight` unanswered: wakes a paused read if it may go on.
    pub(crate) fn answered(&self, in_flight: u64) {
        if self.may_read(in_flight) {
            if let Some(reader) = self.reader.borrow_mut().take() {
                reader.wake();
            }
        }
    }
}

/// The first data word of the struct a message's root points at with its first pointer — the
/// body of a `Call`, `Return`, `Finish` or `Bootstrap` (whose question or answer id is its low 32
/// bits) — read straight from the first segment's bytes. `None` when anything is not a plain
/// in-segment struct pointer (the caller then reads the validated way).
pub(crate) fn body_word(segment: &[u8]) -> Option<u64> {
    let (start, data_words, pointer_words) = struct_at(segment, 0)?;
    if pointer_words == 0 {
        return None;
    }
    let (body, body_data, _) = struct_at(segment, start + data_words * 8)?;
    if body_data == 0 {
        return Some(0);
    }
    Some(u64::from_le_bytes(
        segment.get(body..body + 8)?.try_into().ok()?,
    ))
}

/// The struct a struct pointer at byte `at` points to, as (byte offset, data words, pointer
/// words), if it lies inside `segment`.
fn struct_at(segment: &[u8], at: usize) -> Option<(usize, usize, usize)> {
    let pointer = u64::from_le_bytes(segment.get(at..at.checked_add(8)?)?.try_into().ok()?);
    if pointer == 0 || pointer & 3 != 0 {
        return None;
    }
    let offset = i64::from((pointer as u32 as i32) >> 2);
    let data_words = usize::from((pointer >> 32) as u16);
    let pointer_words = usize::from((pointer >> 48) as u16);
    let words = i64::try_from(at / 8).ok()? + 1 + offset;
    let start = usize::try_from(words).ok()?.checked_mul(8)?;
    if start.checked_add((data_words + pointer_words) * 8)? > segment.len() {
        return None;
    }
    Some((start, data_words, pointer_words))
}

#[cfg(test)]
mod tests {
    use capnp_rpc::rpc_capnp::message;

    use super::*;

    fn first_segment(builder: &capnp::message::Builder<capnp::message::HeapAllocator>) -> Vec<u8> {
        builder.get_segments_for_output()[0].to_vec()
    }

    #[test]
    fn ids_are_read_from_the_raw_bytes() {
        let mut b = capnp::message::Builder::new_default();
        b.init_root::<message::Builder<'_>>()
            .init_call()
            .set_question_id(77);
        assert_eq!(body_word(&first_segment(&b)).map(|w| w as u32), Some(77));

        let mut b = capnp::message::Builder::new_default();
        let mut ret = b.init_root::<message::Builder<'_>>().init_return();
        ret.set_answer_id(12);
        ret.set_no_finish_needed(true);
        let word = body_word(&first_segment(&b)).expect("in segment");
        assert_eq!(word as u32, 12);
        assert_eq!(word >> 33 & 1, 1, "noFinishNeeded is bit 33");

        let mut b = capnp::message::Builder::new_default();
        b.init_root::<message::Builder<'_>>()
            .init_finish()
            .set_question_id(u32::MAX);
        assert_eq!(
            body_word(&first_segment(&b)).map(|w| w as u32),
            Some(u32::MAX)
        );
    }

    #[test]
    fn garbage_never_panics_and_is_refused() {
        assert_eq!(body_word(&[]), None);
        assert_eq!(body_word(&[0xff; 7]), None);
        // A root pointing past the end.
        let root = (1u64 << 32) | (1u64 << 48) | (100 << 2);
        assert_eq!(body_word(&root.to_le_bytes()), None);
        // A negative offset before the segment start.
        let root = (1u64 << 32) | (1u64 << 48) | ((-5i32 as u32 as u64) << 2 & 0xffff_fffc);
        assert_eq!(
            body_word(&[root.to_le_bytes(), [0; 8], [0; 8]].concat()),
            None
        );
    }

    #[test]
    fn unknown_finishes_are_counted_not_subtracted() {
        let q = Questions::default();
        q.set_limits(FlowLimits {
            max_open: 2,
            ..FlowLimits::default()
        });
        q.asked(1).expect("under the limit");
        assert!(!q.finished(99));
        assert!(!q.finished(99));
        assert_eq!(q.open(), 1);
        q.asked(2).expect("at the limit");
        let e = q.asked(3).expect_err("over the limit");
        assert_eq!(e.kind, capnp::ErrorKind::Overloaded);
        assert!(q.finished(1));
        q.forget(2);
        assert_eq!(q.open(), 1);
    }
}
