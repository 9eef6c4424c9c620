//! A Calculator server on a TCP port, in a dozen lines of windlass.
//!
//! ```text
//! cargo run --example calculator_server -- 127.0.0.1:4000
//! cargo run --example calculator_client -- 127.0.0.1:4000
//! ```
//!
//! Stops on Ctrl-C, letting calls in flight finish. Any client of the reference calculator
//! protocol can connect.

use std::io::IsTerminal;

use windlass::server::{ConnectionInfo, Options, Server};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    // Colours only on a terminal: a log redirected to a file gets no ANSI escapes.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4000".into());

    // One fresh Calculator capability per connection, on the worker thread that owns it.
    let bootstrap = |_: &ConnectionInfo| windlass_calculator::new_client().client;
    let server = Server::bind(&addr, Options::new(), bootstrap)?;
    eprintln!("serving the Calculator on {}", server.local_addr());

    tokio::signal::ctrl_c().await?;
    server.shutdown()?;
    Ok(())
}
