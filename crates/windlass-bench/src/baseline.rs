//! The baselines windlass is compared with: a raw TCP ping-pong moving the same bytes per round
//! trip as one call (the physical limit of the loopback, the kernel and the scheduler), and the
//! Calculator on bare capnp-rpc with a hand-written single-thread accept loop (what the windlass
//! runtime costs on top).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use capnp_rpc::{rpc_twoparty_capnp::Side, twoparty, RpcSystem};
use futures::io::{BufReader, BufWriter};
use futures::FutureExt;
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

use super::load::{histogram, record, Budget};
use super::pin::warn_unpinned;
use super::{BenchError, CpuProbe, Mode, Percentiles, Placement, Plan, Report, Target};
use windlass::client::Connector;
use windlass_calculator as calculator;

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> BenchError + '_ {
    move |source| BenchError::Io {
        what: what.to_string(),
        source,
    }
}

/// Thread name prefix of the raw ping-pong server and client.
const RAW_SERVER: &str = "wlraw-server";
const RAW_CLIENT: &str = "wlraw-client";

/// Runs a TCP ping-pong shaped like `plan` (seq, or pipe with its depth; other modes are not
/// meaningful without RPC and run as seq): each exchange sends `request` bytes and receives
/// `response` bytes, over blocking sockets with `TCP_NODELAY`, client and server each on its own
/// thread. The server answers every request with its own `write`, as an RPC server does. Each
/// thread pins itself as it starts: the server to `placement`'s server CPUs, the client to the
/// load generator's (a refusal is logged, not fatal).
///
/// Blocks the calling thread for the length of the plan.
///
/// # Errors
/// When a socket or thread cannot be set up or an exchange fails.
pub fn raw_ping_pong(
    plan: &Plan,
    request: usize,
    response: usize,
    placement: &Placement,
) -> Result<Report, BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io_error("binding the raw server"))?;
    let addr = listener
        .local_addr()
        .map_err(io_error("reading its address"))?;
    // Threads name themselves as they start: wait for the server's, so its CPU time is found.
    let (ready, is_ready) = std::sync::mpsc::channel();
    let server_placement = placement.clone();
    let server = std::thread::Builder::new()
        .name(RAW_SERVER.into())
        .spawn(move || {
            warn_unpinned(
                server_placement.pin_current_to_server(),
                "raw ping-pong server",
            );
            let _ = ready.send(());
            raw_server(&listener, request, response);
        })
        .map_err(io_error("starting the raw server thread"))?;
    let _ = is_ready.recv();
    let depth = match plan.mode {
        Mode::Pipe { depth } => depth.max(1),
        _ => 1,
    };
    let plan = *plan;
    let client_placement = placement.clone();
    let client = std::thread::Builder::new()
        .name(RAW_CLIENT.into())
        .spawn(move || {
            warn_unpinned(
                client_placement.pin_current_to_load(),
                "raw ping-pong client",
            );
            raw_client(addr, &plan, depth, request, response)
        })
        .map_err(io_error("starting the raw client thread"))?;
    let outcome = client.join().map_err(|_| BenchError::Io {
        what: "the raw client thread panicked".into(),
        source: std::io::Error::other("panic"),
    })?;
    // The client has closed its socket, so the server's read ends and its thread returns.
    let served = server.join();
    let (mut report, server_cpu) = outcome?;
    report.server_cpu = served.ok().and(server_cpu);
    report.mode = if depth > 1 {
        Mode::Pipe { depth }
    } else {
        Mode::Seq
    };
    Ok(report)
}

fn raw_server(listener: &TcpListener, request: usize, response: usize) {
    let Ok((mut stream, _)) = listener.accept() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut incoming = vec![0; request];
    let outgoing = vec![0x5a; response];
    while stream.read_exact(&mut incoming).is_ok() {
        if stream.write_all(&outgoing).is_err() {
            return;
        }
    }
}

