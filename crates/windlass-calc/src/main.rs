//! `windlass-calc`: serve the Calculator on a TCP port, evaluate expressions against one, or run
//! the demo (the default).

mod args;
mod bench_args;
mod scale_args;
mod schema_args;
#[cfg(feature = "tls")]
mod tls_args;
mod units;
mod web_args;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::task::LocalSet;
use tracing_subscriber::EnvFilter;
use windlass::client::{Connection, Connector};
use windlass::server::{ConnectionInfo, Options};
use windlass_calculator as calculator;

use units::{parse_duration, parse_host_port, parse_size, parse_workers};

/// Cap'n Proto Calculator server and client, wire-compatible with the calculator samples of
/// C++ capnproto and pycapnp.
///
/// Without a command, runs `demo`: an in-process server and a client that checks every
/// Calculator feature over TLS. Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Calculator on a TCP port (or a unix socket) until SIGINT or SIGTERM.
    ///
    /// Any client of the reference calculator protocol can connect, e.g. the C++ sample's
    /// `calculator-client HOST:PORT` or pycapnp's `calculator_client.py HOST:PORT`. With
    /// --tls-cert and --tls-key it serves TLS and prints the certificate's SHA-256 fingerprint.
    Serve {
        /// Address to listen on; port 0 picks a free port (the log says which). `unix:PATH`
        /// listens on a unix domain socket instead (a stale socket file is replaced, the file is
        /// removed on exit; no TLS there).
        #[arg(long, short, default_value = "127.0.0.1:4000", value_name = "HOST:PORT|unix:PATH",
              value_parser = parse_host_port)]
        listen: String,
        #[command(flatten)]
        runtime: RuntimeArgs,
        #[command(flatten)]
        scale: scale_args::ScaleOut,
        #[cfg(feature = "tls")]
        #[command(flatten)]
        tls: tls_args::ServeTls,
        #[command(flatten)]
        web: web_args::ServeWeb,
    },
    /// Give any Cap'n Proto server a Cap'n Web face: browsers and Cap'n Web clients call it.
    ///
    /// The schema is compiled at start-up (pure Rust, no build step); each Cap'n Web call
    /// becomes a Cap'n Proto call on the backend's bootstrap capability, mapped by the schema
    /// (docs/web.md), with pipelining kept on both legs. E.g. in front of the C++ calculator
    /// sample: `windlass-calc gateway --schema calculator.capnp --interface Calculator
    /// --backend 127.0.0.1:4000 --web 127.0.0.1:8080`.
    Gateway(web_args::Gateway),
    /// Evaluate an infix expression on a server in one round trip and print the result.
    ///
    /// Supports + - * /, parentheses, unary minus and decimal numbers, e.g.
    /// `windlass-calc eval --connect 127.0.0.1:4000 "(4 + 5) * 3 - 1 / 2"` prints 26.5.
    /// Chains of any length up to 1024 numbers work (a tree deeper than one message may nest
    /// is sent as several pipelined calls, with the same result).
    Eval {
        #[command(flatten)]
        client: ClientArgs,
        /// The expression. Quote it so the shell leaves `*` and parentheses alone. One that
        /// starts with a minus sign works as it is when a digit, `.`, `(` or a space follows
        /// the sign (`"-3 + 4"`, `"-(1 + 2)"`); anything else after `--` (`eval -- "-x"`).
        expression: String,
        /// Also print the parsed tree.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Check every Calculator feature and print PASS/FAIL per check (the default command).
    ///
    /// Without --connect, starts a server on 127.0.0.1 on a free port in this process and talks
    /// to it over TLS with the development certificates embedded from certs/ (--plain for TCP).
    /// Exits non-zero if any check fails.
    Demo {
        /// Run the checks against this server instead of an in-process one (plain TCP unless
        /// TLS options are given).
        #[arg(long, short, value_name = "HOST:PORT", value_parser = parse_host_port)]
        connect: Option<String>,
        /// Use plain TCP for the in-process server, to compare with TLS. Refused together with
        /// --connect or any TLS option.
        #[arg(long, conflicts_with = "connect")]
        #[cfg_attr(
            feature = "tls",
            arg(conflicts_with_all = [
                "tls", "ca", "server_name", "client_cert", "client_key", "pin_sha256", "tls13_only"
            ])
        )]
        plain: bool,
        /// How long each check may take before it fails (a server that accepts and never
        /// answers must not hang the demo).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
        timeout: Duration,
        #[cfg(feature = "tls")]
        #[command(flatten)]
        tls: tls_args::ConnectTls,
    },
    Bench(bench_args::Bench),
    /// Cap'n Proto schema tools in pure Rust (no C++ `capnp` tool needed).
    Schema(schema_args::Schema),
    Load(scale_args::Load),
}

