//! windlass against gRPC: the Calculator's `evaluate(literal)` + `read()` as one tonic unary call
//! `Evaluate(literal) -> value`, measured in the same run and the same modes (seq, pipe, conns) as
//! windlass with 1 and N workers, and printed with windlass's own report and comparison tables.
//!
//! ```text
//! cargo run --release -p windlass-grpc-bench -- [--secs 2] [--runs 3] [--depth 16] [--conns 16] \
//!     [--json] [--plot DIR] [--cpu-pin auto|on|off|--no-cpu-pin]
//! ```
//!
//! The tonic server runs on its own thread(s): a current-thread runtime for "1w", a multi-thread
//! runtime with N workers for "Nw" — the same shapes as windlass's workers. The load generator
//! is one current-thread runtime on the main thread, for every contender. Threads are pinned as
//! `windlass-calc bench --cpu-pin` pins them (`windlass_bench::Placement`): the load generator on
//! the last CPU, every server thread (tonic's and windlass's) on the others.
//!
//! `--plot DIR` writes the same charts as `windlass-calc bench compare --plot`, named
//! `grpc-calls-MODE.svg` and `grpc-latency-MODE.svg` so they can sit beside compare's.
//!
//! No protoc: the messages are prost derives and the service is written by hand over tonic's
//! `server::Grpc` and `client::Grpc`, as `tonic-build` would generate it.

use std::convert::Infallible;
use std::future::{ready, Ready};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use hdrhistogram::Histogram;
use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::codegen::BoxFuture;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;
use windlass_bench::compare::{self, Contender};
use windlass_bench::{CpuProbe, Mode, Percentiles, Pinning, Placement, Plan, Report};

/// `Evaluate`'s argument: the literal to evaluate.
#[derive(Clone, PartialEq, prost::Message)]
struct EvaluateRequest {
    #[prost(double, tag = "1")]
    literal: f64,
}

/// `Evaluate`'s result.
#[derive(Clone, PartialEq, prost::Message)]
struct Value {
    #[prost(double, tag = "1")]
    value: f64,
}

const SERVICE: &str = "calculator.Calculator";
const EVALUATE: &str = "/calculator.Calculator/Evaluate";
/// Thread name of the tonic server's runtime.
const SERVER_THREAD: &str = "wlgrpc";

/// The service: routes `Evaluate` to [`Evaluate`], anything else is `Unimplemented`.
#[derive(Clone)]
struct CalculatorService;

impl NamedService for CalculatorService {
    const NAME: &'static str = SERVICE;
}

impl tower_service::Service<http::Request<Body>> for CalculatorService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        Box::pin(async move {
            if request.uri().path() != EVALUATE {
                return Ok(Status::unimplemented(request.uri().path().to_string()).into_http());
            }
            let mut grpc =
                tonic::server::Grpc::new(ProstCodec::<Value, EvaluateRequest>::default());
            Ok(grpc.unary(Evaluate, request).await)
        })
    }
}

struct Evaluate;

impl UnaryService<EvaluateRequest> for Evaluate {
    type Response = Value;
    type Future = Ready<Result<Response<Value>, Status>>;

    fn call(&mut self, request: Request<EvaluateRequest>) -> Self::Future {
        ready(Ok(Response::new(Value {
            value: request.into_inner().literal,
        })))
    }
}

