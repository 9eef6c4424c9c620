//! `serve` flags for running behind a load balancer (PROXY protocol, admin endpoint, shutdown
//! delay) and the `load` command: a bounded load of checked calls from several reconnecting
//! clients over a pool of addresses, reporting every failure (used by the HAProxy test).

use std::cell::RefCell;

use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Args;
use windlass::client::{Backoff, Reconnecting};
use windlass::server::{Cidr, Options, ProxyProtocol};
use windlass::Connector;
use windlass_calculator as calculator;

use crate::units::{parse_duration, parse_host_port};

/// Running behind a load balancer (docs/deploy.md).
#[derive(Args, Default)]
pub(crate) struct ScaleOut {
    /// Expect a PROXY protocol header (v1 or v2, HAProxy's send-proxy / send-proxy-v2) on every
    /// connection; only connections from --trusted-proxy sources are accepted, and the client
    /// address the header gives is the peer in logs, metrics and the bootstrap factory.
    #[arg(long, requires = "trusted_proxy")]
    proxy_protocol: bool,
    /// A network (CIDR, e.g. 10.0.0.0/8, or one address) whose connections may carry a PROXY
    /// header. Repeatable.
    #[arg(long, value_name = "CIDR", requires = "proxy_protocol")]
    trusted_proxy: Vec<Cidr>,
    /// Serve /healthz, /readyz and Prometheus /metrics over HTTP on this address (keep it
    /// private: no authentication), e.g. 127.0.0.1:9090.
    #[cfg(feature = "admin")]
    #[arg(long, value_name = "HOST:PORT")]
    admin: Option<std::net::SocketAddr>,
    /// On SIGTERM/SIGINT, report not ready (/readyz 503) but keep accepting for this long, so
    /// the load balancer's health check takes the server out before it stops accepting; then
    /// drain (--drain-timeout). Set it above the balancer's check interval × fall count.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    pub(crate) shutdown_delay: Duration,
}

impl ScaleOut {
    pub(crate) fn apply(&self, mut options: Options) -> Options {
        if self.proxy_protocol {
            let config = self
                .trusted_proxy
                .iter()
                .fold(ProxyProtocol::new(), |config, net| config.trust(*net));
            options = options.with_proxy_protocol(config);
        }
        #[cfg(feature = "admin")]
        if let Some(addr) = self.admin {
            options = options.with_admin(addr);
        }
        options
    }
}

/// Run a bounded, checked load against a server or a pool and print a report.
///
/// Each client is a reconnecting connection over every --connect address in turn; it makes
/// sequential calls, each evaluating a number unique to the run, and checks the answer is that
/// number. One line per client, then a `total` line:
/// `ok=N failed=N disconnected=N wrong=N timed_out=N connects=N max_recovery_ms=N
/// max_failed_ms=N` (recovery: from a failure to the next success; failed: the longest a failed
/// call took to fail).
/// Exits 1 if any answer was wrong.
#[derive(Args)]
pub(crate) struct Load {
    /// Server address; repeat for a pool (failover in the given order).
    #[arg(long, short, required = true, value_name = "HOST:PORT", value_parser = parse_host_port)]
    connect: Vec<String>,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 4)]
    clients: u32,
    /// Stop after this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    duration: Duration,
    /// Stop each client after this many calls (whichever comes first).
    #[arg(long, default_value_t = 1_000_000)]
    max_calls: u64,
    /// Pause between a client's calls (bounds the load).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "2ms")]
    interval: Duration,
    /// Retry a call once on a new connection after it failed with Disconnected (the calls are
    /// idempotent).
    #[arg(long)]
    retry_idempotent: bool,
    /// Client heartbeat interval (a cut link is detected within about twice this).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    heartbeat: Option<Duration>,
    /// How long one call may take before it counts as timed out (lost).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    call_timeout: Duration,
}

#[derive(Default, Debug)]
struct Report {
    ok: u64,
    failed: u64,
    disconnected: u64,
    wrong: u64,
    timed_out: u64,
    connects: u64,
    max_recovery: Duration,
    /// The longest a failed call took to fail (how fast a loss was noticed).
    max_failed: Duration,
    first_failure: Option<Instant>,
}

