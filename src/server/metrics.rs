//! The server's counters in the Prometheus text format (feature `admin`), through
//! `prometheus-client`.
//!
//! Nothing here runs per call: every figure is read at scrape time from counters the server keeps
//! anyway (the per-connection [`crate::instrument::Counters`], the server-wide
//! [`super::ServerStats`] and the totals of ended connections), so exporting costs the hot path
//! nothing beyond the call timing of [`crate::calls`].
//!
//! | name | type | labels |
//! |------|------|--------|
//! | `windlass_connections_accepted_total` | counter | |
//! | `windlass_connections_refused_total` | counter | `reason`: `limit`, `proxy_untrusted`, `proxy_invalid`, `proxy_timeout`, `proxy_io`, `handshake` |
//! | `windlass_handshake_failures_total` | counter | |
//! | `windlass_connections_active` | gauge | |
//! | `windlass_connections_closed_total` | counter | |
//! | `windlass_worker_connections` | gauge | `worker` |
//! | `windlass_messages_received_total`, `windlass_messages_sent_total` | counter | |
//! | `windlass_bytes_received_total`, `windlass_bytes_sent_total` | counter | |
//! | `windlass_calls_received_total`, `windlass_calls_sent_total` | counter | |
//! | `windlass_calls_in_flight` | gauge | |
//! | `windlass_call_errors_total` | counter | `kind`: `failed`, `overloaded`, `disconnected`, `unimplemented` |
//! | `windlass_call_duration_seconds` | histogram | |
//! | `windlass_connection_calls_received_total` | counter | `conn_id`, `peer`, `worker` (open connections only) |
//! | `windlass_ready`, `windlass_draining` | gauge | |
//!
//! `unimplemented` errors include the client heartbeats' probes (a call no server implements).
//! The per-connection family has one series per open connection, at most the connection limit.

use std::fmt::Write as _;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::{Phase, Shared};
use crate::calls::{CallSnapshot, ERROR_KINDS, LATENCY_BOUNDS_US};
use crate::instrument::ConnectionStats;

/// Everything one scrape reports, copied out of the server first.
#[derive(Debug, Default)]
struct Scrape {
    accepted: u64,
    rejected: u64,
    active: u64,
    closed: u64,
    refusals: super::RefusalStats,
    traffic: ConnectionStats,
    calls: CallSnapshot,
    in_flight: u64,
    workers: Vec<u64>,
    connections: Vec<(u64, String, usize, u64)>,
    ready: bool,
    draining: bool,
}

impl Scrape {
    fn take(shared: &Shared, workers: usize) -> Self {
        use std::sync::atomic::Ordering::Relaxed;
        let mut scrape = Scrape {
            accepted: shared.accepted.load(Relaxed),
            rejected: shared.rejected.load(Relaxed),
            active: shared.active.load(Relaxed) as u64,
            closed: shared.closed.load(Relaxed),
            refusals: shared.totals.refusals(),
            traffic: shared.totals.retired.snapshot(),
            calls: shared.totals.retired.calls.snapshot(),
            workers: vec![0; workers],
            draining: *shared.phase.borrow() != Phase::Running,
            ..Scrape::default()
        };
        scrape.ready = !scrape.draining && !shared.totals.unready.load(Relaxed);
        if let Ok(registry) = shared.registry.lock() {
            for (info, counters) in registry.iter() {
                let s = counters.snapshot();
                let t = &mut scrape.traffic;
                t.messages_in += s.messages_in;
                t.messages_out += s.messages_out;
                t.bytes_in += s.bytes_in;
                t.bytes_out += s.bytes_out;
                t.calls_in += s.calls_in;
                t.calls_out += s.calls_out;
                scrape.calls.add(&counters.calls.snapshot());
                scrape.in_flight += counters.in_flight.load(Relaxed);
                if let Some(n) = scrape.workers.get_mut(info.worker) {
                    *n += 1;
                }
                scrape.connections.push((
                    info.id,
                    crate::addr::ShowPeer(info.peer).to_string(),
                    info.worker,
                    s.calls_in,
                ));
            }
        }
        scrape
    }
}