/// The client loop; returns the report and the server's CPU time, read before the socket closes
/// (the server thread's figures vanish with it).
fn raw_client(
    addr: SocketAddr,
    plan: &Plan,
    depth: usize,
    request: usize,
    response: usize,
) -> Result<(Report, Option<Duration>), BenchError> {
    let mut stream = TcpStream::connect(addr).map_err(io_error("connecting to the raw server"))?;
    stream
        .set_nodelay(true)
        .map_err(io_error("setting TCP_NODELAY"))?;
    let outgoing = vec![0xa5; request];
    let mut incoming = vec![0; response];
    let server = CpuProbe::ThreadsNamed(RAW_SERVER.into());
    let client = CpuProbe::CurrentThread;
    let (server_before, client_before) = (server.read(), client.read());
    let budget = Budget::new(plan.duration, plan.max_ops);
    let mut latency = histogram();
    let mut sent = std::collections::VecDeque::with_capacity(depth);
    let start = Instant::now();
    let exchange = "a raw ping-pong exchange";
    while sent.len() < depth && budget.take() {
        stream.write_all(&outgoing).map_err(io_error(exchange))?;
        sent.push_back(Instant::now());
    }
    let mut ops = 0;
    while let Some(at) = sent.pop_front() {
        stream
            .read_exact(&mut incoming)
            .map_err(io_error(exchange))?;
        record(&mut latency, at);
        ops += 1;
        if budget.take() {
            stream.write_all(&outgoing).map_err(io_error(exchange))?;
            sent.push_back(Instant::now());
        }
    }
    let elapsed = start.elapsed();
    let server_cpu = super::delta(server_before, server.read());
    let report = Report {
        label: "raw TCP".into(),
        mode: plan.mode,
        tls: false,
        ops,
        elapsed,
        latency: Percentiles::of(&latency),
        server_cpu: None,
        client_cpu: super::delta(client_before, client.read()),
        bytes_per_op: Some((request as u64, response as u64)),
        work: 0,
    };
    Ok((report, server_cpu))
}

/// Thread name of the bare capnp-rpc server.
const BARE_THREAD: &str = "wlbare";

/// The Calculator on bare capnp-rpc: one thread, a current-thread runtime and `LocalSet`, and an
/// accept loop that wraps each socket in a `VatNetwork` and an `RpcSystem` — what every
/// capnp-rpc example does, with none of the windlass runtime around it.
#[derive(Debug)]
pub struct BareServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl BareServer {
    /// Starts it on a free port of 127.0.0.1.
    ///
    /// # Errors
    /// When the port or the thread cannot be had.
    pub fn start() -> Result<Self, BenchError> {
        let listener =
            TcpListener::bind("127.0.0.1:0").map_err(io_error("binding the bare server"))?;
        listener
            .set_nonblocking(true)
            .map_err(io_error("making the bare listener non-blocking"))?;
        let addr = listener
            .local_addr()
            .map_err(io_error("reading its address"))?;
        let (stop, stopped) = tokio::sync::oneshot::channel();
        // The thread names itself when it starts, not when it is spawned: wait for it, or a CPU
        // reading taken right away would not find it.
        let (ready, is_ready) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name(BARE_THREAD.into())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                let local = tokio::task::LocalSet::new();
                local.block_on(&runtime, async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let _ = ready.send(());
                    tokio::select! {
                        () = accept_loop(listener) => {}
                        _ = stopped => {}
                    }
                });
            })
            .map_err(io_error("starting the bare server thread"))?;
        is_ready.recv().map_err(|_| BenchError::Io {
            what: "the bare server thread could not start its runtime".into(),
            source: std::io::Error::other("thread ended"),
        })?;
        Ok(Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Pins its thread to `placement`'s server CPUs; returns how many threads it pinned (1).
    ///
    /// # Errors
    /// As [`Placement::pin_threads_named`].
    pub fn pin(&self, placement: &Placement) -> Result<usize, BenchError> {
        placement.pin_threads_named(BARE_THREAD)
    }

    /// This server as a [`Target`] named `bare capnp-rpc`.
    pub fn target(&self) -> Target {
        Target {
            label: "bare capnp-rpc".into(),
            connector: Connector::new(self.addr.to_string()),
            tls: false,
            server_cpu: Some(CpuProbe::ThreadsNamed(BARE_THREAD.into())),
        }
    }
}

impl Drop for BareServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn accept_loop(listener: tokio::net::TcpListener) {
    while let Ok((stream, _)) = listener.accept().await {
        let _ = stream.set_nodelay(true);
        let (reader, writer) = stream.into_split();
        let network = twoparty::VatNetwork::new(
            BufReader::new(reader.compat()),
            BufWriter::new(writer.compat_write()),
            Side::Server,
            Default::default(),
        );
        let bootstrap = calculator::new_client().client;
        let system = RpcSystem::new(Box::new(network), Some(bootstrap));
        tokio::task::spawn_local(system.map(|_| ()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_os = "linux")]
    fn the_bare_server_thread_is_found_by_name() {
        let server = BareServer::start().expect("bare server");
        let probe = server.target().server_cpu.expect("probe");
        assert!(probe.read().is_some(), "{probe:?}");
    }
}
