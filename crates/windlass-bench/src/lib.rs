//! A load generator for Calculator servers: how many calls per second, how long each takes, and
//! what the server's CPU pays per call. `windlass-calc bench` is its command line.
//!
//! - [`Mode`]: the shape of the load — sequential calls, pipelined calls, many connections, or
//!   chains of dependent pipelined calls.
//! - [`Plan`]: a mode bounded by time and by an operation count (never unbounded).
//! - [`measure`]: runs a plan against a [`Target`] (a [`Connector`] and where to read the
//!   server's CPU time) and returns a [`Report`] (calls/s, latency percentiles from an HDR
//!   histogram, server and load-generator CPU per call).
//! - [`InProcessServer`]: a windlass Calculator server in this process, plain or TLS, whose
//!   threads can be told apart for CPU accounting.
//! - [`compare`]: windlass side by side with [`raw_ping_pong`] (the physical limit),
//!   [`BareServer`] (bare capnp-rpc) and [`PythonServer`] (pycapnp), with medians and ratios.
//! - [`framing`]: the framing codecs against `memcpy` and capnp's readers and writers
//!   (`windlass-calc bench framing`, `cargo bench --bench framing`).
//! - [`web`]: Cap'n Web — `windlass-calc serve --web` against capnweb's own Node server, the
//!   same stock capnweb client for both (`cargo bench --bench web`).
//! - [`Placement`]: the server's threads on one set of CPUs, the load generator on another, the
//!   same for every contender (Linux; [`Pinning`] turns it off).
//!
//! The load generator runs on the caller's thread, inside a tokio `LocalSet`. On a small machine
//! it competes with the server for the cores, so the CPU time per call is often the steadier
//! figure; [`cpu`](CpuProbe) says how it is read.
//!
//! ```no_run
//! # async fn demo() -> Result<(), windlass_bench::BenchError> {
//! use std::time::Duration;
//! use windlass_bench::{InProcessServer, Mode, Plan};
//!
//! let server = InProcessServer::start(1, false)?;
//! let plan = Plan::new(Mode::Pipe { depth: 16 }, Duration::from_secs(1));
//! let report = windlass_bench::measure(&server.target("windlass 1w"), &plan).await?;
//! println!("{}\n{}", windlass_bench::Report::table_header(), report.table_row());
//! server.shutdown()?;
//! # Ok(())
//! # }
//! ```

mod baseline;
pub mod compare;
mod cpu;
pub mod framing;
mod load;
mod pin;
mod python;
mod report;
pub mod svg;
pub mod web;

use std::fmt;
use std::time::{Duration, Instant};

pub use baseline::{raw_ping_pong, BareServer};
pub use cpu::{CpuProbe, MachineTicks};
pub use pin::{cpu_list, CpuSplit, ParsePinningError, Pinning, Placement};
pub use python::PythonServer;
pub use report::{Percentiles, Report};

use windlass::client::{Connection, Connector};
use windlass::server::{ConnectionInfo, Options, ServerHandle};
use windlass_calculator as calculator;

/// Operations per run when the caller sets no other bound: large enough that `--secs` is what
/// normally ends a run, small enough that a mistaken run ends on its own.
pub const DEFAULT_MAX_OPS: u64 = 100_000_000;

/// The shape of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One connection, one `evaluate(literal)` + pipelined `read()` at a time: one round trip
    /// per call.
    Seq,
    /// One connection with `depth` such calls in flight.
    Pipe {
        /// Calls in flight.
        depth: usize,
    },
    /// `conns` connections, each making sequential calls.
    Conns {
        /// Connections.
        conns: usize,
    },
    /// `depth` dependent calls built with pipelining (each adds 1 to the previous result) and
    /// one `read()` at the end; one operation is a whole chain.
    Chain {
        /// Calls per chain.
        depth: usize,
    },
}

impl Mode {
    /// `seq`, `pipe`, `conns` or `chain`.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Seq => "seq",
            Mode::Pipe { .. } => "pipe",
            Mode::Conns { .. } => "conns",
            Mode::Chain { .. } => "chain",
        }
    }

    /// Connections the mode opens.
    pub fn connections(&self) -> usize {
        match self {
            Mode::Conns { conns } => (*conns).max(1),
            _ => 1,
        }
    }

    /// Calls in flight per connection (pipe) or per chain (chain); 1 otherwise.
    pub fn depth(&self) -> usize {
        match self {
            Mode::Pipe { depth } | Mode::Chain { depth } => (*depth).max(1),
            _ => 1,
        }
    }

    /// `evaluate` calls in one operation: the chain's depth for [`Mode::Chain`], else 1.
    pub fn calls_per_op(&self) -> u64 {
        match self {
            Mode::Chain { depth } => (*depth).max(1) as u64,
            _ => 1,
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mode::Seq => f.write_str("seq"),
            Mode::Pipe { depth } => write!(f, "pipe d={depth}"),
            Mode::Conns { conns } => write!(f, "conns n={conns}"),
            Mode::Chain { depth } => write!(f, "chain k={depth}"),
        }
    }
}

