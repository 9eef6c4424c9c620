//! Framing throughput: our zero-copy codecs against capnp's readers and writers and a plain
//! `memcpy` of the same bytes, measured in the same run and reported as ratios.
//!
//! ```text
//! cargo bench --bench framing              # the full table, about a minute
//! cargo bench --bench framing -- --quick   # shorter timing windows
//! ```
//!
//! The measurements live in the library (`windlass_bench::framing`, which documents every row),
//! so that `windlass-calc bench framing` runs the same code; this only picks the window and prints
//! ns/message, GB/s, time relative to memcpy, and bytes copied per message.

use std::time::Duration;

use windlass_bench::framing::{self, Plan, Row};

/// The timing window per measurement with `--quick`.
const QUICK_WINDOW: Duration = Duration::from_millis(40);

fn main() -> Result<(), windlass_bench::BenchError> {
    let quick = std::env::args().any(|a| a == "--quick");
    let mut plan = Plan::new();
    if quick {
        plan = plan.with_window(QUICK_WINDOW);
    }
    println!("{}", Row::table_header());
    framing::run(&plan, |row| println!("{}", row.table_row()))
}
