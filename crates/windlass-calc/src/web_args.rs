//! The web face of the binary: `serve --web ADDR` (the Calculator to Cap'n Web clients, beside
//! the Cap'n Proto port) and `gateway` (any Cap'n Proto server, by its schema, to Cap'n Web
//! clients). Both run windlass-web's `/capnweb` listener; the mapping is read from a schema at
//! run time, nothing is generated per service.

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use windlass::client::{Connection, Connector};
use windlass_web::{BootstrapFactory, WebOptions, WebService};

use crate::units::{parse_duration, parse_host_port, parse_size, parse_workers};

/// The web listener's share of the server's limits: `serve --web` takes them from the Cap'n
/// Proto server's flags (one set of flags for both listeners), `gateway` from its own.
#[derive(Debug, Clone, Default)]
pub(crate) struct Limits {
    pub(crate) workers: Option<usize>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) handshake_timeout: Option<Duration>,
    pub(crate) max_message_bytes: Option<usize>,
    pub(crate) drain_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<windlass::tls::ServerTls>,
}

impl Limits {
    /// `options` with every limit that was given; the others keep windlass-web's defaults.
    pub(crate) fn apply(&self, mut options: WebOptions) -> WebOptions {
        if let Some(n) = self.workers {
            options = options.with_workers(n);
        }
        if let Some(n) = self.max_connections {
            options = options.with_max_connections(n);
        }
        if let Some(t) = self.idle_timeout {
            options = options.with_idle_timeout(t);
        }
        if let Some(t) = self.handshake_timeout {
            options = options.with_handshake_timeout(t);
        }
        if let Some(n) = self.max_message_bytes {
            // One line of a batch is one message: the body may hold a few.
            options = options
                .with_max_message_bytes(n)
                .with_max_body_bytes(n.saturating_mul(4));
        }
        if let Some(t) = self.drain_timeout {
            options = options.with_shutdown_grace(t);
        }
        #[cfg(feature = "tls")]
        if let Some(tls) = &self.tls {
            options = options.with_tls(tls.clone());
        }
        options
    }

    /// `https` with TLS, else `http` (the scheme the listener's address is printed with).
    pub(crate) fn scheme(&self) -> &'static str {
        #[cfg(feature = "tls")]
        if self.tls.is_some() {
            return "https";
        }
        "http"
    }
}

/// `gateway`'s limits (as `serve`'s flags of the same names) and TLS.
#[derive(Args, Debug, Clone)]
pub(crate) struct GatewayLimits {
    /// Worker threads running Cap'n Web sessions, at least 1 (default: one per core); each
    /// keeps its own connection to the backend.
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    workers: Option<usize>,
    /// TCP connections open at once; more are closed at accept.
    #[arg(long, value_name = "N", default_value_t = windlass_web::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Close a WebSocket after this long without a frame either way; also bounds how long a
    /// batch body may take to arrive.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "120s")]
    idle_timeout: Duration,
    /// How long a new connection may take for its TLS handshake and each request for its head.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    handshake_timeout: Duration,
    /// The largest Cap'n Web message (bytes, or with a KiB/MiB suffix); a batch body may be 4
    /// times this.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1MiB")]
    max_message_bytes: usize,
    /// At shutdown, how long open sessions may go on.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    drain_timeout: Duration,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: crate::tls_args::ServeTls,
}

impl GatewayLimits {
    fn limits(&self) -> Result<Limits, ExitCode> {
        Ok(Limits {
            workers: self.workers,
            max_connections: Some(self.max_connections),
            idle_timeout: Some(self.idle_timeout),
            handshake_timeout: Some(self.handshake_timeout),
            max_message_bytes: Some(self.max_message_bytes),
            drain_timeout: Some(self.drain_timeout),
            #[cfg(feature = "tls")]
            tls: self.tls.build().map_err(fail)?,
        })
    }
}