/// A mode and when to stop: after `duration` or `max_ops` operations, whichever comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// The shape of the load.
    pub mode: Mode,
    /// How long to run. Connecting is not counted.
    pub duration: Duration,
    /// The most operations to run. Default: [`DEFAULT_MAX_OPS`].
    pub max_ops: u64,
    /// Server-side work per call: each `evaluate` gets a balanced tree of this many `add` calls
    /// (on the server's own `add` function) instead of a literal, so the server does `work`
    /// local calls per round trip while the load generator builds one message. 0 (the default)
    /// is the plain `evaluate(literal)`. Not for [`Mode::Chain`]; at most [`MAX_WORK`].
    pub work: u32,
}

/// The largest [`Plan::work`]: deeper trees would near capnp's nesting limit (64).
pub const MAX_WORK: u32 = 1024;

impl Plan {
    /// `mode` for `duration`, at most [`DEFAULT_MAX_OPS`] operations.
    pub fn new(mode: Mode, duration: Duration) -> Self {
        Self {
            mode,
            duration,
            max_ops: DEFAULT_MAX_OPS,
            work: 0,
        }
    }

    /// Whether the plan can run: `work` within [`MAX_WORK`] and not with chains.
    ///
    /// # Errors
    /// [`BenchError::Plan`] saying what is wrong.
    pub fn check(&self) -> Result<(), BenchError> {
        if self.work > MAX_WORK {
            return Err(BenchError::Plan(format!(
                "work of {} add calls per evaluate is over the maximum of {MAX_WORK}",
                self.work
            )));
        }
        if self.work > 0 && matches!(self.mode, Mode::Chain { .. }) {
            return Err(BenchError::Plan(
                "work applies to seq, pipe and conns; a chain's calls are its work".into(),
            ));
        }
        Ok(())
    }

    /// `work` server-side `add` calls per `evaluate` (see [`Plan::work`]).
    pub fn with_work(mut self, work: u32) -> Self {
        self.work = work;
        self
    }

    /// At most `max_ops` operations.
    pub fn with_max_ops(mut self, max_ops: u64) -> Self {
        self.max_ops = max_ops;
        self
    }
}

