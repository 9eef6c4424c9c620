//! The client side: connect (TCP or TLS) with timeouts, get the typed bootstrap capability,
//! notice when the peer goes away, bound calls by a deadline, reconnect with backoff.
//!
//! - [`connect`] / [`Connector`]: a long-lived [`Connection`] (`close().await`, closed on drop).
//! - [`run`] / [`Connector::run`]: one-shot — connect, run a closure on the bootstrap
//!   capability, close.
//! - [`with_timeout`]: bound any call by a deadline; the call is cancelled on the server.
//! - [`Reconnecting`]: re-connects with capped exponential backoff and jitter.

mod connection;
mod failover;
mod reconnect;
#[cfg(feature = "tls")]
mod tls;

pub use connection::{Connection, Disconnect};
pub use reconnect::{Backoff, Reconnecting};

use std::net::SocketAddr;
use std::time::Duration;

use std::future::Future;
use std::sync::Arc;

use capnp::capability::FromClientHook;
use capnp_rpc::rpc_twoparty_capnp::Side;

#[cfg(all(unix, feature = "tls"))]
use crate::addr::UNIX_PREFIX;
use crate::error::{CallError, ConnectError, Error};
use crate::instrument::{Counters, Watch};
use crate::{rpc, transport};

/// How long [`connect`] waits for the TCP connection before giving up. Generous for a LAN, short
/// enough that a wrong address fails while a person is still watching.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects to `addr` (`host:port`) over plain TCP with the default timeouts; shorthand for
/// `Connector::new(addr).connect()`.
///
/// Must be called inside a [`tokio::task::LocalSet`]: capnp-rpc is `!Send`, so the connection's
/// task is spawned with `spawn_local`.
///
/// # Errors
/// [`ConnectError`] when `addr` does not resolve, refuses or times out.
///
/// # Panics
/// Outside a `LocalSet` (tokio's `spawn_local` panics there).
pub async fn connect(addr: &str) -> Result<Connection, ConnectError> {
    Connector::new(addr).connect().await
}

/// How long a TLS handshake may take after the TCP connection is up.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens connections to one server: address, timeouts and (feature `tls`) TLS.
#[derive(Debug, Clone)]
pub struct Connector {
    addrs: failover::Addresses,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    #[cfg(feature = "tls")]
    tls: Option<crate::tls::ClientTls>,
    reader_options: capnp::message::ReaderOptions,
    heartbeat: Option<Duration>,
    stream_window: usize,
}

