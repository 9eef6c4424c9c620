//! One message shape of the framing benchmark, its encodings, and the timing loops over them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use capnp::{serialize, serialize_packed};
use tokio_util::codec::{Decoder, Encoder};

use super::{Op, Row};
use crate::BenchError;
use windlass::framing::{FramingError, Limits, MessageCodec, PackedCodec};

/// Bytes of framed messages decoded per timed round (several messages for small sizes). Small
/// enough to stay in cache, as freshly received bytes are, so small messages measure CPU work,
/// not DRAM latency.
const ROUND_BYTES: usize = 1 << 20;

/// One message shape and its encodings.
pub(super) struct Case {
    size: usize,
    segments: Vec<Bytes>,
    framed: Vec<u8>,
    packed: Vec<u8>,
    /// Messages per round.
    count: usize,
}

fn codec_failed(what: &'static str) -> impl FnOnce(FramingError) -> BenchError {
    move |source| BenchError::Framing { what, source }
}

fn capnp_failed(what: &'static str) -> impl FnOnce(capnp::Error) -> BenchError {
    move |source| BenchError::Capnp { what, source }
}

impl Case {
    /// A message of `size` bytes in `n` equal segments: a null root pointer, then filler in which
    /// two of every eight bytes are zero (so packing has work to do).
    pub(super) fn new(size: usize, n: usize) -> Result<Self, BenchError> {
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
            .map_err(codec_failed("packing"))?;
        let count = (ROUND_BYTES / framed.len()).max(1);
        Ok(Self {
            size,
            segments,
            framed,
            packed: packed.to_vec(),
            count,
        })
    }

    /// Measures every [`Op`] on this shape and hands the rows to `each`.
    pub(super) fn run(
        &self,
        window: Duration,
        limits: &Limits,
        each: &mut impl FnMut(&Row),
    ) -> Result<(), BenchError> {
        let (n, count) = (self.segments.len(), self.count);
        let stream = self.framed.repeat(count);
        let packed_stream = self.packed.repeat(count);
        let views: Vec<&[u8]> = self.segments.iter().map(|s| &s[..]).collect();

        // memcpy of each framed message into a reused destination.
        let mut dst = vec![0u8; self.framed.len()];
        let memcpy = self.time(window, || {
            for _ in 0..count {
                dst.copy_from_slice(black_box(&self.framed));
                black_box(&dst);
            }
            Ok(())
        })?;
        let mut row = |op: Op, ns_per_message: f64, copied_bytes: usize| {
            each(&Row {
                size: self.size,
                segments: n,
                op,
                ns_per_message,
                memcpy_ns: memcpy,
                copied_bytes,
            });
        };
        row(Op::Memcpy, memcpy, self.framed.len());

        let template = BytesMut::from(&stream[..]);
        let mut copied = 0;
        let decode = self.time_with_setup(
            window,
            || template.clone(),
            |mut buf| {
                let mut codec = MessageCodec::with_limits(*limits);
                while let Some(m) = codec.decode(&mut buf).map_err(codec_failed("decode"))? {
                    black_box(&m);
                }
                copied = codec.stats().copied_bytes as usize / count;
                Ok(())
            },
        )?;
        row(Op::Decode, decode, copied);

        let read = self.time(window, || {
            let mut input = &stream[..];
            for _ in 0..count {
                let m = serialize::read_message(&mut input, limits.reader_options())
                    .map_err(capnp_failed("read_message"))?;
                black_box(&m);
            }
            Ok(())
        })?;
        // It copies the segments, not the segment table.
        row(Op::CapnpRead, read, self.framed.len() - 8 * (n / 2 + 1));

        let flat = self.time(window, || {
            let mut input = &stream[..];
            for _ in 0..count {
                let m =
                    serialize::read_message_from_flat_slice(&mut input, limits.reader_options())
                        .map_err(capnp_failed("read_message_from_flat_slice"))?;
                black_box(&m);
            }
            Ok(())
        })?;
        row(Op::CapnpFlat, flat, 0);

        let packed_template = BytesMut::from(&packed_stream[..]);
        let packed = self.time_with_setup(
            window,
            || packed_template.clone(),
            |mut buf| {
                let mut codec = PackedCodec::with_limits(*limits);
                while let Some(m) = codec
                    .decode(&mut buf)
                    .map_err(codec_failed("packed decode"))?
                {
                    black_box(&m);
                }
                Ok(())
            },
        )?;
        row(Op::PackedDecode, packed, self.size);

        let capnp_packed = self.time(window, || {
            let mut input = &packed_stream[..];
            for _ in 0..count {
                let m = serialize_packed::read_message(&mut input, limits.reader_options())
                    .map_err(capnp_failed("packed read_message"))?;
                black_box(&m);
            }
            Ok(())
        })?;
        row(Op::CapnpPackedRead, capnp_packed, self.size);

        let mut out = BytesMut::with_capacity(self.framed.len());
        let mut codec = MessageCodec::with_limits(*limits);
        let encode = self.time(window, || {
            for _ in 0..count {
                out.clear();
                codec
                    .encode(&views[..], &mut out)
                    .map_err(codec_failed("encode"))?;
                black_box(&out);
            }
            Ok(())
        })?;
        row(Op::Encode, encode, self.framed.len());

        let mut vec = Vec::with_capacity(self.framed.len());
        let write = self.time(window, || {
            for _ in 0..count {
                vec.clear();
                serialize::write_message_segments(&mut vec, &views)
                    .map_err(capnp_failed("write_message_segments"))?;
                black_box(&vec);
            }
            Ok(())
        })?;
        row(Op::CapnpWrite, write, self.framed.len());
        Ok(())
    }

    /// Nanoseconds per message of `round` (which handles `self.count` messages), best of the
    /// rounds that fit in `window` (at least three).
    fn time(
        &self,
        window: Duration,
        mut round: impl FnMut() -> Result<(), BenchError>,
    ) -> Result<f64, BenchError> {
        self.time_with_setup(window, || (), |()| round())
    }

    fn time_with_setup<T>(
        &self,
        window: Duration,
        mut setup: impl FnMut() -> T,
        mut round: impl FnMut(T) -> Result<(), BenchError>,
    ) -> Result<f64, BenchError> {
        let started = Instant::now();
        let mut best = Duration::MAX;
        let mut rounds = 0;
        while rounds < 3 || started.elapsed() < window {
            let input = setup();
            let t = Instant::now();
            round(input)?;
            best = best.min(t.elapsed());
            rounds += 1;
        }
        Ok(best.as_secs_f64() * 1e9 / self.count as f64)
    }
}
