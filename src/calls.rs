//! What the server sees of each call it answers, for metrics: how long it took (from the `Call`
//! arriving to its `Return` leaving) and, when it failed, the error's kind.
//!
//! The cost per call must stay a few dozen instructions (the instructions-per-call benchmark
//! allows the whole export 3 %, about 4 000 of ≈ 132 000), so ids and tags are read straight
//! from the first segment's bytes as [`crate::instrument::message_tag`] does, times come from the
//! `Instant::now()` the watcher takes anyway, and the histogram is a fixed array of relaxed
//! atomic counters summed only when scraped.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Upper bounds of the call latency histogram buckets, in microseconds (a last bucket catches
/// the rest). From a loopback call (≈ 30 µs) to a call that waited on a slow callback (> 1 s).
pub(crate) const LATENCY_BOUNDS_US: [u64; 12] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000, 10_000_000,
];

/// How many unanswered calls per connection are timed; beyond that a call goes untimed (it is
/// still counted everywhere else). Bounds the memory a peer's pipelining can make us keep.
const MAX_TIMED_CALLS: usize = 4096;

/// The error kinds a `Return` can carry, in `rpc.capnp` `Exception.Type` order.
pub(crate) const ERROR_KINDS: [&str; 4] = ["failed", "overloaded", "disconnected", "unimplemented"];

/// Call latencies and error kinds, readable from any thread.
#[derive(Debug, Default)]
pub(crate) struct CallStats {
    buckets: [AtomicU64; LATENCY_BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
    errors: [AtomicU64; ERROR_KINDS.len()],
}

/// A copy of [`CallStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct CallSnapshot {
    /// Non-cumulative counts per bucket of [`LATENCY_BOUNDS_US`], then the overflow bucket.
    pub(crate) buckets: [u64; LATENCY_BOUNDS_US.len() + 1],
    pub(crate) sum_us: u64,
    pub(crate) errors: [u64; ERROR_KINDS.len()],
}

impl CallStats {
    pub(crate) fn observe(&self, took: Duration) {
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let bucket = LATENCY_BOUNDS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(LATENCY_BOUNDS_US.len());
        self.buckets[bucket].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    pub(crate) fn error(&self, kind: usize) {
        if let Some(counter) = self.errors.get(kind) {
            counter.fetch_add(1, Relaxed);
        }
    }

    pub(crate) fn snapshot(&self) -> CallSnapshot {
        CallSnapshot {
            buckets: std::array::from_fn(|i| self.buckets[i].load(Relaxed)),
            sum_us: self.sum_us.load(Relaxed),
            errors: std::array::from_fn(|i| self.errors[i].load(Relaxed)),
        }
    }

    /// Adds a snapshot (of a connection that has ended) into these totals.
    pub(crate) fn absorb(&self, other: &CallSnapshot) {
        for (mine, theirs) in self.buckets.iter().zip(other.buckets) {
            mine.fetch_add(theirs, Relaxed);
        }
        self.sum_us.fetch_add(other.sum_us, Relaxed);
        for (mine, theirs) in self.errors.iter().zip(other.errors) {
            mine.fetch_add(theirs, Relaxed);
        }
    }
}

impl CallSnapshot {
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn add(&mut self, other: &CallSnapshot) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            *mine += theirs;
        }
        self.sum_us += other.sum_us;
        for (mine, theirs) in self.errors.iter_mut().zip(other.errors) {
            *mine += theirs;
        }
    }
}

/// When each unanswered call of one connection arrived, by question id. Almost always holds a
/// handful of entries, so a vector beats a map.
#[derive(Debug, Default)]
pub(crate) struct CallTimes(RefCell<Vec<(u32, Instant)>>);

impl CallTimes {
    pub(crate) fn started(&self, question: u32, at: Instant) {
        let mut times = self.0.borrow_mut();
        if let Some(slot) = times.iter_mut().find(|(q, _)| *q == question) {
            slot.1 = at;
        } else if times.len() < MAX_TIMED_CALLS {
            times.push((question, at));
        }
    }

    /// When the call answered by `answer` started, forgetting it.
    pub(crate) fn answered(&self, answer: u32) -> Option<Instant> {
        let mut times = self.0.borrow_mut();
        let index = times.iter().position(|(q, _)| *q == answer)?;
        Some(times.swap_remove(index).1)
    }
}

