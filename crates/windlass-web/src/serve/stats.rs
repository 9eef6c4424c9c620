//! What the web listener counts, read at any time through a [`WebStats`] handle (and, with
//! feature `metrics`, scraped by the admin endpoint of a windlass server beside it).
//!
//! Every refusal and misbehaving peer is counted; their log lines go through a
//! [`windlass::server::LogBudget`] each, so a flood of bad peers is a few lines a second.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use windlass::server::LogBudget;

use super::Transport;

/// Why a connection or request was turned away before (or instead of) a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Refusal {
    /// Over [`super::WebOptions::with_max_connections`]: closed at accept.
    Limit,
    /// The TLS handshake failed or did not finish within the handshake timeout.
    Handshake,
    /// A cross-origin request from an origin not on the allow-list (403).
    Origin,
    /// A body over the limit (413) or a WebSocket message over it (close 1009).
    TooLarge,
    /// Not a Cap'n Web request: another path (404), another method (405/426), a body that is
    /// not UTF-8 (400), a bad upgrade (400/426), a binary frame (close 1003).
    BadRequest,
    /// A request body that did not arrive within the idle timeout (408), or a request head
    /// begun but not finished within the handshake timeout (connection closed, no response).
    Timeout,
}

impl Refusal {
    /// Every reason, in the order of [`Refusal::label`]'s metric labels.
    pub const ALL: [Refusal; 6] = [
        Refusal::Limit,
        Refusal::Handshake,
        Refusal::Origin,
        Refusal::TooLarge,
        Refusal::BadRequest,
        Refusal::Timeout,
    ];

    /// The `reason` label of `windlass_web_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::Limit => "limit",
            Refusal::Handshake => "handshake",
            Refusal::Origin => "origin",
            Refusal::TooLarge => "too_large",
            Refusal::BadRequest => "bad_request",
            Refusal::Timeout => "timeout",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl Transport {
    /// The `transport` label of the session metrics.
    pub fn label(self) -> &'static str {
        match self {
            Transport::WebSocket => "websocket",
            Transport::HttpBatch => "http_batch",
        }
    }

    fn index(self) -> usize {
        match self {
            Transport::WebSocket => 0,
            Transport::HttpBatch => 1,
        }
    }
}

/// The counters of one transport.
#[derive(Debug, Default)]
struct PerTransport {
    opened: AtomicU64,
    closed: AtomicU64,
    aborted: AtomicU64,
    messages_in: AtomicU64,
    messages_out: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    accepted: AtomicU64,
    closed: AtomicU64,
    transports: [PerTransport; 2],
    refused: [AtomicU64; Refusal::ALL.len()],
    refusal_log: LogBudget,
    peer_error_log: LogBudget,
}

/// A handle on a web listener's counters: clone it out of [`super::WebOptions::stats`] before
/// passing the options to [`super::serve`]. Cheap to clone; every clone reads the same counters.
#[derive(Clone, Debug, Default)]
pub struct WebStats(Arc<Inner>);

/// One transport's counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionCounts {
    /// Sessions started.
    pub opened: u64,
    /// Sessions open now.
    pub active: u64,
    /// Sessions that ended with an abort (either side's, a protocol error included).
    pub aborted: u64,
    /// Cap'n Web messages received.
    pub messages_in: u64,
    /// Cap'n Web messages sent.
    pub messages_out: u64,
}

impl WebStats {
    /// TCP connections accepted (those refused at the limit included).
    pub fn accepted(&self) -> u64 {
        self.0.accepted.load(Relaxed)
    }

    /// TCP connections open now.
    pub fn active_connections(&self) -> u64 {
        let closed = self.0.closed.load(Relaxed);
        self.accepted().saturating_sub(closed)
    }

    /// The sessions of `transport`.
    pub fn sessions(&self, transport: Transport) -> SessionCounts {
        let t = &self.0.transports[transport.index()];
        let opened = t.opened.load(Relaxed);
        SessionCounts {
            opened,
            active: opened.saturating_sub(t.closed.load(Relaxed)),
            aborted: t.aborted.load(Relaxed),
            messages_in: t.messages_in.load(Relaxed),
            messages_out: t.messages_out.load(Relaxed),
        }
    }

    /// Refusals for `reason` so far.
    pub fn refused(&self, reason: Refusal) -> u64 {
        self.0.refused[reason.index()].load(Relaxed)
    }

    pub(super) fn connection_accepted(&self) {
        self.0.accepted.fetch_add(1, Relaxed);
    }

    pub(super) fn connection_closed(&self) {
        self.0.closed.fetch_add(1, Relaxed);
    }

    /// Counts a refusal; `Some(n)` when it may be logged (`n` suppressed since the last line).
    pub(super) fn refuse(&self, reason: Refusal) -> Option<u64> {
        self.0.refused[reason.index()].fetch_add(1, Relaxed);
        self.0.refusal_log.admit()
    }

