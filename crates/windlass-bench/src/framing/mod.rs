//! Framing throughput: windlass's zero-copy codecs against capnp's readers and writers and a
//! plain `memcpy` of the same bytes, measured in the same run and reported as ratios.
//!
//! `windlass-calc bench framing` and `cargo bench --bench framing` both run [`run`]. For each
//! message size (1 KiB … 16 MiB) and segment count (1 and 64) it measures, per message, every
//! [`Op`]: `memcpy` of the framed bytes (the physical limit of any decoder that copies), our
//! decoders and encoder, and capnp's. Plain timing loops: each figure is the best round within a
//! timing window (at least three rounds), which discounts the rounds that other work on the
//! machine slowed down.
//!
//! ```no_run
//! use std::time::Duration;
//! use windlass_bench::framing::{self, Plan, Row};
//!
//! let plan = Plan::new().with_budget(Duration::from_secs(5)).with_max_size(64 << 10);
//! println!("{}", Row::table_header());
//! framing::run(&plan, |row| println!("{}", row.table_row()))?;
//! # Ok::<(), windlass_bench::BenchError>(())
//! ```

mod case;

use std::fmt::Write as _;
use std::time::Duration;

use capnp::message::ReaderOptions;

use super::report::{json_number, json_string};
use super::BenchError;
use case::Case;
use windlass::framing::Limits;

/// Message sizes measured (bytes of segment data), unless [`Plan::with_max_size`] drops some.
pub const SIZES: [usize; 4] = [1 << 10, 64 << 10, 1 << 20, 16 << 20];

/// Segment counts measured for each size: one segment, and many (per-segment costs show).
pub const SEGMENT_COUNTS: [usize; 2] = [1, 64];

/// The timing window of one measurement when no budget is given: 250 ms, the window of the
/// figures in `BENCHMARKS.md`. The whole table is then 16 s of timing (≈ 17 s in all in a
/// release build; a debug build spends longer setting up the 16 MiB messages).
pub const DEFAULT_WINDOW: Duration = Duration::from_millis(250);

/// What one row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Copying the framed message once into a reused buffer: the baseline of every ratio.
    Memcpy,
    /// [`MessageCodec`](windlass::framing::MessageCodec) decoding from a receive buffer holding
    /// many messages.
    Decode,
    /// `capnp::serialize::read_message` from a `&[u8]` reader (copies the segments).
    CapnpRead,
    /// `capnp::serialize::read_message_from_flat_slice` (in place, borrowing the buffer).
    CapnpFlat,
    /// [`PackedCodec`](windlass::framing::PackedCodec) decoding the packed framing of the same
    /// message.
    PackedDecode,
    /// `capnp::serialize_packed::read_message` of the packed framing.
    CapnpPackedRead,
    /// [`MessageCodec`](windlass::framing::MessageCodec) encoding the message into a reused buffer.
    Encode,
    /// `capnp::serialize::write_message_segments` into a reused `Vec`.
    CapnpWrite,
}

impl Op {
    /// Every operation, in the order they are measured and printed.
    pub const ALL: [Op; 8] = [
        Op::Memcpy,
        Op::Decode,
        Op::CapnpRead,
        Op::CapnpFlat,
        Op::PackedDecode,
        Op::CapnpPackedRead,
        Op::Encode,
        Op::CapnpWrite,
    ];

    /// Its name in tables and JSON, e.g. `packed decode`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Memcpy => "memcpy",
            Op::Decode => "decode",
            Op::CapnpRead => "capnp read",
            Op::CapnpFlat => "capnp flat",
            Op::PackedDecode => "packed decode",
            Op::CapnpPackedRead => "capnp packed read",
            Op::Encode => "encode",
            Op::CapnpWrite => "capnp write",
        }
    }
}

/// Which sizes to measure and how long: a timing window per measurement, or a budget for the
/// whole table that is split evenly between its measurements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    timing: Timing,
    max_size: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timing {
    Window(Duration),
    Budget(Duration),
}

impl Default for Plan {
    fn default() -> Self {
        Self::new()
    }
}

impl Plan {
    /// Every size, [`DEFAULT_WINDOW`] per measurement.
    pub fn new() -> Self {
        Self {
            timing: Timing::Window(DEFAULT_WINDOW),
            max_size: usize::MAX,
        }
    }

    /// Each measurement takes the best round within `window` (and at least three rounds).
    pub fn with_window(mut self, window: Duration) -> Self {
        self.timing = Timing::Window(window);
        self
    }

    /// The whole table gets `budget` of timing, split evenly between its measurements (setting
    /// up the messages and the three-round minimum come on top: large messages in a debug build
    /// take longer than a small budget).
    pub fn with_budget(mut self, budget: Duration) -> Self {
        self.timing = Timing::Budget(budget);
        self
    }

    /// Leaves out sizes above `bytes` (default: none left out); the smallest size always stays.
    pub fn with_max_size(mut self, bytes: usize) -> Self {
        self.max_size = bytes;
        self
    }

    /// The message sizes measured.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = SIZES.into_iter().filter(|&s| s <= self.max_size).collect();
        if sizes.is_empty() {
            sizes.push(SIZES[0]);
        }
        sizes
    }

    /// How many rows the table has: sizes × segment counts × operations.
    pub fn rows(&self) -> usize {
        self.sizes().len() * SEGMENT_COUNTS.len() * Op::ALL.len()
    }

    /// The timing window of one measurement.
    pub fn window(&self) -> Duration {
        match self.timing {
            Timing::Window(window) => window,
            Timing::Budget(budget) => budget / u32::try_from(self.rows()).unwrap_or(u32::MAX),
        }
    }
}

