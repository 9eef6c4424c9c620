//! Server-wide totals kept beside the per-connection counters: refusals by reason, and the
//! traffic of connections that have ended (so exported totals never go down when a connection
//! closes). Updated once per connection, never per message.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use crate::calls::CallSnapshot;
use crate::instrument::{ConnectionStats, Counters};

/// Why a connection was refused, as [`RefusalStats`] counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The PROXY header came from a source outside the trusted networks.
    ProxyUntrusted,
    /// The connection did not start with a valid PROXY header.
    ProxyInvalid,
    /// No PROXY header within the handshake timeout.
    ProxyTimeout,
    /// Reading the PROXY header failed.
    ProxyIo,
    /// The TLS handshake (or the check of the first bytes) failed or timed out.
    Handshake,
}

/// Connections refused before their RPC started, by reason (the connection limit is
/// [`super::ServerStats::rejected`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RefusalStats {
    /// PROXY protocol on: the source was not a trusted proxy.
    pub proxy_untrusted: u64,
    /// PROXY protocol on: the first bytes were not a valid header.
    pub proxy_invalid: u64,
    /// PROXY protocol on: the header did not arrive within the handshake timeout.
    pub proxy_timeout: u64,
    /// PROXY protocol on: the connection failed while the header was read.
    pub proxy_io: u64,
    /// The TLS handshake failed or timed out, or the first bytes were the wrong protocol.
    pub handshake: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Totals {
    refusals: [AtomicU64; 5],
    /// Traffic and calls of ended connections, summed.
    pub(crate) retired: Counters,
    /// Cleared from the moment shutdown begins (or [`super::ShutdownTrigger::mark_unready`]).
    pub(crate) unready: AtomicBool,
}

impl Totals {
    pub(crate) fn refused(&self, why: Refusal) {
        self.refusals[why as usize].fetch_add(1, Relaxed);
    }

    pub(crate) fn refusals(&self) -> RefusalStats {
        let r = |i: Refusal| self.refusals[i as usize].load(Relaxed);
        RefusalStats {
            proxy_untrusted: r(Refusal::ProxyUntrusted),
            proxy_invalid: r(Refusal::ProxyInvalid),
            proxy_timeout: r(Refusal::ProxyTimeout),
            proxy_io: r(Refusal::ProxyIo),
            handshake: r(Refusal::Handshake),
        }
    }

    /// Adds an ended connection's final counters.
    pub(crate) fn retire(&self, stats: &ConnectionStats, calls: &CallSnapshot) {
        self.retired.add(stats);
        self.retired.calls.absorb(calls);
    }
}
