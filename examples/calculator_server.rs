//! A Calculator server on a TCP port, in a dozen lines of windlass.
//!
//! ```text
//! cargo run --example calculator_server -- 127.0.0.1:4000
//! cargo run --example calculator_client -- 127.0.0.1:4000
//! ```
//!
//! Stops on Ctrl-C. Any client of the reference calculator protocol can connect.

use windlass::{calculator, server};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4000".into());

    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("serving the Calculator on {}", listener.local_addr()?);
    // One fresh Calculator capability per connection.
    let bootstrap = |_: &server::ConnectionInfo| calculator::new_client().client;
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    server::serve(listener, bootstrap, shutdown).await?;
    Ok(())
}
