//! Logging at a bounded rate: a flood of refused or misbehaving peers must not become a flood
//! of log lines (3,000 refusals printed 3,169 lines in 7 s before this). Every event is still
//! counted ([`super::ServerStats`]); only the lines are rationed.
//!
//! Per kind of event: the first in each [`LOG_WINDOW`] is logged (with how many were suppressed
//! before it), the rest are counted, and the acceptor's tick logs "N more suppressed" for a window
//! that ended with suppressed events and no later line. At most about two lines per window.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// How often each kind of event may be logged.
pub const LOG_WINDOW: Duration = Duration::from_secs(1);

/// One kind of event's log budget; shared by every thread of a server. Public for listeners
/// built beside a windlass server (windlass-web's), so that their floods are rationed alike.
#[derive(Debug)]
pub struct LogBudget {
    epoch: Instant,
    /// Milliseconds since `epoch` + 1 when a line was last logged; 0 before the first.
    last: AtomicU64,
    suppressed: AtomicU64,
    /// Every event ever seen.
    total: AtomicU64,
}

impl LogBudget {
    /// A budget with nothing logged yet.
    pub fn new() -> Self {
        LogBudget {
            epoch: Instant::now(),
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64 + 1
    }

    fn window_over(&self, last: u64, now: u64) -> bool {
        last == 0 || now >= last + LOG_WINDOW.as_millis() as u64
    }

    /// Counts an event. `Some(n)` means: log it, noting that `n` were suppressed since the last
    /// line; `None` means it was counted and is not to be logged.
    pub fn admit(&self) -> Option<u64> {
        self.total.fetch_add(1, Relaxed);
        let now = self.now();
        let last = self.last.load(Relaxed);
        if self.window_over(last, now)
            && self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_ok()
        {
            return Some(self.suppressed.swap(0, Relaxed));
        }
        self.suppressed.fetch_add(1, Relaxed);
        None
    }

    /// For the periodic tick: how many were suppressed, if a window has passed since the last
    /// line and some were (the count is then reset and the summary counts as a line).
    pub fn summary(&self) -> Option<u64> {
        if self.suppressed.load(Relaxed) == 0 {
            return None;
        }
        let now = self.now();
        let last = self.last.load(Relaxed);
        if !self.window_over(last, now)
            || self
                .last
                .compare_exchange(last, now, Relaxed, Relaxed)
                .is_err()
        {
            return None;
        }
        Some(self.suppressed.swap(0, Relaxed)).filter(|&n| n > 0)
    }

    /// Every event counted so far.
    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }
}

impl Default for LogBudget {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_window_and_nothing_lost() {
        let budget = LogBudget::new();
        assert_eq!(budget.admit(), Some(0));
        for _ in 0..999 {
            assert_eq!(budget.admit(), None);
        }
        assert_eq!(budget.summary(), None, "the window has not passed");
        assert_eq!(budget.total(), 1000);
        // Pretend the window passed.
        budget.last.store(1, Relaxed);
        let budget = LogBudget {
            epoch: budget.epoch - LOG_WINDOW,
            ..budget
        };
        assert_eq!(budget.summary(), Some(999));
        assert_eq!(budget.summary(), None);
        assert_eq!(budget.admit(), None, "the summary used this window's line");
    }
}
