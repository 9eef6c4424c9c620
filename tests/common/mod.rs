//! Helpers shared by the integration tests: in-process servers, clients and a delaying proxy.
// Each test binary uses a different subset, and `pub` here means "for the test files".
#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "tls")]
pub mod tls_servers;

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use windlass::client::Connection;
use windlass::server::ServerHandle;
use windlass_calculator::calculator_capnp::calculator::function;
use windlass_calculator::{self as calculator, Calculator};

/// A Calculator server on 127.0.0.1 on a free port, on its own thread.
pub fn calculator_server() -> ServerHandle {
    windlass::Server::bind("127.0.0.1:0", windlass::server::Options::new(), |_| {
        calculator::new_client().client
    })
    .expect("spawn server")
}

/// An address on 127.0.0.1 that refuses connections: the returned socket holds the port (bound,
/// never listening) for as long as it lives, so no other test or server can be given that port
/// meanwhile, which a bound-then-closed listener's port could be (the kernel reuses it).
pub fn refusing_address() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("bind 127.0.0.1:0");
    let addr = socket.local_addr().expect("local address");
    (socket, addr)
}

/// Runs `f` on a current-thread runtime inside a `LocalSet`, as every capnp-rpc client must.
pub fn run_local<F: Future>(f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    tokio::task::LocalSet::new().block_on(&runtime, f)
}

/// Connects to `addr` and bootstraps a Calculator.
pub async fn connect(addr: SocketAddr) -> (Connection, Calculator) {
    let conn = windlass::client::connect(&addr.to_string())
        .await
        .expect("connect to the test server");
    let calc = conn.bootstrap();
    (conn, calc)
}

/// Evaluates `text` (infix) on `calc`.
pub async fn eval(calc: &Calculator, text: &str) -> Result<f64, capnp::Error> {
    let expr = calculator::parse(text).expect("test expression parses");
    calculator::evaluate(calc, &expr).await
}

/// A TCP proxy on its own thread that delivers every byte `delay` after it arrived, in both
/// directions, to make round trips long enough to count.
pub struct DelayProxy {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DelayProxy {
    pub fn start(upstream: SocketAddr, delay: Duration) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("proxy address");
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("proxy listener");
                loop {
                    tokio::select! {
                        _ = &mut stopped => break,
                        accepted = listener.accept() => {
                            let Ok((client, _)) = accepted else { continue };
                            tokio::spawn(proxy_connection(client, upstream, delay));
                        }
                    }
                }
            });
        });
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn proxy_connection(client: TcpStream, upstream: SocketAddr, delay: Duration) {
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::join!(
        delayed_copy(client_read, server_write, delay),
        delayed_copy(server_read, client_write, delay),
    );
}

/// Copies `from` to `to`, holding each chunk until `delay` after it was read. Chunks are
/// timestamped on arrival, so a burst costs one delay, not one per chunk.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let reader = async move {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((due, chunk)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}

/// A client-side `Function` that answers only when `release` is notified (or never), and says
/// when it was called and when its work was dropped.
pub struct Gate {
    pub called: Rc<tokio::sync::Notify>,
    pub release: Rc<tokio::sync::Notify>,
    pub dropped: Rc<Cell<bool>>,
}

struct SetOnDrop(Rc<Cell<bool>>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

impl function::Server for Gate {
    async fn call(
        self: Rc<Self>,
        _: function::CallParams,
        mut results: function::CallResults,
    ) -> Result<(), capnp::Error> {
        let _guard = SetOnDrop(self.dropped.clone());
        self.called.notify_one();
        self.release.notified().await;
        results.get().set_value(1.0);
        Ok(())
    }
}

pub struct GateHandles {
    pub called: Rc<tokio::sync::Notify>,
    pub release: Rc<tokio::sync::Notify>,
    pub dropped: Rc<Cell<bool>>,
}

/// `evaluate(gate(0))` + `read()`, sent, with handles to the gate.
pub fn gated_call(
    calc: &Calculator,
) -> (
    impl std::future::Future<Output = Result<f64, capnp::Error>>,
    GateHandles,
) {
    let handles = GateHandles {
        called: Rc::default(),
        release: Rc::default(),
        dropped: Rc::default(),
    };
    let gate: function::Client = windlass::capnp_rpc::new_client(Gate {
        called: handles.called.clone(),
        release: handles.release.clone(),
        dropped: handles.dropped.clone(),
    });
    let mut request = calc.evaluate_request();
    {
        let mut call = request.get().init_expression().init_call();
        call.set_function(gate);
        call.init_params(1).get(0).set_literal(0.0);
    }
    let read = request
        .send()
        .pipeline
        .get_value()
        .read_request()
        .send()
        .promise;
    let value = async move { Ok(read.await?.get()?.get_value()) };
    (value, handles)
}