impl Connector {
    /// A connector for `addr` (`host:port`, e.g. `localhost:4000` or `[::1]:4000`, or
    /// `unix:PATH` for a unix domain socket): plain TCP,
    /// [`DEFAULT_CONNECT_TIMEOUT`], [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn new(addr: impl Into<String>) -> Self {
        Self::new_multi([addr.into()])
    }

    /// A connector for a pool of servers (each `host:port`, whose host name's every A/AAAA record
    /// is tried too, or `unix:PATH`). [`Connector::connect`] tries them in turn from where the
    /// last connection succeeded, giving each record [`Connector::with_connect_timeout`]; a
    /// [`Reconnecting`] client moves on to the next address when its connection is lost.
    /// Clones share the position. An empty list fails every connect with
    /// [`ConnectError::Resolve`].
    pub fn new_multi<I, S>(addrs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Connector {
            addrs: failover::Addresses::new(addrs.into_iter().map(Into::into).collect()),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            #[cfg(feature = "tls")]
            tls: None,
            reader_options: capnp::message::ReaderOptions::new(),
            heartbeat: None,
            stream_window: crate::transport::DEFAULT_STREAM_WINDOW,
        }
    }

    /// capnp's limits for reading the server's messages: the traversal limit is the largest message
    /// accepted, and each is read with 4 times that as its
    /// traversal budget (as on the server). Default: `ReaderOptions::new()`.
    pub fn with_reader_options(mut self, options: capnp::message::ReaderOptions) -> Self {
        self.reader_options = options;
        self
    }

    /// Sends an application-level probe every `interval` and declares the connection lost when
    /// one goes unanswered for another `interval`, so a half-open connection (peer gone without
    /// a FIN, e.g. a pulled cable) is noticed within about `2 × interval` instead of when TCP
    /// keepalive gives up. The probe is a call to an interface ID no server implements, which
    /// every Cap'n Proto server answers with `Unimplemented`. Default: off (TCP keepalive only).
    pub fn with_heartbeat(mut self, interval: Option<Duration>) -> Self {
        self.heartbeat = interval;
        self
    }

    /// The flow-control window of each stream of `-> stream` calls on connections from this
    /// connector, in bytes: a streaming call's `send()` waits while this many bytes of its stream
    /// are unacknowledged, so a slow server holds the client back instead of the client queuing
    /// without bound. Larger windows keep high-latency links busy. Default:
    /// [`crate::DEFAULT_STREAM_WINDOW`] (64 KiB).
    pub fn with_stream_window(mut self, bytes: usize) -> Self {
        self.stream_window = bytes.max(1);
        self
    }

    /// The addresses this connector tries, in configured order.
    pub fn addresses(&self) -> &[String] {
        self.addrs.all()
    }

    /// Makes the next [`Connector::connect`] start after the address at `index` (in
    /// [`Connector::addresses`]): what [`Reconnecting`] does when a connection is lost.
    pub fn skip(&self, index: usize) {
        self.addrs.skip(index);
    }

    /// How long resolving and connecting may take, per address record tried. Default:
    /// [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the TLS handshake may take. Default: [`DEFAULT_HANDSHAKE_TIMEOUT`].
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Speaks TLS with this configuration. The name verified is the host of the address unless
    /// the configuration overrides it. Default: plain TCP.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: crate::tls::ClientTls) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Connects, completes the TLS handshake if configured, and starts the RPC system.
    ///
    /// Must be called inside a [`tokio::task::LocalSet`].
    ///
    /// # Errors
    /// [`ConnectError`] saying what failed and, where it can tell, what to do about it.
    ///
    /// # Panics
    /// Outside a `LocalSet` (tokio's `spawn_local` panics there).
    pub async fn connect(&self) -> Result<Connection, ConnectError> {
        #[cfg(all(unix, feature = "tls"))]
        if self.tls.is_some() {
            if let Some(addr) = self.addrs.all().iter().find(|a| a.starts_with(UNIX_PREFIX)) {
                return Err(ConnectError::Connect {
                    addr: addr.clone(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("{addr}: TLS is not offered on unix sockets; drop the TLS options"),
                    ),
                });
            }
        }
        let (stream, addr, index) = self.addrs.open(self.connect_timeout).await?;
        let stream = match stream {
            failover::Stream::Tcp(stream) => stream,
            #[cfg(unix)]
            failover::Stream::Unix(stream) => {
                let (reader, writer) = stream.into_split();
                return Ok(self.start(reader, writer, None).at_index(index));
            }
        };
        #[cfg(feature = "tls")]
        let addr = addr.as_str();
        #[cfg(not(feature = "tls"))]
        let _ = addr;
        let peer = stream.peer_addr().map_err(|source| ConnectError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        rpc::tune_socket(&stream);
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            let stream = tls::handshake(stream, tls, addr, self.handshake_timeout).await?;
            let (reader, writer) = tokio::io::split(stream);
            let reader = tls::Hinted::new(reader, tls);
            return Ok(self.start(reader, writer, Some(peer)).at_index(index));
        }
        let (reader, writer) = stream.into_split();
        Ok(self.start(reader, writer, Some(peer)).at_index(index))
    }

    /// Starts the RPC system of a connection over its two halves, with this connector's
    /// limits, stream window and heartbeat.
    fn start<R, W>(&self, reader: R, writer: W, peer: Option<SocketAddr>) -> Connection
    where
        R: tokio::io::AsyncRead + Unpin + 'static,
        W: tokio::io::AsyncWrite + Unpin + 'static,
    {
        let watch = Watch::new(Arc::new(Counters::default()), None);
        let config = transport::Config {
            side: Side::Client,
            reader_options: self.reader_options,
            stream_window: self.stream_window,
        };
        let network = transport::network(reader, writer, config, watch.clone());
        Connection::start(network, watch, peer, self.heartbeat)
    }

    /// Connects from any thread or runtime (a multi-threaded tokio runtime needs no `LocalSet`)
    /// and returns the server's bootstrap capability as a [`Shared<T>`](crate::Shared).
    ///
    /// The connection is owned by a windlass background thread of its own, with this
    /// connector's timeouts, TLS and heartbeat. Use the capability with
    /// [`Shared::call`](crate::Shared::call) from anywhere, or [`Shared::client`](crate::Shared::client)
    /// inside a `LocalSet`. Dropping the last handle closes the connection and ends the thread;
    /// [`Shared::close`](crate::Shared::close) closes it cleanly and says how that went.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), windlass::Error> {
    /// use windlass_calculator::{self as calculator, Calculator};
    /// use windlass::{Connector, Shared};
    ///
    /// // Inside #[tokio::main] or any task of a multi-threaded runtime.
    /// let calc: Shared<Calculator> = Connector::new("127.0.0.1:4000").connect_shared().await?;
    /// let task = tokio::spawn({
    ///     let calc = calc.clone();
    ///     async move {
    ///         calc.call(|calc: Calculator| async move {
    ///             let expr = calculator::parse("6 * 7").expect("valid");
    ///             calculator::evaluate(&calc, &expr).await
    ///         })
    ///         .await
    ///     }
    /// });
    /// assert_eq!(task.await.expect("task")??, 42.0);
    /// calc.close().await?;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`ConnectError`] as [`Connector::connect`], or [`ConnectError::Thread`] when the
    /// background thread cannot be started.
    pub async fn connect_shared<T>(&self) -> Result<crate::Shared<T>, ConnectError>
    where
        T: FromClientHook + 'static,
    {
        let (owner, stop) =
            crate::shared::spawn_detached("windlass-client").map_err(ConnectError::Thread)?;
        let connector = self.clone();
        let made = owner
            .run(move || async move {
                let conn = connector.connect().await?;
                let client: T = conn.bootstrap();
                let keep = KeepConnection {
                    conn,
                    _thread: stop,
                };
                Ok(crate::Shared::with_keep(client, Some(Box::new(keep))))
            })
            .await;
        made.map_err(|_| ConnectError::ThreadEnded)?
    }

    /// One-shot: connects, runs `f` on the bootstrap capability, closes the connection and
    /// returns what `f` returned. Runs inside a `LocalSet` of its own, so it can be awaited on
    /// any tokio runtime (e.g. under `#[tokio::main]`).
    ///
    /// # Errors
    /// [`Error::Connect`] when connecting fails, [`Error::Rpc`] when `f` fails.
    pub async fn run<T, F, Fut, R>(&self, f: F) -> Result<R, Error>
    where
        T: FromClientHook,
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<R, capnp::Error>>,
    {
        tokio::task::LocalSet::new()
            .run_until(async {
                let conn = self.connect().await?;
                let result = f(conn.bootstrap()).await;
                // A failure to close cleanly after `f` finished loses nothing: report `f`'s result.
                let _ = conn.close().await;
                Ok(result?)
            })
            .await
    }
}

