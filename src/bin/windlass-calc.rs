//! `windlass-calc`: serve the Calculator on a TCP port, evaluate expressions against one, or run
//! the demo (the default).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::task::LocalSet;
use tracing_subscriber::EnvFilter;
use windlass::calculator;

/// Cap'n Proto Calculator server and client, wire-compatible with the calculator samples of
/// C++ capnproto and pycapnp.
///
/// Without a command, runs `demo`: an in-process server and a client that checks every
/// Calculator feature. Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug) for more.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the Calculator on a TCP port until SIGINT or SIGTERM.
    ///
    /// Any client of the reference calculator protocol can connect, e.g. the C++ sample's
    /// `calculator-client HOST:PORT` or pycapnp's `calculator_client.py HOST:PORT`.
    Serve {
        /// Address to listen on; port 0 picks a free port (the log says which).
        #[arg(long, short, default_value = "127.0.0.1:4000", value_name = "ADDR")]
        listen: String,
    },
    /// Evaluate an infix expression on a server in one round trip and print the result.
    ///
    /// Supports + - * /, parentheses, unary minus and decimal numbers, e.g.
    /// `windlass-calc eval --connect 127.0.0.1:4000 "(4 + 5) * 3 - 1 / 2"` prints 26.5.
    Eval {
        /// Server address (HOST:PORT).
        #[arg(long, short, default_value = "127.0.0.1:4000", value_name = "ADDR")]
        connect: String,
        /// The expression. Quote it so the shell leaves `*` and parentheses alone.
        #[arg(allow_hyphen_values = true)]
        expression: String,
        /// Also print the parsed tree.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Check every Calculator feature and print PASS/FAIL per check (the default command).
    ///
    /// Starts a server on 127.0.0.1 on a free port in this process, unless --connect names one.
    /// Exits non-zero if any check fails.
    Demo {
        /// Run the checks against this server instead of an in-process one.
        #[arg(long, short, value_name = "ADDR")]
        connect: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Demo { connect: None });
    let default_log = match command {
        Command::Serve { .. } => "info",
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
    let local = LocalSet::new();
    let result = match command {
        Command::Serve { listen } => local.block_on(&runtime, serve(&listen)),
        Command::Eval {
            connect,
            expression,
            verbose,
        } => local.block_on(&runtime, eval(&connect, &expression, verbose)),
        Command::Demo { connect } => local.block_on(&runtime, demo(connect)),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // windlass errors already name their cause in the message.
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: &str) -> Result<ExitCode, windlass::Error> {
    let listener = windlass::server::bind(listen)?;
    let listener = listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
        .map_err(|source| windlass::ServeError::Bind {
            addr: listen.to_string(),
            source,
        })?;
    match listener.local_addr() {
        Ok(addr) => tracing::info!(%addr, "serving the Calculator"),
        Err(e) => tracing::warn!(error = %e, "cannot read the bound address"),
    }
    let bootstrap = |_: &windlass::server::ConnectionInfo| calculator::new_client().client;
    windlass::server::serve(listener, bootstrap, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops the server");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::info!("shutdown signal received");
}

async fn eval(addr: &str, input: &str, verbose: bool) -> Result<ExitCode, windlass::Error> {
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
    let conn = windlass::client::connect(addr).await?;
    let calc: calculator::Calculator = conn.bootstrap();
    let value = calculator::evaluate(&calc, &expr).await?;
    println!("{value}");
    drop(calc);
    conn.close().await?;
    Ok(ExitCode::SUCCESS)
}

async fn demo(connect: Option<String>) -> Result<ExitCode, windlass::Error> {
    // The in-process server lives on its own thread, like a real one; the handle stops it.
    let (addr, server) = match connect {
        Some(addr) => (addr, None),
        None => {
            let listener = windlass::server::bind("127.0.0.1:0")?;
            let server =
                windlass::server::spawn(listener, |_conn| calculator::new_client().client)?;
            (server.local_addr().to_string(), Some(server))
        }
    };
    println!("windlass demo: Calculator at {addr}");
    let conn = windlass::client::connect(&addr).await?;
    let calc: calculator::Calculator = conn.bootstrap();
    let checks = windlass::demo::run(&calc).await;
    for check in &checks {
        println!("{check}");
    }
    let passed = checks.iter().filter(|c| c.passed()).count();
    println!("{passed}/{} checks passed", checks.len());
    drop(calc);
    conn.close().await?;
    if let Some(server) = server {
        server.shutdown()?;
    }
    Ok(if passed == checks.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
