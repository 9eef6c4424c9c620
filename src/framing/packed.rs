//! The packed stream framing (`capnp::serialize_packed`) as a `tokio_util` codec.

use bytes::{Buf, BytesMut};
use capnp::message::{self, ReaderSegments};
use capnp::Word;
use tokio_util::codec::{Decoder, Encoder};

use super::codec::CodecStats;
use super::limits::WORD_BYTES;
use super::packing::{self, Unpacker};
use super::segments::freeze_words;
use super::table::{self, Parsed, Table};
use super::{FramingError, Limits, Message, Segments};

/// Packed Cap'n Proto stream framing (`capnp::serialize_packed`, C++ `writePackedMessage`) as a
/// [`Decoder`] and [`Encoder`], with the same interface and [`Limits`] as
/// [`MessageCodec`](super::MessageCodec).
///
/// Unpacking is a copy by nature; it goes straight into one word-aligned buffer per message,
/// whose segments are then handed out without a further copy. Two input bytes can announce
/// 256 zero words, so the unpacker never produces more words than the segment table announced,
/// and the table is limit-checked before that buffer is allocated: a hostile stream cannot make
/// the decoder hold more than [`Limits::max_message_bytes`] plus the table.
///
/// Encoding is byte-identical to `capnp::serialize_packed::write_message`.
#[derive(Debug, Default)]
pub struct PackedCodec {
    limits: Limits,
    /// The message being unpacked: zeroed, then filled up to `filled` bytes.
    words: Vec<Word>,
    filled: usize,
    unpacker: Unpacker,
    table: Option<Table>,
    stats: CodecStats,
}

codec_basics!(PackedCodec);

impl PackedCodec {
    /// Bytes of the current message the unpacked data must reach next, parsing the table once
    /// enough of it is here.
    fn target(&mut self) -> Result<usize, FramingError> {
        if let Some(table) = &self.table {
            return Ok(table.frame_bytes());
        }
        let unpacked = &Word::words_to_bytes(&self.words)[..self.filled];
        Ok(match table::parse(unpacked, &self.limits)? {
            Parsed::Need(n) => n,
            Parsed::Done(table) => {
                let total = table.frame_bytes();
                self.table = Some(table);
                total
            }
        })
    }

    fn finish(&mut self, table: Table) -> Result<Message, FramingError> {
        let frame = freeze_words(std::mem::take(&mut self.words)).slice(table.table_bytes..);
        self.filled = 0;
        let segments = Segments::split_frame(frame, table.segment_bytes);
        self.stats.record(&segments);
        Ok(message::Reader::new(segments, self.limits.reader_options()))
    }
}

impl Decoder for PackedCodec {
    type Item = Message;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FramingError> {
        loop {
            let target = self.target()?;
            let target_words = target / WORD_BYTES;
            if self.words.len() < target_words {
                // `target` is limit-checked: the table by its segment count, the message by its
                // total size.
                self.words
                    .resize(target_words, capnp::word(0, 0, 0, 0, 0, 0, 0, 0));
            }
            if self.filled < target {
                let out = &mut Word::words_to_bytes_mut(&mut self.words)[..target];
                let used = self.unpacker.unpack(src, out, &mut self.filled);
                src.advance(used);
            }
            if self.filled < target {
                return Ok(None);
            }
            // Like capnp's reader, which reads the first word, the rest of the table and the
            // segments separately: a run may not continue past any of them.
            if self.unpacker.pending_words() > 0 {
                return Err(FramingError::PackedRunOverrun {
                    excess_words: self.unpacker.pending_words(),
                });
            }
            if let Some(table) = self.table.take() {
                return self.finish(table).map(Some);
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Message>, FramingError> {
        if let Some(message) = self.decode(src)? {
            return Ok(Some(message));
        }
        if src.is_empty() && self.filled == 0 && self.unpacker.pending_words() == 0 {
            return Ok(None);
        }
        Err(FramingError::Truncated {
            received: self.filled,
            expected: self.target()?,
        })
    }
}

impl<S: ReaderSegments + ?Sized> Encoder<&S> for PackedCodec {
    type Error = FramingError;

    fn encode(&mut self, message: &S, dst: &mut BytesMut) -> Result<(), FramingError> {
        let segments = super::segments::checked_segments(message, &self.limits)?;
        let table = table::to_vec(&segments);
        let words = (table.len() + segments.iter().map(|s| s.len()).sum::<usize>()) / WORD_BYTES;
        // Worst case of packing: a 0xff tag, 8 bytes and a count for every word.
        dst.reserve(words * (WORD_BYTES + 2));
        packing::pack(&table, dst);
        for s in segments {
            packing::pack(s, dst);
        }
        Ok(())
    }
}
