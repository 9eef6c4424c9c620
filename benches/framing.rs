//! Framing throughput: our zero-copy codecs against capnp's readers and writers and a plain
//! `memcpy` of the same bytes, measured in the same run and reported as ratios.
//!
//! ```text
//! cargo bench --bench framing              # the full table, about a minute
//! cargo bench --bench framing -- --quick   # shorter timing windows
//! ```
//!
//! For each message size (1 KiB … 16 MiB) and segment count (1 and 64) it measures, per message:
//!
//! - `memcpy`: copying the framed bytes once, the physical limit of any decoder that copies;
//! - `decode`: `MessageCodec::decode` from a receive buffer holding many messages;
//! - `capnp read`: `capnp::serialize::read_message` from a `&[u8]` reader (copies the segments);
//! - `capnp flat`: `capnp::serialize::read_message_from_flat_slice` (in place, borrowing);
//! - `packed decode` / `capnp packed read`: the packed framings of the same message;
//! - `encode` / `capnp write`: framing the message into a reused buffer.
//!
//! and prints ns/message, GB/s, time relative to memcpy, and bytes copied per message.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use capnp::message::ReaderOptions;
use capnp::{serialize, serialize_packed};
use tokio_util::codec::{Decoder, Encoder};
use windlass::framing::{Limits, MessageCodec, PackedCodec};

/// Bytes of framed messages decoded per timed round (several messages for small sizes). Small
/// enough to stay in cache, as freshly received bytes are, so small messages measure CPU work,
/// not DRAM latency.
const ROUND_BYTES: usize = 1 << 20;

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let window = Duration::from_millis(if quick { 40 } else { 250 });
    let limits =
        Limits::new().with_reader_options(*ReaderOptions::new().traversal_limit_in_words(None));
    println!(
        "{:>7} {:>4} {:<18} {:>12} {:>9} {:>9} {:>12}",
        "size", "segs", "what", "ns/msg", "GB/s", "x memcpy", "copied B/msg"
    );
    for size in [1 << 10, 64 << 10, 1 << 20, 16 << 20] {
        for segments in [1, 64] {
            Case::new(size, segments).run(window, &limits);
        }
    }
}

/// One message shape and its encodings.
struct Case {
    size: usize,
    segments: Vec<Bytes>,
    framed: Vec<u8>,
    packed: Vec<u8>,
    /// Messages per round.
    count: usize,
}

impl Case {
    /// A message of `size` bytes in `n` equal segments: a null root pointer, then filler in which
    /// two of every eight bytes are zero (so packing has work to do).
    fn new(size: usize, n: usize) -> Self {
        let segment_bytes = (size / n) & !7;
        let segments: Vec<Bytes> = (0..n)
            .map(|s| {
                let bytes: Vec<u8> = (0..segment_bytes)
                    .map(|i| {
                        if s == 0 && i < 8 || i % 8 < 2 {
                            0
                        } else {
                            (i * 31 + s) as u8 | 1
                        }
                    })
                    .collect();
                Bytes::from(bytes)
            })
            .collect();
        let views: Vec<&[u8]> = segments.iter().map(|s| &s[..]).collect();
        let framed = serialize::write_message_segments_to_words(&views);
        let mut packed = BytesMut::new();
        PackedCodec::new()
            .encode(&views[..], &mut packed)
            .expect("pack");
        let count = (ROUND_BYTES / framed.len()).max(1);
        Self {
            size,
            segments,
            framed,
            packed: packed.to_vec(),
            count,
        }
    }

