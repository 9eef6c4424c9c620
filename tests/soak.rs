//! Soak: connections opened, used and closed in a loop for a while (2 minutes by default;
//! `WINDLASS_SOAK_SECS` sets it, 600 for the documented 10-minute run), sampling this process's
//! RSS and open file descriptors. Fails if either grows beyond a stated bound after warm-up: a
//! leak of connections, tasks or buffers shows up as steady growth. `#[ignore]`d; `.ci/run`
//! runs it in release.

mod common;

use std::time::{Duration, Instant};

use common::{eval, run_local};
use windlass::server::Options;
use windlass_calculator as calculator;

/// Growth allowed between the sample after warm-up and the last one.
const MAX_RSS_GROWTH: u64 = 16 << 20;
const MAX_FD_GROWTH: usize = 16;

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmRSS")
        * 1024
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

#[test]
#[ignore = "long: 2 minutes by default (WINDLASS_SOAK_SECS); run by .ci/run"]
fn a_long_run_of_connections_does_not_grow_memory_or_file_descriptors() {
    let secs: u64 = std::env::var("WINDLASS_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let handle = windlass::Server::bind("127.0.0.1:0", Options::new(), |_| {
        calculator::new_client().client
    })
    .expect("spawn");
    let addr = handle.local_addr();
    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let warm_up = start + Duration::from_secs(secs / 6);
    let (mut baseline, mut last, mut rounds) = (None, (0, 0), 0u64);
    run_local(async move {
        while Instant::now() < end {
            // 16 clients at once, 10 calls each, then all close.
            let mut tasks = Vec::new();
            for _ in 0..16 {
                tasks.push(tokio::task::spawn_local(async move {
                    let conn = windlass::client::connect(&addr.to_string())
                        .await
                        .expect("connect");
                    let calc = conn.bootstrap();
                    for i in 0..10 {
                        assert_eq!(
                            eval(&calc, &format!("{i} * 2")).await.expect("call"),
                            f64::from(i * 2)
                        );
                    }
                    let _ = conn.close().await;
                }));
            }
            for task in tasks {
                task.await.expect("client task");
            }
            rounds += 1;
            if Instant::now() >= warm_up {
                assert!(
                    handle.wait_idle(Duration::from_secs(10)),
                    "connections left open"
                );
                last = (rss(), open_fds());
                baseline.get_or_insert(last);
            }
        }
        let (rss0, fds0) = baseline.expect("sampled after warm-up");
        println!(
            "{rounds} rounds in {secs} s: RSS {:.1} → {:.1} MiB, fds {fds0} → {}",
            rss0 as f64 / 1048576.0,
            last.0 as f64 / 1048576.0,
            last.1
        );
        assert!(
            last.0 <= rss0 + MAX_RSS_GROWTH,
            "RSS grew from {rss0} to {}",
            last.0
        );
        assert!(
            last.1 <= fds0 + MAX_FD_GROWTH,
            "fds grew from {fds0} to {}",
            last.1
        );
    });
}
