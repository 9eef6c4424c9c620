//! `cargo run -p kv-store --example server -- [ADDR]`: serves the store until Ctrl-C.

// ANCHOR: main
use windlass::server::Options;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4100".into());
    // Four workers: connections are spread over them, the store is one.
    let (server, _home) = kv_store::serve(&addr, Options::new().with_workers(4))?;
    println!("kv-store on {}", server.local_addr());
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(tokio::signal::ctrl_c())?;
    server.shutdown()?; // stop accepting, let calls finish, close
    Ok(())
}
// ANCHOR_END: main