    fn run(&self, window: Duration, limits: &Limits) {
        let n = self.segments.len();
        let row = |what: &str, per_msg: Duration, memcpy: Duration, copied: usize| {
            let ns = per_msg.as_secs_f64() * 1e9;
            println!(
                "{:>7} {:>4} {:<18} {:>12.0} {:>9.2} {:>9.3} {:>12}",
                human(self.size),
                n,
                what,
                ns,
                self.size as f64 / ns,
                per_msg.as_secs_f64() / memcpy.as_secs_f64(),
                copied
            );
        };
        let stream = self.framed.repeat(self.count);
        let packed_stream = self.packed.repeat(self.count);

        // memcpy of each framed message into a reused destination.
        let mut dst = vec![0u8; self.framed.len()];
        let memcpy = self.time(window, || {
            for _ in 0..self.count {
                dst.copy_from_slice(black_box(&self.framed));
                black_box(&dst);
            }
        });
        row("memcpy", memcpy, memcpy, self.framed.len());

        let template = BytesMut::from(&stream[..]);
        let mut copied = 0;
        let decode = self.time_with_setup(
            window,
            || template.clone(),
            |mut buf| {
                let mut codec = MessageCodec::with_limits(*limits);
                while let Some(m) = codec.decode(&mut buf).expect("decode") {
                    black_box(&m);
                }
                copied = codec.stats().copied_bytes as usize / self.count;
            },
        );
        row("decode", decode, memcpy, copied);

        let read = self.time(window, || {
            let mut input = &stream[..];
            for _ in 0..self.count {
                let m = serialize::read_message(&mut input, limits.reader_options()).expect("read");
                black_box(&m);
            }
        });
        row(
            "capnp read",
            read,
            memcpy,
            self.framed.len() - 8 * (n / 2 + 1),
        );

        let flat = self.time(window, || {
            let mut input = &stream[..];
            for _ in 0..self.count {
                let m =
                    serialize::read_message_from_flat_slice(&mut input, limits.reader_options())
                        .expect("read");
                black_box(&m);
            }
        });
        row("capnp flat", flat, memcpy, 0);

        let packed_template = BytesMut::from(&packed_stream[..]);
        let packed = self.time_with_setup(
            window,
            || packed_template.clone(),
            |mut buf| {
                let mut codec = PackedCodec::with_limits(*limits);
                while let Some(m) = codec.decode(&mut buf).expect("decode") {
                    black_box(&m);
                }
            },
        );
        row("packed decode", packed, memcpy, self.size);

        let capnp_packed = self.time(window, || {
            let mut input = &packed_stream[..];
            for _ in 0..self.count {
                let m = serialize_packed::read_message(&mut input, limits.reader_options())
                    .expect("read");
                black_box(&m);
            }
        });
        row("capnp packed read", capnp_packed, memcpy, self.size);

        let views: Vec<&[u8]> = self.segments.iter().map(|s| &s[..]).collect();
        let mut out = BytesMut::with_capacity(self.framed.len());
        let mut codec = MessageCodec::with_limits(*limits);
        let encode = self.time(window, || {
            for _ in 0..self.count {
                out.clear();
                codec.encode(&views[..], &mut out).expect("encode");
                black_box(&out);
            }
        });
        row("encode", encode, memcpy, self.framed.len());

        let mut vec = Vec::with_capacity(self.framed.len());
        let write = self.time(window, || {
            for _ in 0..self.count {
                vec.clear();
                serialize::write_message_segments(&mut vec, &views).expect("write");
                black_box(&vec);
            }
        });
        row("capnp write", write, memcpy, self.framed.len());
    }

    /// Time per message of `round` (which handles `self.count` messages), best of the rounds that
    /// fit in `window` (at least three).
    fn time(&self, window: Duration, mut round: impl FnMut()) -> Duration {
        self.time_with_setup(window, || (), |()| round())
    }

    fn time_with_setup<T>(
        &self,
        window: Duration,
        mut setup: impl FnMut() -> T,
        mut round: impl FnMut(T),
    ) -> Duration {
        let started = Instant::now();
        let mut best = Duration::MAX;
        let mut rounds = 0;
        while rounds < 3 || started.elapsed() < window {
            let input = setup();
            let t = Instant::now();
            round(input);
            best = best.min(t.elapsed());
            rounds += 1;
        }
        best / u32::try_from(self.count).unwrap_or(u32::MAX)
    }
}

fn human(bytes: usize) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{}MiB", b >> 20),
        b => format!("{}KiB", b >> 10),
    }
}