/// The default of `eval --timeout` and `demo --timeout` (keep in step with their
/// `default_value`): generous for any real server, short enough that a silent one is noticed.
const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Server runtime limits. Durations take a unit: 500ms, 10s, 2m.
#[derive(Args)]
struct RuntimeArgs {
    /// Worker threads, at least 1 (default: one per core).
    #[arg(long, value_name = "N", value_parser = parse_workers)]
    workers: Option<usize>,
    /// Connections open at once; one more is refused at once with an Overloaded error.
    #[arg(long, value_name = "N", default_value_t = windlass::server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Close a connection after this long without a message either way (default: never).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    idle_timeout: Option<Duration>,
    /// How long a new connection may take to send its first bytes and, with TLS, to complete
    /// the handshake (a silent connection is closed after it, or after --idle-timeout if
    /// shorter).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    handshake_timeout: Duration,
    /// How long one message may take to arrive once its first byte has; a client that stalls
    /// mid-message is disconnected.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    read_timeout: Duration,
    /// Calls one connection may have unanswered; at the limit the server stops reading that
    /// connection until answers go out. A client may leave 8 times this many calls without
    /// Finish before it is disconnected with an Overloaded error.
    #[arg(long, value_name = "N", default_value_t = windlass::server::DEFAULT_MAX_CALLS_IN_FLIGHT)]
    max_calls_in_flight: usize,
    /// The kernel's queue of connections not yet accepted (capped by net.core.somaxconn).
    #[arg(long, value_name = "N", default_value_t = windlass::server::DEFAULT_LISTEN_BACKLOG)]
    listen_backlog: u32,
    /// The largest message a client may send (bytes, or with a KiB, MiB or GiB suffix, e.g.
    /// 1MiB; default: 64MiB); a larger one is refused with an Overloaded error that names the
    /// limit, before it is read.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_message_bytes: Option<usize>,
    /// At shutdown, how long calls in flight may take to finish.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "5s")]
    drain_timeout: Duration,
}

/// `serve --web`'s listener, to start once the Cap'n Proto server is up.
struct WebPlan<'a> {
    args: &'a web_args::ServeWeb,
    options: windlass_web::WebOptions,
    scheme: &'static str,
}

impl RuntimeArgs {
    /// The limits the web listener shares with the Cap'n Proto server (`serve --web`).
    fn web_limits(&self) -> web_args::Limits {
        web_args::Limits {
            workers: self.workers,
            max_connections: Some(self.max_connections),
            // "never" is not a web default: an unset idle timeout keeps windlass-web's.
            idle_timeout: self.idle_timeout,
            handshake_timeout: Some(self.handshake_timeout),
            max_message_bytes: self.max_message_bytes,
            drain_timeout: Some(self.drain_timeout),
            ..web_args::Limits::default()
        }
    }

    fn options(&self) -> Options {
        let mut options = Options::new()
            .with_max_connections(self.max_connections)
            .with_idle_timeout(self.idle_timeout)
            .with_handshake_timeout(self.handshake_timeout)
            .with_read_timeout(Some(self.read_timeout))
            .with_max_calls_in_flight(self.max_calls_in_flight)
            .with_listen_backlog(self.listen_backlog)
            .with_drain_timeout(self.drain_timeout);
        if let Some(workers) = self.workers {
            options = options.with_workers(workers);
        }
        if let Some(bytes) = self.max_message_bytes {
            options = options.with_max_message_bytes(bytes);
        }
        options
    }
}

/// Where and how a client connects.
#[derive(Args)]
struct ClientArgs {
    /// Server address: HOST:PORT, or unix:PATH for a unix domain socket.
    #[arg(long, short, default_value = "127.0.0.1:4000", value_name = "HOST:PORT|unix:PATH",
          value_parser = parse_host_port)]
    connect: String,
    /// How long connecting may take.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    connect_timeout: Duration,
    /// How long the call may take once connected; it is cancelled on the server when the time
    /// is up (so a server that accepts and never answers cannot hang eval).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    #[cfg(feature = "tls")]
    #[command(flatten)]
    tls: tls_args::ConnectTls,
}