impl Report {
    fn line(&self) -> String {
        format!(
            "ok={} failed={} disconnected={} wrong={} timed_out={} connects={} max_recovery_ms={} max_failed_ms={}",
            self.ok,
            self.failed,
            self.disconnected,
            self.wrong,
            self.timed_out,
            self.connects,
            self.max_recovery.as_millis(),
            self.max_failed.as_millis()
        )
    }

    fn add(&mut self, other: &Report) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.disconnected += other.disconnected;
        self.wrong += other.wrong;
        self.timed_out += other.timed_out;
        self.connects += other.connects;
        self.max_recovery = self.max_recovery.max(other.max_recovery);
        self.max_failed = self.max_failed.max(other.max_failed);
    }
}

pub(crate) async fn load(args: Load) -> Result<ExitCode, windlass::Error> {
    let deadline = Instant::now() + args.duration;
    let args = Rc::new(args);
    let mut tasks = Vec::new();
    for id in 0..args.clients {
        tasks.push(tokio::task::spawn_local(client(id, args.clone(), deadline)));
    }
    let mut total = Report::default();
    for (id, task) in tasks.into_iter().enumerate() {
        let report = task.await.unwrap_or_else(|e| Report {
            failed: 1,
            wrong: u64::from(e.is_panic()),
            ..Report::default()
        });
        println!("client id={id} {}", report.line());
        total.add(&report);
    }
    println!("total {}", total.line());
    Ok(if total.wrong == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn client(id: u32, args: Rc<Load>, deadline: Instant) -> Report {
    let report = Rc::new(RefCell::new(Report::default()));
    let connector = Connector::new_multi(args.connect.iter().cloned())
        .with_connect_timeout(Duration::from_secs(1))
        .with_heartbeat(args.heartbeat);
    let backoff = Backoff::new()
        .with_initial(Duration::from_millis(20))
        .with_max_delay(Duration::from_millis(250))
        .with_max_attempts(40);
    let seen = report.clone();
    let conn: Reconnecting<calculator::Calculator> = Reconnecting::new(connector, backoff)
        .on_connect(move |addr| {
            seen.borrow_mut().connects += 1;
            let addr = addr.map_or_else(|| "a unix socket".to_string(), |a| a.to_string());
            eprintln!("client {id} connected to {addr}");
        });
    let mut seq = 0u64;
    while Instant::now() < deadline && seq < args.max_calls {
        seq += 1;
        // Unique per call and exactly representable as f64: client id in the high digits.
        let value = f64::from(id) * 1e9 + seq as f64;
        let expr = calculator::Expr::Number(value);
        let call = |calc: calculator::Calculator| {
            let expr = expr.clone();
            async move { calculator::evaluate(&calc, &expr).await }
        };
        let attempt = async {
            if args.retry_idempotent {
                conn.call_idempotent(call).await
            } else {
                conn.call(call).await
            }
        };
        let started = Instant::now();
        let result = tokio::time::timeout(args.call_timeout, attempt).await;
        {
            let mut r = report.borrow_mut();
            match result {
                Ok(Ok(got)) if got == value => {
                    r.ok += 1;
                    if let Some(failed_at) = r.first_failure.take() {
                        r.max_recovery = r.max_recovery.max(failed_at.elapsed());
                    }
                }
                Ok(Ok(got)) => {
                    eprintln!("client {id}: call {seq} returned {got}, expected {value}");
                    r.wrong += 1;
                }
                Ok(Err(e)) => {
                    let disconnected = matches!(&e, windlass::Error::Rpc(e) if e.kind == capnp::ErrorKind::Disconnected);
                    eprintln!("client {id}: call {seq} failed: {e}");
                    r.failed += 1;
                    r.disconnected += u64::from(disconnected);
                    r.max_failed = r.max_failed.max(started.elapsed());
                    r.first_failure.get_or_insert_with(Instant::now);
                }
                Err(_) => {
                    eprintln!("client {id}: call {seq} timed out");
                    r.timed_out += 1;
                    r.first_failure.get_or_insert_with(Instant::now);
                }
            }
        }
        tokio::time::sleep(args.interval).await;
    }
    let mut r = report.borrow_mut();
    if let Some(failed_at) = r.first_failure.take() {
        // Never recovered before the end: count the whole wait.
        r.max_recovery = r.max_recovery.max(failed_at.elapsed());
    }
    std::mem::take(&mut *r)
}