/// The data section of the struct the root `Message`'s first pointer points to (the `Call` of a
/// call message, the `Return` of a return), read from the first segment without validation
/// beyond bounds. `None` for far pointers and anything unusual; callers then skip the figure.
fn union_body(segment: &[u8]) -> Option<&[u8]> {
    let (start, data_words, pointer_words) = struct_at(segment, 0)?;
    if pointer_words == 0 {
        return None;
    }
    let pointer = start + data_words * 8;
    let (body, body_data, _) = struct_at(segment, pointer)?;
    segment.get(body..body + body_data * 8)
}

/// Decodes the struct pointer at byte `at`: (start of its data in bytes, data words, pointer
/// words), checked to lie inside the segment.
fn struct_at(segment: &[u8], at: usize) -> Option<(usize, usize, usize)> {
    let word = u64::from_le_bytes(segment.get(at..at + 8)?.try_into().ok()?);
    if word == 0 || word & 3 != 0 {
        return None;
    }
    let offset = i64::from((word as u32 as i32) >> 2);
    let data_words = usize::from((word >> 32) as u16);
    let pointer_words = usize::from((word >> 48) as u16);
    let start = i64::try_from(at / 8).ok()? + 1 + offset;
    let start = usize::try_from(start).ok()?.checked_mul(8)?;
    if start.checked_add((data_words + pointer_words) * 8)? > segment.len() {
        return None;
    }
    Some((start, data_words, pointer_words))
}

/// The question id of a `Call` message, or the answer id of a `Return` (both are the first 32
/// bits of the body's data section).
pub(crate) fn question_id(segment: &[u8]) -> Option<u32> {
    let body = union_body(segment)?;
    Some(u32::from_le_bytes(body.get(..4)?.try_into().ok()?))
}

/// Whether a `Return` message carries an exception: its union tag (16 bits at data offset 6)
/// is 1. `None` when the bytes cannot tell.
pub(crate) fn returns_exception(segment: &[u8]) -> Option<bool> {
    let body = union_body(segment)?;
    // A data section too short to hold the tag means the tag is its default, 0 (`results`).
    Some(body.get(6..8).is_some_and(|tag| tag == [1, 0]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use capnp::message::Builder;
    use capnp_rpc::rpc_capnp::{exception, message};

    #[test]
    fn ids_and_exceptions_read_from_bytes_match_the_builder() {
        let mut call = Builder::new_default();
        call.init_root::<message::Builder<'_>>()
            .init_call()
            .set_question_id(0xdead_beef);
        assert_eq!(
            question_id(call.get_segments_for_output()[0]),
            Some(0xdead_beef)
        );

        let mut ok = Builder::new_default();
        let mut ret = ok.init_root::<message::Builder<'_>>().init_return();
        ret.set_answer_id(7);
        ret.init_results();
        let segment = ok.get_segments_for_output()[0].to_vec();
        assert_eq!(question_id(&segment), Some(7));
        assert_eq!(returns_exception(&segment), Some(false));

        let mut failed = Builder::new_default();
        let mut ret = failed.init_root::<message::Builder<'_>>().init_return();
        ret.set_answer_id(9);
        let mut e = ret.init_exception();
        e.set_type(exception::Type::Overloaded);
        e.set_reason("busy");
        let segment = failed.get_segments_for_output()[0].to_vec();
        assert_eq!(question_id(&segment), Some(9));
        assert_eq!(returns_exception(&segment), Some(true));

        // Truncations never panic and never invent an id.
        for cut in 0..segment.len() {
            let _ = question_id(&segment[..cut]);
            let _ = returns_exception(&segment[..cut]);
        }
    }

    #[test]
    fn latencies_land_in_their_buckets_and_times_pair_up() {
        let stats = CallStats::default();
        stats.observe(Duration::from_micros(10));
        stats.observe(Duration::from_micros(50));
        stats.observe(Duration::from_micros(51));
        stats.observe(Duration::from_secs(100));
        stats.error(1);
        stats.error(99);
        let s = stats.snapshot();
        assert_eq!(s.buckets[0], 2);
        assert_eq!(s.buckets[1], 1);
        assert_eq!(s.buckets[LATENCY_BOUNDS_US.len()], 1);
        assert_eq!(s.errors, [0, 1, 0, 0]);

        let times = CallTimes::default();
        let t0 = Instant::now();
        times.started(1, t0);
        times.started(2, t0);
        assert_eq!(times.answered(1), Some(t0));
        assert_eq!(times.answered(1), None);
        assert_eq!(times.answered(3), None);
        for q in 0..(MAX_TIMED_CALLS as u32 + 10) {
            times.started(q, t0);
        }
        assert_eq!(times.0.borrow().len(), MAX_TIMED_CALLS, "bounded");
    }
}