impl ClientArgs {
    fn connector(&self) -> Result<Connector, windlass::Error> {
        let connector = Connector::new(&self.connect).with_connect_timeout(self.connect_timeout);
        #[cfg(feature = "tls")]
        if let Some(tls) = self.tls.build()? {
            return Ok(connector.with_tls(tls));
        }
        Ok(connector)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(args::protect_negative_expression::<Cli>(
        std::env::args_os().collect(),
    ));
    let command = cli.command.unwrap_or(Command::Demo {
        connect: None,
        plain: false,
        timeout: DEFAULT_CALL_TIMEOUT,
        #[cfg(feature = "tls")]
        tls: tls_args::ConnectTls::default(),
    });
    let default_log = match command {
        Command::Serve { .. } | Command::Gateway(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_log)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = LocalSet::new().block_on(&runtime, run(command));
    match result {
        Ok(code) => code,
        Err(e) => {
            // windlass errors already name their cause in the message.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<ExitCode, windlass::Error> {
    match command {
        Command::Serve {
            listen,
            runtime,
            scale,
            #[cfg(feature = "tls")]
            tls,
            web,
        } => {
            #[allow(unused_mut)]
            let mut options = scale.apply(runtime.options());
            #[allow(unused_mut)]
            let mut limits = runtime.web_limits();
            #[cfg(feature = "tls")]
            if let Some(tls) = tls.build()? {
                if let Some(fingerprint) = tls.fingerprint() {
                    tracing::info!(sha256 = %fingerprint, "serving TLS");
                    println!("certificate SHA-256: {fingerprint}");
                }
                // The web listener serves https/wss with the same certificate.
                limits.tls = Some(tls.clone());
                options = options.with_tls(tls);
            }
            let web_options = web.options(&limits);
            #[cfg(feature = "admin")]
            if web.enabled() {
                // The web listener's counters join the admin endpoint's /metrics.
                options = options.with_metrics_collector(web_options.stats());
            }
            let web_listener = WebPlan {
                args: &web,
                options: web_options,
                scheme: limits.scheme(),
            };
            serve(&listen, options, scale.shutdown_delay, web_listener).await
        }
        Command::Gateway(args) => {
            let signals = ShutdownSignals::install();
            Ok(web_args::gateway(args, signals.recv()).await)
        }
        Command::Eval {
            client,
            expression,
            verbose,
        } => eval(&client, &expression, verbose).await,
        Command::Demo {
            connect,
            plain,
            timeout,
            #[cfg(feature = "tls")]
            tls,
        } => {
            let client = ClientArgs {
                connect: connect.clone().unwrap_or_default(),
                connect_timeout: windlass::client::DEFAULT_CONNECT_TIMEOUT,
                timeout,
                #[cfg(feature = "tls")]
                tls,
            };
            demo(client, connect.is_some(), plain).await
        }
        Command::Bench(args) => bench_args::run(args).await,
        Command::Schema(args) => Ok(schema_args::run(args)),
        Command::Load(args) => scale_args::load(args).await,
    }
}

async fn serve(
    listen: &str,
    options: Options,
    shutdown_delay: Duration,
    web: WebPlan<'_>,
) -> Result<ExitCode, windlass::Error> {
    // Handlers first: a signal that arrives once the address is logged must find them in place
    // (before registration, SIGINT/SIGTERM would kill the process outright).
    let signals = ShutdownSignals::install();
    let bootstrap = |info: &ConnectionInfo| {
        // `client=ADDR` (or `client=unix`): deploy docs and the HAProxy test read it.
        let client = info
            .peer()
            .map_or_else(|| "unix".to_string(), |addr| addr.to_string());
        tracing::info!(%client, proxy = ?info.proxy(), "bootstrap");
        calculator::new_client().client
    };
    let server = windlass::Server::bind(listen, options, bootstrap)?;
    tracing::info!(addr = %server.endpoint(), "serving the Calculator");
    #[cfg(feature = "admin")]
    if let Some(admin) = server.admin_addr() {
        tracing::info!(addr = %admin, "admin endpoint: /healthz /readyz /metrics");
        // On stdout as the web listener's address is, for scripts that bind port 0.
        println!("admin endpoint at http://{admin}");
    }
    let web = match web.args.start(web.options, web.scheme).await {
        Ok(web) => web,
        Err(code) => return Ok(code),
    };
    signals.recv().await;
    // Readiness drops first, while the server still accepts: the load balancer's health check
    // takes it out of rotation during the delay, then the drain begins.
    let trigger = server.shutdown_trigger();
    trigger.mark_unready();
    if !shutdown_delay.is_zero() {
        tracing::info!(delay = ?shutdown_delay, "not ready; draining after the shutdown delay");
        tokio::time::sleep(shutdown_delay).await;
    }
    // Both listeners drain at once: the server's (blocking) shutdown on a blocking thread while
    // this one stops the web listener, whose sessions run on their own worker threads.
    let server_down = tokio::task::spawn_blocking(move || server.shutdown());
    let web_down = async {
        match web {
            Some(web) => web.stop().await,
            None => Ok(()),
        }
    };
    let (server_result, web_result) = tokio::join!(server_down, web_down);
    match server_result {
        Ok(result) => result?,
        Err(e) => {
            eprintln!("error: the shutdown failed: {e}");
            return Ok(ExitCode::FAILURE);
        }
    }
    if let Err(code) = web_result {
        return Ok(code);
    }
    tracing::info!("server stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGINT (Ctrl-C) and SIGTERM, registered as soon as this is made.
struct ShutdownSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl ShutdownSignals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
            match streams {
                Ok(streams) => ShutdownSignals {
                    streams: Some(streams),
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch SIGINT/SIGTERM; falling back to Ctrl-C");
                    ShutdownSignals { streams: None }
                }
            }
        }
        #[cfg(not(unix))]
        ShutdownSignals {}
    }

    /// Resolves on the first SIGINT or SIGTERM.
    async fn recv(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.streams {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutdown signal received");
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutdown signal received");
    }
}

async fn eval(
    client: &ClientArgs,
    input: &str,
    verbose: bool,
) -> Result<ExitCode, windlass::Error> {
    let expr = match calculator::parse(input) {
        Ok(expr) => expr,
        Err(e) => {
            eprintln!("error: cannot parse the expression at column {}:", e.column);
            eprintln!("  {}", e.pointer().replace('\n', "\n  "));
            return Ok(ExitCode::from(2));
        }
    };
    if verbose {
        eprintln!("tree: {expr}");
    }
    let conn = client.connector()?.connect().await?;
    let calc: calculator::Calculator = conn.bootstrap();
    let value =
        windlass::client::with_timeout(client.timeout, calculator::evaluate(&calc, &expr)).await?;
    println!("{value}");
    drop(calc);
    conn.close().await?;
    Ok(ExitCode::SUCCESS)
}

async fn demo(
    client: ClientArgs,
    external: bool,
    plain: bool,
) -> Result<ExitCode, windlass::Error> {
    // The in-process server lives on its own thread, like a real one; the handle stops it.
    let mut server = None;
    let (conn, transport) = if external {
        let connector = client.connector()?;
        (connector.connect().await?, "as configured")
    } else {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|source| {
            windlass::ServeError::Bind {
                addr: "127.0.0.1:0".into(),
                source,
            }
        })?;
        let (options, connector, transport) = in_process(listener.local_addr(), &client, plain)?;
        let handle = windlass::Server::start(listener, options, |_: &ConnectionInfo| {
            calculator::new_client().client
        })?;
        server = Some(handle);
        (connector.connect().await?, transport)
    };
    let peer = conn
        .peer()
        .map_or_else(|| "a unix socket".to_string(), |a| a.to_string());
    println!("windlass demo: Calculator at {peer} ({transport})");
    let checks = run_checks(&conn, client.timeout).await;
    conn.close().await?;
    if let Some(server) = server {
        server.shutdown()?;
    }
    Ok(checks)
}

/// Server options and a matching connector for the in-process demo server.
fn in_process(
    addr: std::io::Result<std::net::SocketAddr>,
    #[allow(unused_variables)] client: &ClientArgs,
    plain: bool,
) -> Result<(Options, Connector, &'static str), windlass::Error> {
    let addr = addr.map_err(|source| windlass::ServeError::Bind {
        addr: "127.0.0.1:0".into(),
        source,
    })?;
    let connector = Connector::new(addr.to_string());
    #[cfg(feature = "tls")]
    if !plain {
        // The embedded development certificates: the server's is valid for 127.0.0.1.
        let server_tls = windlass::tls::dev::server().build()?;
        let client_tls = client.tls.finish(windlass::tls::dev::client())?;
        return Ok((
            Options::new().with_tls(server_tls),
            connector.with_tls(client_tls),
            "TLS, development certificates from certs/",
        ));
    }
    let _ = plain;
    Ok((Options::new(), connector, "plain TCP"))
}

async fn run_checks(conn: &Connection, timeout: Duration) -> ExitCode {
    let calc: calculator::Calculator = conn.bootstrap();
    let checks = windlass_calc::demo::run_with_timeout(&calc, timeout).await;
    for check in &checks {
        println!("{check}");
    }
    let passed = checks.iter().filter(|c| c.passed()).count();
    println!("{passed}/{} checks passed", checks.len());
    if passed == checks.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
