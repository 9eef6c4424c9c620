//! The standard stream framing as a `tokio_util` codec that hands out messages without copying.

use bytes::{Buf, BufMut, BytesMut};
use capnp::message::{self, ReaderSegments};
use tokio_util::codec::{Decoder, Encoder};

use super::table::{self, Parsed, Table};
use super::{FramingError, Limits, Message, Segments};

/// What a codec has done so far; read it with [`MessageCodec::stats`] (through
/// `FramedRead::decoder()` when framed).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CodecStats {
    /// Messages decoded.
    pub messages: u64,
    /// Bytes of segment data decoded.
    pub segment_bytes: u64,
    /// Messages that had to be copied because their bytes were not 8-byte aligned.
    pub copied_messages: u64,
    /// Bytes copied to align them: 0 on the zero-copy path.
    pub copied_bytes: u64,
}

impl CodecStats {
    pub(crate) fn record(&mut self, segments: &Segments) {
        self.messages += 1;
        self.segment_bytes += segments.total_bytes() as u64;
        if segments.copied_bytes() > 0 {
            self.copied_messages += 1;
            self.copied_bytes += segments.copied_bytes() as u64;
        }
    }
}

/// Standard Cap'n Proto stream framing (`capnp::serialize`, C++ `writeMessage`) as a
/// [`Decoder`] and [`Encoder`].
///
/// Decoding waits until a whole message is in the buffer, splits it off, freezes it, and hands
/// out a [`Message`] whose segments are slices of that one buffer: no segment data is copied
/// unless the buffer is not 8-byte aligned (see [`CodecStats::copied_bytes`]). The header is
/// parsed once; its limits are checked before the buffer is grown for the message.
///
/// Encoding takes anything capnp can read from (`&Builder`, `&Segments`, `&[&[u8]]`) and writes
/// the table and the segments after one reservation.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
/// use windlass::framing::MessageCodec;
///
/// let mut builder = capnp::message::Builder::new_default();
/// builder.set_root("hello")?;
/// let mut codec = MessageCodec::new();
/// let mut buf = BytesMut::new();
/// codec.encode(&builder, &mut buf)?;
/// let message = codec.decode(&mut buf)?.expect("a whole message");
/// assert_eq!(message.get_root::<capnp::text::Reader>()?.to_str()?, "hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct MessageCodec {
    limits: Limits,
    /// The current message's table, once parsed, so it is never parsed twice.
    table: Option<Table>,
    stats: CodecStats,
}

codec_basics!(MessageCodec);

impl Decoder for MessageCodec {
    type Item = Message;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FramingError> {
        let table = match self.table.take() {
            Some(table) => table,
            None => match table::parse(src, &self.limits)
                .map_err(|e| first_bytes_error(e, self.stats.messages, src))?
            {
                Parsed::Need(n) => {
                    src.reserve(n.saturating_sub(src.len()));
                    return Ok(None);
                }
                Parsed::Done(table) => table,
            },
        };
        let frame_bytes = table.frame_bytes();
        if src.len() < frame_bytes {
            // Limits were checked by `parse`: this reservation is bounded by them.
            src.reserve(frame_bytes - src.len());
            self.table = Some(table);
            return Ok(None);
        }
        src.advance(table.table_bytes);
        let body = src.split_to(table.body_bytes).freeze();
        let segments = Segments::split_frame(body, table.segment_bytes);
        self.stats.record(&segments);
        Ok(Some(message::Reader::new(
            segments,
            self.limits.reader_options(),
        )))
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FramingError> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        if src.is_empty() && self.table.is_none() {
            return Ok(None);
        }
        let expected = match (&self.table, table::parse(src, &self.limits)?) {
            (Some(table), _) => table.frame_bytes(),
            (None, Parsed::Need(n)) => n,
            (None, Parsed::Done(table)) => table.frame_bytes(),
        };
        Err(FramingError::Truncated {
            received: src.len(),
            expected,
        })
    }
}

/// A header that breaks the segment limit at the very start of a stream is usually another
/// protocol's text (see [`super::banner`]): say so instead of quoting an absurd segment count.
fn first_bytes_error(e: FramingError, decoded: u64, head: &[u8]) -> FramingError {
    match e {
        FramingError::TooManySegments { .. } if decoded == 0 => {
            match super::banner::recognise(head) {
                Some(protocol) => FramingError::NotCapnp { protocol },
                None => e,
            }
        }
        e => e,
    }
}

impl<S: ReaderSegments + ?Sized> Encoder<&S> for MessageCodec {
    type Error = FramingError;

    fn encode(&mut self, message: &S, dst: &mut BytesMut) -> Result<(), FramingError> {
        let segments = super::segments::checked_segments(message, &self.limits)?;
        let body: usize = segments.iter().map(|s| s.len()).sum();
        dst.reserve(table::table_bytes(segments.len()) + body);
        table::write(&segments, dst);
        for s in segments {
            dst.put_slice(s);
        }
        Ok(())
    }
}