/// A [`Connector::connect_shared`] connection, kept with its capability on its own thread; the
/// thread ends when this is dropped (after the connection, which is closed on drop).
struct KeepConnection {
    conn: Connection,
    _thread: crate::shared::StopGuard,
}

impl crate::shared::Keep for KeepConnection {
    fn close(self: Box<Self>) -> std::pin::Pin<Box<dyn Future<Output = Result<(), Error>>>> {
        Box::pin(async move {
            let KeepConnection { conn, _thread } = *self;
            conn.close().await.map_err(Error::from)
        })
    }
}

/// One-shot over plain TCP: `Connector::new(addr).run(f)`.
///
/// ```no_run
/// # async fn demo() -> Result<(), windlass::Error> {
/// use windlass_calculator::Calculator;
/// let value = windlass::client::run("127.0.0.1:4000", |calc: Calculator| async move {
///     let expr = windlass_calculator::parse("6 * 7").expect("valid");
///     windlass_calculator::evaluate(&calc, &expr).await
/// })
/// .await?;
/// assert_eq!(value, 42.0);
/// # Ok(()) }
/// ```
///
/// # Errors
/// As [`Connector::run`].
pub async fn run<T, F, Fut, R>(addr: &str, f: F) -> Result<R, Error>
where
    T: FromClientHook,
    F: FnOnce(T) -> Fut,
    Fut: Future<Output = Result<R, capnp::Error>>,
{
    Connector::new(addr).run(f).await
}

/// Bounds a call (any future yielding a capnp result, e.g. `request.send().promise`) by
/// `timeout`. When the deadline passes the future is dropped, which cancels the call on the
/// server (capnp sends `Finish`; the server drops the work in progress), and
/// [`CallError::Timeout`] is returned — distinct from every error the server can send.
///
/// # Errors
/// [`CallError::Timeout`] or the call's own [`CallError::Rpc`].
///
/// # Cancel safety
/// Dropping the returned future cancels the call, exactly like a timeout.
pub async fn with_timeout<T, F>(timeout: Duration, call: F) -> Result<T, CallError>
where
    F: Future<Output = Result<T, capnp::Error>>,
{
    match tokio::time::timeout(timeout, call).await {
        Ok(result) => result.map_err(CallError::Rpc),
        Err(_) => Err(CallError::Timeout(timeout)),
    }
}