/// `serve`'s web listener flags.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ServeWeb {
    /// Also serve the Calculator to Cap'n Web clients (capnweb for JavaScript, py-capnweb) at
    /// http://ADDR/capnweb: WebSocket sessions and HTTP batch. Off by default. It shares the
    /// server's TLS (then https:// and wss://), --workers, --max-connections, --idle-timeout
    /// (default there: 120s), --handshake-timeout, --max-message-bytes (default there: 1MiB)
    /// and --drain-timeout; with --admin its counters are in /metrics (windlass_web_*).
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    web: Option<String>,
    #[command(flatten)]
    origins: Origins,
}

/// The Origin allow-list of a web listener.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct Origins {
    /// An origin allowed to open WebSocket sessions from a browser, e.g. https://app.example
    /// (repeatable). Default: none, so cross-origin WebSocket upgrades are refused with 403
    /// (cross-site WebSocket hijacking); same-origin pages and clients that send no Origin
    /// (Node, Python) are always served.
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    web_origin: Vec<String>,
}

impl Origins {
    fn options(&self) -> WebOptions {
        self.web_origin
            .iter()
            .fold(WebOptions::default(), |options, origin| {
                options.with_allowed_origin(origin.clone())
            })
    }
}

/// `windlass-calc gateway`.
#[derive(Args, Debug)]
pub(crate) struct Gateway {
    /// The .capnp file that defines the backend's interface; compiled at start-up by the
    /// pure-Rust schema compiler (no build step, no C++ tool).
    #[arg(long, value_name = "FILE.capnp")]
    schema: PathBuf,
    /// The backend's bootstrap interface: its name (`Calculator`), nested name
    /// (`Outer.Inner`) or display name (`calculator.capnp:Calculator`).
    #[arg(long, value_name = "NAME")]
    interface: String,
    /// The Cap'n Proto server to front (any implementation: windlass, C++, pycapnp).
    #[arg(long, value_name = "HOST:PORT|unix:PATH", value_parser = parse_host_port)]
    backend: String,
    /// Where Cap'n Web clients connect: http://ADDR/capnweb (ws:// for WebSockets), or
    /// https:// and wss:// with --tls-cert and --tls-key.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    web: String,
    /// A directory searched by `import "/..."` (repeatable), before /usr/local/include and
    /// /usr/include.
    #[arg(short = 'I', long = "import-path", value_name = "DIR")]
    import_paths: Vec<PathBuf>,
    #[command(flatten)]
    origins: Origins,
    #[command(flatten)]
    limits: GatewayLimits,
}

impl ServeWeb {
    /// Whether `--web` was given.
    #[cfg_attr(not(feature = "admin"), allow(dead_code))]
    pub(crate) fn enabled(&self) -> bool {
        self.web.is_some()
    }

    /// The listener's options: the origin allow-list and `limits` (the server's own).
    pub(crate) fn options(&self, limits: &Limits) -> WebOptions {
        limits.apply(self.origins.options())
    }

    /// Starts the Calculator's web listener if `--web` was given, with `options` (from
    /// [`ServeWeb::options`]); the returned handle stops it.
    pub(crate) async fn start(
        &self,
        options: WebOptions,
        scheme: &str,
    ) -> Result<Option<WebListener>, ExitCode> {
        let Some(addr) = &self.web else {
            return Ok(None);
        };
        let factory: BootstrapFactory = Arc::new(|info| {
            tracing::debug!(peer = %info.peer(), transport = ?info.transport(), "web session");
            windlass_calculator::new_client().client
        });
        let service = WebService::new(windlass_calculator::SCHEMA_REQUEST, "Calculator", factory)
            .map_err(fail)?;
        WebListener::start(addr, service, options, scheme)
            .await
            .map(Some)
    }
}

/// A running web listener (a task of the caller's runtime).
pub(crate) struct WebListener {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), windlass_web::ServeError>>,
}