impl prometheus_client::collector::Collector for Scrape {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let r = &self.refusals;
        counter(
            &mut e,
            "windlass_connections_accepted",
            "Connections accepted and handed to a worker",
            self.accepted,
        )?;
        let refused = [
            ("limit", self.rejected),
            ("proxy_untrusted", r.proxy_untrusted),
            ("proxy_invalid", r.proxy_invalid),
            ("proxy_timeout", r.proxy_timeout),
            ("proxy_io", r.proxy_io),
            ("handshake", r.handshake),
        ];
        labelled_counters(
            &mut e,
            "windlass_connections_refused",
            "Connections refused, by reason",
            "reason",
            &refused,
        )?;
        counter(
            &mut e,
            "windlass_handshake_failures",
            "TLS handshakes (or first-byte checks) that failed or timed out",
            r.handshake,
        )?;
        gauge(
            &mut e,
            "windlass_connections_active",
            "Connections open now",
            self.active,
        )?;
        counter(
            &mut e,
            "windlass_connections_closed",
            "Connections that have ended",
            self.closed,
        )?;
        let mut m = e.encode_descriptor(
            "windlass_worker_connections",
            "Established connections per worker thread",
            None,
            MetricType::Gauge,
        )?;
        for (worker, n) in self.workers.iter().enumerate() {
            let labels = [("worker", worker.to_string())];
            ConstGauge::new(to_i64(*n)).encode(m.encode_family(&labels)?)?;
        }
        let t = &self.traffic;
        counter(
            &mut e,
            "windlass_messages_received",
            "RPC messages received",
            t.messages_in,
        )?;
        counter(
            &mut e,
            "windlass_messages_sent",
            "RPC messages sent",
            t.messages_out,
        )?;
        counter(
            &mut e,
            "windlass_bytes_received",
            "Bytes received (after TLS decryption)",
            t.bytes_in,
        )?;
        counter(
            &mut e,
            "windlass_bytes_sent",
            "Bytes sent (before TLS encryption)",
            t.bytes_out,
        )?;
        counter(
            &mut e,
            "windlass_calls_received",
            "Calls peers made to this server",
            t.calls_in,
        )?;
        counter(
            &mut e,
            "windlass_calls_sent",
            "Calls this server made to peers (callbacks)",
            t.calls_out,
        )?;
        gauge(
            &mut e,
            "windlass_calls_in_flight",
            "Calls received and not answered yet",
            self.in_flight,
        )?;
        let errors: Vec<(&str, u64)> = ERROR_KINDS.iter().copied().zip(self.calls.errors).collect();
        labelled_counters(
            &mut e,
            "windlass_call_errors",
            "Calls answered with an error, by kind",
            "kind",
            &errors,
        )?;
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_US
            .iter()
            .map(|&us| us as f64 / 1e6)
            .chain([f64::MAX])
            .zip(self.calls.buckets)
            .collect();
        let count = self.calls.buckets.iter().sum();
        let sum = self.calls.sum_us as f64 / 1e6;
        e.encode_descriptor(
            "windlass_call_duration_seconds",
            "Time from a call's arrival to its answer leaving",
            None,
            MetricType::Histogram,
        )?
        .encode_histogram::<prometheus_client::encoding::NoLabelSet>(sum, count, &buckets, None)?;
        let mut m = e.encode_descriptor(
            "windlass_connection_calls_received",
            "Calls received on each open connection",
            None,
            MetricType::Counter,
        )?;
        for (id, peer, worker, calls) in &self.connections {
            let labels = [
                ("conn_id", id.to_string()),
                ("peer", peer.clone()),
                ("worker", worker.to_string()),
            ];
            ConstCounter::new(*calls).encode(m.encode_family(&labels)?)?;
        }
        gauge(
            &mut e,
            "windlass_ready",
            "1 while the server accepts and reports ready, 0 from the start of shutdown",
            u64::from(self.ready),
        )?;
        gauge(
            &mut e,
            "windlass_draining",
            "1 once shutdown has begun (calls in flight are draining)",
            u64::from(self.draining),
        )?;
        Ok(())
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn counter(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: u64,
) -> Result<(), std::fmt::Error> {
    ConstCounter::new(v).encode(e.encode_descriptor(name, help, None, MetricType::Counter)?)
}

fn gauge(e: &mut DescriptorEncoder, name: &str, help: &str, v: u64) -> Result<(), std::fmt::Error> {
    ConstGauge::new(to_i64(v)).encode(e.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn labelled_counters(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &[(&str, u64)],
) -> Result<(), std::fmt::Error> {
    let mut m = e.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (value, n) in values {
        let labels = [(label, *value)];
        ConstCounter::new(*n).encode(m.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A collector added with [`super::Options::with_metrics_collector`], shared by every scrape.
pub(crate) type SharedCollector = std::sync::Arc<dyn prometheus_client::collector::Collector>;

/// Lends a [`SharedCollector`] to one scrape's registry (which owns what it holds).
#[derive(Debug)]
struct Lent(SharedCollector);

impl prometheus_client::collector::Collector for Lent {
    fn encode(&self, encoder: DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// The text a `/metrics` scrape returns.
pub(super) fn render(shared: &Shared, workers: usize) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape::take(shared, workers)));
    for collector in &shared.collectors {
        registry.register_collector(Box::new(Lent(collector.clone())));
    }
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &registry) {
        // Writing to a String cannot fail; say so in the output rather than panicking.
        let _ = writeln!(out, "# encoding failed: {e}");
    }
    out
}