/// A tonic server on 127.0.0.1 on its own thread(s), stopped on drop.
struct GrpcServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl GrpcServer {
    /// Starts the server; its first thread pins itself to `placement`'s server CPUs before it
    /// builds the runtime, so every runtime thread inherits them.
    fn start(workers: usize, placement: &Placement) -> std::io::Result<Self> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel();
        let placement = placement.clone();
        let thread = std::thread::Builder::new()
            .name(SERVER_THREAD.into())
            .spawn(move || {
                if let Err(e) = placement.pin_current_to_server() {
                    eprintln!("warning: the tonic server is left unpinned: {e}");
                }
                let runtime = if workers <= 1 {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                } else {
                    tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(workers)
                        .thread_name(SERVER_THREAD)
                        .enable_all()
                        .build()
                };
                let runtime = match runtime {
                    Ok(runtime) => runtime,
                    Err(e) => return drop(ready.send(Err(e))),
                };
                runtime.block_on(async move {
                    let incoming = match TcpIncoming::bind("127.0.0.1:0".parse().expect("addr")) {
                        Ok(incoming) => incoming.with_nodelay(Some(true)),
                        Err(e) => return drop(ready.send(Err(e))),
                    };
                    let _ = ready.send(incoming.local_addr());
                    let _ = tonic::transport::Server::builder()
                        .add_service(CalculatorService)
                        .serve_with_incoming_shutdown(incoming, async {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        let addr = is_ready
            .recv()
            .map_err(|_| std::io::Error::other("the gRPC server thread ended"))??;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl GrpcServer {
    /// Stops the server and waits for its thread without blocking this runtime: tonic's graceful
    /// shutdown waits for the client's connection tasks, which run here.
    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        // On an error path: stop it, but do not join (see `shutdown`).
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type AnyError = Box<dyn std::error::Error>;

/// One `Evaluate(n)` and a check of the answer.
async fn one_call(grpc: &mut tonic::client::Grpc<Channel>, n: f64) -> Result<(), AnyError> {
    grpc.ready().await?;
    let response = grpc
        .unary(
            Request::new(EvaluateRequest { literal: n }),
            PathAndQuery::from_static(EVALUATE),
            ProstCodec::<EvaluateRequest, Value>::default(),
        )
        .await?;
    let got = response.into_inner().value;
    if got != n {
        return Err(format!("wrong result: expected {n}, got {got}").into());
    }
    Ok(())
}

/// Runs `plan` against a fresh tonic server with `workers` threads.
async fn measure(workers: usize, plan: &Plan, placement: &Placement) -> Result<Report, AnyError> {
    let server = GrpcServer::start(workers, placement)?;
    let endpoint = Endpoint::from_shared(format!("http://{}", server.addr))?.tcp_nodelay(true);
    let mut channels = Vec::new();
    for _ in 0..plan.mode.connections() {
        channels.push(endpoint.connect().await?);
    }
    let probe = CpuProbe::ThreadsNamed(SERVER_THREAD.into());
    let (server_before, client_before) = (probe.read(), CpuProbe::CurrentThread.read());
    let deadline = Instant::now() + plan.duration;
    let budget = std::cell::Cell::new(plan.max_ops);
    let take = || {
        let left = budget.get();
        let go = left > 0 && Instant::now() < deadline;
        if go {
            budget.set(left - 1);
        }
        go
    };
    let mut latency = Histogram::<u64>::new_with_bounds(1, 100_000_000_000, 3)?;
    let start = Instant::now();
    let mut ops = 0u64;
    match plan.mode {
        Mode::Pipe { depth } => {
            let timed = |mut grpc: tonic::client::Grpc<Channel>, n: u64| async move {
                let at = Instant::now();
                one_call(&mut grpc, n as f64).await.map(|()| at)
            };
            let grpc = tonic::client::Grpc::new(channels[0].clone());
            let mut in_flight = FuturesUnordered::new();
            while in_flight.len() < depth.max(1) && take() {
                in_flight.push(timed(grpc.clone(), ops + in_flight.len() as u64));
            }
            while let Some(result) = in_flight.next().await {
                record(&mut latency, result?);
                ops += 1;
                if take() {
                    in_flight.push(timed(grpc.clone(), ops));
                }
            }
        }
        _ => {
            let loops = channels.iter().map(|channel| {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                let take = &take;
                async move {
                    let mut mine = Vec::new();
                    while take() {
                        let at = Instant::now();
                        one_call(&mut grpc, mine.len() as f64).await?;
                        mine.push(at.elapsed());
                    }
                    Ok::<_, AnyError>(mine)
                }
            });
            for result in futures::future::join_all(loops).await {
                for elapsed in result? {
                    latency.saturating_record(elapsed.as_nanos().max(1) as u64);
                    ops += 1;
                }
            }
        }
    }
    let elapsed = start.elapsed();
    let delta =
        |before: Option<Duration>, after: Option<Duration>| Some(after?.saturating_sub(before?));
    let server_cpu = delta(server_before, probe.read());
    let client_cpu = delta(client_before, CpuProbe::CurrentThread.read());
    drop(channels);
    server.shutdown().await;
    Ok(Report {
        label: format!("tonic gRPC {workers}w"),
        mode: plan.mode,
        tls: false,
        ops,
        elapsed,
        latency: Percentiles {
            p50: Duration::from_nanos(latency.value_at_quantile(0.50)),
            p90: Duration::from_nanos(latency.value_at_quantile(0.90)),
            p99: Duration::from_nanos(latency.value_at_quantile(0.99)),
            max: Duration::from_nanos(latency.max()),
        },
        server_cpu,
        client_cpu,
        work: 0,
        bytes_per_op: None,
    })
}

fn record(latency: &mut Histogram<u64>, since: Instant) {
    latency.saturating_record(since.elapsed().as_nanos().max(1) as u64);
}

/// `--name value` from the command line, parsed; `default` when the flag is absent.
///
/// # Errors
/// The flag without a value, or a value that does not parse.
fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    let Some(at) = args.iter().position(|a| a == name) else {
        return Ok(default);
    };
    let value = args
        .get(at + 1)
        .ok_or_else(|| format!("{name} needs a value"))?;
    value.parse().map_err(|e| format!("{name} {value}: {e}"))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), AnyError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs: f64 = flag(&args, "--secs", 2.0)?;
    let runs: usize = flag(&args, "--runs", 1)?;
    let depth: usize = flag(&args, "--depth", 16)?;
    let conns: usize = flag(&args, "--conns", 16)?;
    let plot = flag(&args, "--plot", String::new())?;
    let plot = (!plot.is_empty()).then(|| PathBuf::from(plot));
    let json = args.iter().any(|a| a == "--json");
    // `--pin` / `--no-pin`: the older spellings, still accepted.
    let pinning = if args.iter().any(|a| a == "--no-cpu-pin" || a == "--no-pin") {
        Pinning::Off
    } else if args.iter().any(|a| a == "--pin") {
        flag(&args, "--pin", Pinning::Auto)?
    } else {
        flag(&args, "--cpu-pin", Pinning::Auto)?
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let many = cores.max(2);
    let duration = Duration::try_from_secs_f64(secs)?;
    let modes = [Mode::Seq, Mode::Pipe { depth }, Mode::Conns { conns }];

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    let reports = local.block_on(&runtime, async {
        // On this thread, before any server starts: it is the load generator.
        let placement = Placement::apply(pinning);
        if let Some(warning) = placement.warning() {
            eprintln!("warning: {warning}");
        }
        if !json {
            println!(
                "# placement: {placement}; servers in this process (windlass: \
                 acceptor + workers; tonic: its runtime's threads), load generator on 1 thread"
            );
            println!("{}", Report::table_header());
        }
        let mut reports = Vec::new();
        for _ in 0..runs.max(1) {
            for mode in modes {
                let plan = Plan::new(mode, duration);
                for workers in [1, many] {
                    let contender = Contender::Windlass {
                        workers,
                        tls: false,
                    };
                    let report = compare::run_once(&contender, &plan, (1, 1), &placement).await?;
                    emit(&report, json);
                    reports.push(report);
                    let report = measure(workers, &plan, &placement).await?;
                    emit(&report, json);
                    reports.push(report);
                }
            }
        }
        Ok::<_, AnyError>(reports)
    })?;
    let cells = compare::cells(&reports);
    if !json {
        println!(
            "\nmedians over {} run(s); × = ratio to windlass 1w",
            runs.max(1)
        );
        for mode in modes {
            println!("\n{}", compare::summary_table(&cells, mode, "windlass 1w"));
        }
    }
    if let Some(dir) = plot {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        for (name, svg) in compare::plots(&cells, &modes).map_err(|e| e.to_string())? {
            // Beside `bench compare`'s charts in the same directory, not over them.
            let path = dir.join(format!("grpc-{name}"));
            std::fs::write(&path, svg)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(())
}

fn emit(report: &Report, json: bool) {
    if json {
        println!("{}", report.json_line());
    } else {
        println!("{}", report.table_row());
    }
}