impl WebListener {
    async fn start(
        addr: &str,
        service: WebService,
        options: WebOptions,
        scheme: &str,
    ) -> Result<Self, ExitCode> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| fail(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| fail(format!("cannot read the web listener's address: {e}")))?;
        tracing::info!(url = %format!("{scheme}://{local}/capnweb"), "serving Cap'n Web");
        println!("Cap'n Web at {scheme}://{local}/capnweb");
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(windlass_web::serve(listener, service, options, async {
            let _ = stopped.await;
        }));
        Ok(WebListener { stop, task })
    }

    /// Stops accepting, lets sessions finish within the listener's grace period, and waits.
    pub(crate) async fn stop(self) -> Result<(), ExitCode> {
        let _ = self.stop.send(());
        ended(self.task.await)
    }

    /// Resolves if the listener stops by itself (its worker died).
    async fn finished(&mut self) -> Result<(), ExitCode> {
        ended((&mut self.task).await)
    }
}

/// How the listener's task ended, with its error printed.
fn ended(
    joined: Result<Result<(), windlass_web::ServeError>, tokio::task::JoinError>,
) -> Result<(), ExitCode> {
    match joined {
        Ok(result) => result.map_err(fail),
        Err(e) => Err(fail(format!("the web listener failed: {e}"))),
    }
}

fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// Runs `gateway` until SIGINT or SIGTERM (`signal`).
pub(crate) async fn gateway(
    args: Gateway,
    signal: impl std::future::Future<Output = ()>,
) -> ExitCode {
    match run_gateway(args, signal).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(code) => code,
    }
}

async fn run_gateway(
    args: Gateway,
    signal: impl std::future::Future<Output = ()>,
) -> Result<(), ExitCode> {
    let mut compiler = windlass_schema::SchemaCompiler::new();
    compiler.file(&args.schema);
    if let Some(dir) = args.schema.parent().filter(|d| !d.as_os_str().is_empty()) {
        compiler.src_prefix(dir);
    }
    for dir in &args.import_paths {
        compiler.import_path(dir);
    }
    let request = compiler
        .compile_to_bytes()
        .map_err(|e| fail(format!("{}:\n{e}", args.schema.display())))?;
    let connector = Connector::new(args.backend.clone());
    let factory: BootstrapFactory = Arc::new(move |_info| backend_client(&connector));
    let service = WebService::new(request, &args.interface, factory).map_err(fail)?;
    tracing::info!(backend = %args.backend, interface = %args.interface, "gateway");
    let limits = args.limits.limits()?;
    let options = limits.apply(args.origins.options());
    let mut listener = WebListener::start(&args.web, service, options, limits.scheme()).await?;
    tokio::select! {
        () = signal => listener.stop().await,
        result = listener.finished() => result,
    }
}

thread_local! {
    /// This worker thread's connections to the backend: the newest that is still up serves
    /// every new session; older ones stay while sessions may still use their capabilities, and
    /// are dropped once the backend has closed them.
    static BACKEND: RefCell<Vec<Rc<Connection>>> = const { RefCell::new(Vec::new()) };
}

/// The backend's bootstrap capability for a new session: one connection per worker thread,
/// shared by its sessions, (re)made when there is none that is up. Calls made before it is
/// connected wait for it; if connecting fails they fail with the reason.
fn backend_client(connector: &Connector) -> capnp::capability::Client {
    let live = BACKEND.with(|conns| {
        let mut conns = conns.borrow_mut();
        conns.retain(|c| !c.is_disconnected());
        conns
            .last()
            .map(|c| c.bootstrap::<capnp::capability::Client>())
    });
    if let Some(client) = live {
        return client;
    }
    let connector = connector.clone();
    capnp_rpc::new_future_client(async move {
        let conn = connector
            .connect()
            .await
            .map_err(|e| capnp::Error::disconnected(format!("gateway backend: {e}")))?;
        let client = conn.bootstrap::<capnp::capability::Client>();
        BACKEND.with(|conns| conns.borrow_mut().push(Rc::new(conn)));
        Ok(client)
    })
}