    /// Whether a misbehaving peer's event may be logged (see [`WebStats::refuse`]).
    pub(super) fn peer_error(&self) -> Option<u64> {
        self.0.peer_error_log.admit()
    }

    pub(super) fn session_opened(&self, transport: Transport) {
        self.0.transports[transport.index()]
            .opened
            .fetch_add(1, Relaxed);
    }

    pub(super) fn session_closed(&self, transport: Transport, aborted: bool) {
        let t = &self.0.transports[transport.index()];
        if aborted {
            t.aborted.fetch_add(1, Relaxed);
        }
        t.closed.fetch_add(1, Relaxed);
    }

    pub(super) fn messages(&self, transport: Transport, received: u64, sent: u64) {
        let t = &self.0.transports[transport.index()];
        t.messages_in.fetch_add(received, Relaxed);
        t.messages_out.fetch_add(sent, Relaxed);
    }
}

#[cfg(feature = "metrics")]
mod metrics {
    //! `WebStats` as prometheus-client metric families:
    //!
    //! | name | type | labels |
    //! |------|------|--------|
    //! | `windlass_web_connections_accepted_total` | counter | |
    //! | `windlass_web_connections_active` | gauge | |
    //! | `windlass_web_sessions_opened_total` | counter | `transport`: `websocket`, `http_batch` |
    //! | `windlass_web_sessions_active` | gauge | `transport` |
    //! | `windlass_web_sessions_aborted_total` | counter | `transport` |
    //! | `windlass_web_messages_received_total`, `windlass_web_messages_sent_total` | counter | `transport` |
    //! | `windlass_web_refused_total` | counter | `reason`: see [`super::Refusal::label`] |

    use prometheus_client::collector::Collector;
    use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
    use prometheus_client::metrics::counter::ConstCounter;
    use prometheus_client::metrics::gauge::ConstGauge;
    use prometheus_client::metrics::MetricType;

    use super::{Refusal, SessionCounts, Transport, WebStats};

    const TRANSPORTS: [Transport; 2] = [Transport::WebSocket, Transport::HttpBatch];

    /// A per-transport family: name, help, type, and the count it reports.
    type Family = (
        &'static str,
        &'static str,
        MetricType,
        fn(&SessionCounts) -> u64,
    );

    /// One family with a `transport` label.
    fn per_transport(
        e: &mut DescriptorEncoder<'_>,
        stats: &WebStats,
        (name, help, kind, value): Family,
    ) -> Result<(), std::fmt::Error> {
        let mut family = e.encode_descriptor(name, help, None, kind)?;
        for transport in TRANSPORTS {
            let n = value(&stats.sessions(transport));
            let labels = [("transport", transport.label())];
            let metric = family.encode_family(&labels)?;
            match kind {
                MetricType::Gauge => ConstGauge::new(n as i64).encode(metric)?,
                _ => ConstCounter::new(n).encode(metric)?,
            }
        }
        Ok(())
    }

    impl Collector for WebStats {
        fn encode(&self, mut e: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
            ConstCounter::new(self.accepted()).encode(e.encode_descriptor(
                "windlass_web_connections_accepted",
                "TCP connections the Cap'n Web listener accepted",
                None,
                MetricType::Counter,
            )?)?;
            ConstGauge::new(self.active_connections() as i64).encode(e.encode_descriptor(
                "windlass_web_connections_active",
                "Cap'n Web TCP connections open now",
                None,
                MetricType::Gauge,
            )?)?;
            let families: [Family; 5] = [
                (
                    "windlass_web_sessions_opened",
                    "Cap'n Web sessions started",
                    MetricType::Counter,
                    |c| c.opened,
                ),
                (
                    "windlass_web_sessions_active",
                    "Cap'n Web sessions open now",
                    MetricType::Gauge,
                    |c| c.active,
                ),
                (
                    "windlass_web_sessions_aborted",
                    "Cap'n Web sessions ended by an abort",
                    MetricType::Counter,
                    |c| c.aborted,
                ),
                (
                    "windlass_web_messages_received",
                    "Cap'n Web messages received",
                    MetricType::Counter,
                    |c| c.messages_in,
                ),
                (
                    "windlass_web_messages_sent",
                    "Cap'n Web messages sent",
                    MetricType::Counter,
                    |c| c.messages_out,
                ),
            ];
            for family in families {
                per_transport(&mut e, self, family)?;
            }
            let mut family = e.encode_descriptor(
                "windlass_web_refused",
                "Cap'n Web connections or requests refused, by reason",
                None,
                MetricType::Counter,
            )?;
            for reason in Refusal::ALL {
                let labels = [("reason", reason.label())];
                ConstCounter::new(self.refused(reason)).encode(family.encode_family(&labels)?)?;
            }
            Ok(())
        }
    }
}