/// One measurement: an operation on messages of one size and segment count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// Bytes of segment data per message.
    pub size: usize,
    /// Segments per message.
    pub segments: usize,
    /// What was measured.
    pub op: Op,
    /// Nanoseconds per message (best round).
    pub ns_per_message: f64,
    /// Nanoseconds to `memcpy` the framed message, measured in the same run.
    pub memcpy_ns: f64,
    /// Bytes of segment data copied per message (unpacking counts every byte).
    pub copied_bytes: usize,
}

impl Row {
    /// Segment data per second, in GB/s.
    pub fn gb_per_sec(&self) -> f64 {
        self.size as f64 / self.ns_per_message
    }

    /// Time per message relative to one `memcpy` of it: below 1 is faster than touching the
    /// bytes.
    pub fn x_memcpy(&self) -> f64 {
        self.ns_per_message / self.memcpy_ns
    }

    /// The column headings matching [`Row::table_row`].
    pub fn table_header() -> String {
        format!(
            "{:>7} {:>4} {:<18} {:>12} {:>9} {:>9} {:>12}",
            "size", "segs", "what", "ns/msg", "GB/s", "x memcpy", "copied B/msg"
        )
    }

    /// One aligned line with this row's figures.
    pub fn table_row(&self) -> String {
        format!(
            "{:>7} {:>4} {:<18} {:>12.0} {:>9.2} {:>9.3} {:>12}",
            human(self.size),
            self.segments,
            self.op.name(),
            self.ns_per_message,
            self.gb_per_sec(),
            self.x_memcpy(),
            self.copied_bytes
        )
    }

    /// One JSON object on one line (no trailing newline), `"bench":"framing"` first so that it
    /// can be told from the RPC modes' lines; times in nanoseconds.
    pub fn json_line(&self) -> String {
        let mut out = String::from("{\"bench\":\"framing\"");
        let _ = write!(out, ",\"size\":{}", self.size);
        let _ = write!(out, ",\"segments\":{}", self.segments);
        let _ = write!(out, ",\"what\":{}", json_string(self.op.name()));
        let _ = write!(out, ",\"ns_per_msg\":{}", json_number(self.ns_per_message));
        let _ = write!(out, ",\"gb_per_sec\":{}", json_number(self.gb_per_sec()));
        let _ = write!(out, ",\"x_memcpy\":{}", json_number(self.x_memcpy()));
        let _ = write!(out, ",\"memcpy_ns\":{}", json_number(self.memcpy_ns));
        let _ = write!(out, ",\"copied_bytes_per_msg\":{}", self.copied_bytes);
        out.push('}');
        out
    }
}

/// Measures every size of `plan`, in 1 and 64 segments, and hands each [`Row`] to `each` as soon
/// as it is measured (the full table takes ≈ 17 s with the default window). Runs on the calling
/// thread.
///
/// # Errors
/// When a codec refuses the benchmark's own well-formed messages: a bug in it or here.
pub fn run(plan: &Plan, mut each: impl FnMut(&Row)) -> Result<(), BenchError> {
    let window = plan.window();
    // The messages are our own: no traversal limit, so that no reader refuses a size.
    let limits =
        Limits::new().with_reader_options(*ReaderOptions::new().traversal_limit_in_words(None));
    for size in plan.sizes() {
        for segments in SEGMENT_COUNTS {
            Case::new(size, segments)?.run(window, &limits, &mut each)?;
        }
    }
    Ok(())
}

/// `1KiB`, `16MiB`.
fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{}MiB", b >> 20),
        b => format!("{}KiB", b >> 10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_split_over_the_rows_and_sizes_can_be_capped() {
        let plan = Plan::new();
        assert_eq!(plan.sizes(), SIZES);
        assert_eq!(plan.window(), DEFAULT_WINDOW);
        assert_eq!(plan.rows(), 64);
        let small = Plan::new()
            .with_max_size(64 << 10)
            .with_budget(Duration::from_millis(320));
        assert_eq!(small.sizes(), [1 << 10, 64 << 10]);
        assert_eq!(small.window(), Duration::from_millis(10));
        assert_eq!(Plan::new().with_max_size(0).sizes(), [1 << 10]);
    }

    #[test]
    fn one_small_shape_gives_every_row() {
        let plan = Plan::new()
            .with_max_size(1 << 10)
            .with_window(Duration::ZERO);
        let mut rows = Vec::new();
        run(&plan, |row| rows.push(*row)).expect("framing");
        assert_eq!(rows.len(), plan.rows());
        let ops: Vec<Op> = rows.iter().take(Op::ALL.len()).map(|r| r.op).collect();
        assert_eq!(ops, Op::ALL);
        for row in &rows {
            assert!(row.ns_per_message > 0.0 && row.memcpy_ns > 0.0, "{row:?}");
            let in_place = matches!(row.op, Op::Decode | Op::CapnpFlat);
            assert_eq!(row.copied_bytes == 0, in_place, "{row:?}");
        }
        let memcpy = rows[0];
        assert!((memcpy.x_memcpy() - 1.0).abs() < 1e-9);
        assert_eq!(
            memcpy.table_row().chars().count(),
            Row::table_header().chars().count()
        );
        let json = rows[1].json_line();
        assert!(json.starts_with(r#"{"bench":"framing","size":1024,"segments":1,"what":"decode""#));
        assert!(json.contains(r#""copied_bytes_per_msg":0"#), "{json}");
    }
}
