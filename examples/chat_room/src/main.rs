//! A service with its own schema (`schemas/chat_room.capnp` in this package, compiled by its own
//! build.rs): a chat room whose state every connection shares, whichever server worker serves it.
//!
//! ```text
//! cargo run -p windlass-chat-room [-- --clients 8 --workers 4 --upload-mib 16]
//! ```
//!
//! Starts a server with 4 workers whose room lives on a `HomeThread`; connects 8 clients on
//! separate connections (they land on different workers); each joins with a `Subscriber` callback
//! and posts once; every client must hear every post (`chat_room: 64/64 deliveries`). Then one
//! client streams a file to the room through a `-> stream` method and the rate is printed. Exits
//! non-zero if any delivery or byte is missing. The walk-through is docs/your-own-service.md.

mod room;

// The generated code of the example's own schema, compiled by this package's build.rs with windlass-build.
#[path = "schema.rs"]
mod chat_room_capnp;

use clap::Parser;

#[derive(Parser)]
#[command(about = "A chat room shared by every connection on every worker")]
struct Args {
    /// Clients, each on its own connection.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Server worker threads.
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// MiB one client streams to the room after the chat.
    #[arg(long, default_value_t = 16)]
    upload_mib: u64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(args.workers > 0, "--workers must be at least 1");
    let chat = room::ChatServer::start(args.workers)?;
    let addr = chat.server.local_addr().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = tokio::task::LocalSet::new()
        .block_on(
            &runtime,
            room::exercise(&addr, args.clients, args.upload_mib << 20),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let workers = chat.workers_seen.lock().map(|w| w.len()).unwrap_or(0);
    println!(
        "chat_room: {}/{} deliveries ({} clients on {workers} of {} workers)",
        outcome.deliveries, outcome.expected, args.clients, args.workers
    );
    let (counted, sent) = outcome.uploaded;
    let secs = outcome.upload_time.as_secs_f64().max(1e-9);
    println!(
        "chat_room: streamed {} MiB in {:.1} ms ({:.0} MiB/s), the room counted {counted} of {sent} bytes",
        sent >> 20,
        secs * 1e3,
        (sent as f64 / (1 << 20) as f64) / secs
    );
    chat.server.shutdown()?;
    anyhow::ensure!(
        outcome.deliveries == outcome.expected,
        "missed deliveries: {} of {}",
        outcome.deliveries,
        outcome.expected
    );
    anyhow::ensure!(
        counted == sent,
        "the room counted {counted} of {sent} bytes"
    );
    Ok(())
}