/// Why a measurement failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// Connecting or starting a server failed.
    #[error(transparent)]
    Windlass(#[from] windlass::Error),
    /// The plan cannot run (see [`Plan::check`]).
    #[error("invalid benchmark plan: {0}")]
    Plan(String),
    /// A call failed.
    #[error("call failed: {0}")]
    Call(#[from] capnp::Error),
    /// The server answered with the wrong number: the figures would be meaningless.
    #[error("wrong result from the server: expected {expected}, got {got}")]
    WrongResult {
        /// What the call should have returned.
        expected: f64,
        /// What it returned.
        got: f64,
    },
    /// A windlass codec refused the framing benchmark's own well-formed messages: a bug in the
    /// codec or in the benchmark.
    #[error("framing benchmark: {what}: {source}")]
    Framing {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: windlass::framing::FramingError,
    },
    /// capnp refused the framing benchmark's own well-formed messages.
    #[error("framing benchmark: capnp {what}: {source}")]
    Capnp {
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: capnp::Error,
    },
    /// A baseline or a contender could not be run.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl From<windlass::ConnectError> for BenchError {
    fn from(e: windlass::ConnectError) -> Self {
        BenchError::Windlass(e.into())
    }
}

impl From<windlass::ServeError> for BenchError {
    fn from(e: windlass::ServeError) -> Self {
        BenchError::Windlass(e.into())
    }
}

/// A server to measure: how to reach it and whose CPU time is the server's.
#[derive(Debug, Clone)]
pub struct Target {
    /// Shown in reports, e.g. `windlass 1w` or the server's address.
    pub label: String,
    /// Opens the connections (with TLS when the server wants it).
    pub connector: Connector,
    /// Whether `connector` uses TLS (reported, not configured, here).
    pub tls: bool,
    /// The server's threads or process, for its CPU time per call; `None` when unknown.
    pub server_cpu: Option<CpuProbe>,
}

impl Target {
    /// A plain-TCP server at `addr`, CPU time unknown.
    pub fn new(label: impl Into<String>, connector: Connector) -> Self {
        Self {
            label: label.into(),
            connector,
            tls: false,
            server_cpu: None,
        }
    }
}

/// Runs `plan` against `target` and returns its figures.
///
/// Opens [`Mode::connections`] connections first (not timed), runs the load on the calling
/// thread, then closes them. The server's CPU time is read from `target.server_cpu`, the load
/// generator's from the calling thread.
///
/// Must run inside a tokio `LocalSet` (as every windlass client).
///
/// # Errors
/// A failed connection or call, or a wrong result.
pub async fn measure(target: &Target, plan: &Plan) -> Result<Report, BenchError> {
    plan.check()?;
    let connector = &target.connector;
    let server = target.server_cpu.as_ref();
    let mut conns = Vec::with_capacity(plan.mode.connections());
    for _ in 0..plan.mode.connections() {
        conns.push(connector.connect().await?);
    }
    let prepared = load::prepare(&conns, plan.work).await?;
    let before = conns.iter().map(Connection::stats).collect::<Vec<_>>();
    let server_before = server.and_then(CpuProbe::read);
    let client_before = CpuProbe::CurrentThread.read();
    let budget = load::Budget::new(plan.duration, plan.max_ops);
    let start = Instant::now();
    let result = load::drive(plan.mode, &prepared, &budget).await;
    let elapsed = start.elapsed();
    let client_cpu = delta(client_before, CpuProbe::CurrentThread.read());
    let server_cpu = delta(server_before, server.and_then(CpuProbe::read));
    let (mut bytes_out, mut bytes_in) = (0, 0);
    for (conn, before) in conns.iter().zip(&before) {
        let after = conn.stats();
        bytes_out += after.bytes_out - before.bytes_out;
        bytes_in += after.bytes_in - before.bytes_in;
    }
    for conn in conns {
        // The figures are taken; a connection that ended badly shows up in `result` already.
        let _ = conn.close().await;
    }
    let (ops, latency) = result?;
    Ok(Report {
        label: target.label.clone(),
        mode: plan.mode,
        tls: target.tls,
        ops,
        elapsed,
        latency: Percentiles::of(&latency),
        server_cpu,
        client_cpu,
        bytes_per_op: (ops > 0).then(|| (bytes_out / ops, bytes_in / ops)),
        work: plan.work,
    })
}

fn delta(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    Some(after?.saturating_sub(before?))
}

/// A windlass Calculator server in this process on `127.0.0.1`, for benchmarks.
#[derive(Debug)]
pub struct InProcessServer {
    handle: ServerHandle,
    connector: Connector,
    tls: bool,
}

/// The prefix of in-process benchmark servers' thread names (one server at a time).
const THREAD_PREFIX: &str = "wlbench";

impl InProcessServer {
    /// Starts a server with `workers` worker threads on a free port; with `tls`, over TLS with
    /// the development certificates (feature `tls`; ignored without it).
    ///
    /// # Errors
    /// When the server cannot start or the development certificates cannot be loaded.
    pub fn start(workers: usize, tls: bool) -> Result<Self, BenchError> {
        #[allow(unused_mut)]
        let mut options = Options::new()
            .with_workers(workers.max(1))
            .with_thread_name(THREAD_PREFIX);
        let listener =
            std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| BenchError::Io {
                what: "binding the benchmark server to 127.0.0.1:0".into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| BenchError::Io {
            what: "reading the benchmark server's address".into(),
            source,
        })?;
        #[allow(unused_mut)]
        let mut connector = Connector::new(addr.to_string());
        #[cfg(feature = "tls")]
        if tls {
            let server_tls = windlass::tls::dev::server()
                .build()
                .map_err(windlass::Error::from)?;
            let client_tls = windlass::tls::dev::client()
                .build()
                .map_err(windlass::Error::from)?;
            options = options.with_tls(server_tls);
            connector = connector.with_tls(client_tls);
        }
        #[cfg(not(feature = "tls"))]
        let _ = tls;
        let handle = windlass::server::Server::start(listener, options, |_: &ConnectionInfo| {
            calculator::new_client().client
        })?;
        Ok(Self {
            handle,
            connector,
            tls: cfg!(feature = "tls") && tls,
        })
    }

    /// Pins its threads (acceptor and workers) to `placement`'s server CPUs; returns how many.
    ///
    /// # Errors
    /// As [`Placement::pin_threads_named`].
    pub fn pin(&self, placement: &Placement) -> Result<usize, BenchError> {
        placement.pin_threads_named(THREAD_PREFIX)
    }

    /// This server as a [`Target`] named `label`, its CPU time read from its threads.
    pub fn target(&self, label: impl Into<String>) -> Target {
        Target {
            label: label.into(),
            connector: self.connector.clone(),
            tls: self.tls,
            server_cpu: Some(CpuProbe::ThreadsNamed(THREAD_PREFIX.into())),
        }
    }

    /// Stops the server and waits for its threads.
    ///
    /// # Errors
    /// As [`ServerHandle::shutdown`].
    pub fn shutdown(self) -> Result<(), BenchError> {
        Ok(self.handle.shutdown()?)
    }
}
