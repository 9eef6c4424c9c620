//! A refusal flood prints a bounded number of log lines, while every refusal is counted. A test
//! binary of its own: it installs the process-wide `tracing` subscriber that captures the
//! server threads' lines.

mod common;
#[path = "common/hostile.rs"]
mod hostile;

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::run_local;
use windlass::server::Options;

/// Counts the lines written to it.
#[derive(Clone)]
struct Lines(Arc<AtomicUsize>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let lines = buf.iter().filter(|&&b| b == b'\n').count();
        self.0.fetch_add(lines, Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_refusal_flood_prints_a_bounded_number_of_lines() {
    let lines = Arc::new(AtomicUsize::new(0));
    let writer = Lines(lines.clone());
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .init();
    let handle = hostile::server(Options::new().with_max_connections(1));
    let addr = handle.local_addr();
    const FLOOD: u64 = 3000;
    run_local(async move {
        let held = windlass::client::connect(&addr.to_string())
            .await
            .expect("the one connection allowed");
        let before = lines.load(Relaxed);
        let start = Instant::now();
        for _ in 0..FLOOD {
            // Connect and go: the churn of a client retrying in a tight loop.
            // A connect may itself see the reset of a refusal: that is fine.
            drop(tokio::net::TcpStream::connect(addr).await);
        }
        // Every refusal is counted (bounded wait for the acceptor to catch up).
        let deadline = Instant::now() + Duration::from_secs(30);
        while handle.stats().rejected < FLOOD && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(handle.stats().rejected, FLOOD);
        let printed = lines.load(Relaxed) - before;
        let seconds = start.elapsed().as_secs() + 2;
        println!(
            "{FLOOD} refusals in {:?}: {printed} log lines",
            start.elapsed()
        );
        assert!(printed <= 200, "{printed} lines for {FLOOD} refusals");
        assert!(
            printed as u64 <= 3 * seconds,
            "{printed} lines in {seconds} s"
        );
        drop(held);
    });
}
