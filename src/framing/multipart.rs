//! The TCP multipart framing (documented byte for byte in the module docs of `framing`) as a
//! `tokio_util` codec: one frame per segment, every body 8-byte aligned.

use std::io::IoSlice;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use capnp::message::ReaderSegments;
use tokio_util::codec::{Decoder, Encoder};

use super::limits::WORD_BYTES;
use super::{FramingError, Limits};

/// Bytes of a frame header.
const HEADER_BYTES: usize = 8;
/// Flag bit: another frame of this message follows.
const MORE: u64 = 0x01;
/// Header bits that must be zero: the flags other than MORE, and the reserved bytes.
const RESERVED_MASK: u64 = 0xffff_ffff & !MORE;
/// Source of padding bytes.
static PADDING: [u8; WORD_BYTES] = [0; WORD_BYTES];

/// The header of a frame of `len` bytes.
fn header(len: usize, more: bool) -> [u8; HEADER_BYTES] {
    // Frames are segments checked against the limits, far below 4 GiB.
    let len = u64::from(u32::try_from(len).unwrap_or(u32::MAX));
    ((len << 32) | u64::from(more)).to_le_bytes()
}

fn padding(len: usize) -> &'static [u8] {
    &PADDING[..len.next_multiple_of(WORD_BYTES) - len]
}

/// The frame headers for `frames`, to be written with [`io_slices`].
pub(crate) fn headers(frames: &[&[u8]]) -> Vec<[u8; HEADER_BYTES]> {
    let last = frames.len().saturating_sub(1);
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| header(f.len(), i < last))
        .collect()
}

/// Headers, bodies and padding of `frames` in order, for one vectored write.
pub(crate) fn io_slices<'a>(
    headers: &'a [[u8; HEADER_BYTES]],
    frames: &[&'a [u8]],
) -> Vec<IoSlice<'a>> {
    let mut slices = Vec::with_capacity(frames.len() * 3);
    for (h, f) in headers.iter().zip(frames) {
        slices.push(IoSlice::new(h));
        for part in [*f, padding(f.len())] {
            if !part.is_empty() {
                slices.push(IoSlice::new(part));
            }
        }
    }
    slices
}

/// Multipart messages in the windlass TCP framing, as a [`Decoder`] (of each message's frames,
/// as `Vec<Bytes>` slices of the receive buffer) and an [`Encoder`] (of anything capnp can read
/// from, one frame per segment).
///
/// The frame count is bounded by [`Limits::max_segments`] and the sum of body lengths by
/// [`Limits::max_message_bytes`], both checked as each header arrives, before the buffer grows
/// for the body.
#[derive(Debug, Default)]
pub struct MultipartCodec {
    limits: Limits,
    /// Frames of the message being received.
    frames: Vec<Bytes>,
    received: u64,
    /// A header already parsed: body length and MORE.
    pending: Option<(usize, bool)>,
}

impl MultipartCodec {
    /// A codec enforcing `limits`.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    /// Parses and checks the header at the start of `src`, if it is all there.
    fn parse_header(&mut self, src: &mut BytesMut) -> Result<Option<(usize, bool)>, FramingError> {
        let Some(bytes) = src.get(..HEADER_BYTES) else {
            src.reserve(HEADER_BYTES - src.len());
            return Ok(None);
        };
        let mut raw = [0; HEADER_BYTES];
        raw.copy_from_slice(bytes);
        let header = u64::from_le_bytes(raw);
        if header & RESERVED_MASK != 0 {
            return Err(FramingError::BadFrameHeader { header });
        }
        self.limits
            .check_segment_count(self.frames.len() as u64 + 1)?;
        let len = header >> 32;
        let total = self.limits.check_message_bytes(self.received + len)?;
        src.advance(HEADER_BYTES);
        // `len` ≤ `total`, which fits a usize.
        Ok(Some((total - self.received as usize, header & MORE != 0)))
    }
}

impl Decoder for MultipartCodec {
    type Item = Vec<Bytes>;
    type Error = FramingError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FramingError> {
        loop {
            let Some((len, more)) = (match self.pending.take() {
                Some(pending) => Some(pending),
                None => self.parse_header(src)?,
            }) else {
                return Ok(None);
            };
            let padded = len.next_multiple_of(WORD_BYTES);
            if src.len() < padded {
                // Bounded by the limits checked in `parse_header`.
                src.reserve(padded - src.len());
                self.pending = Some((len, more));
                return Ok(None);
            }
            let mut frame = src.split_to(padded);
            frame.truncate(len);
            self.frames.push(frame.freeze());
            self.received += len as u64;
            if !more {
                self.received = 0;
                return Ok(Some(std::mem::take(&mut self.frames)));
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Vec<Bytes>>, FramingError> {
        if let Some(frames) = self.decode(src)? {
            return Ok(Some(frames));
        }
        if src.is_empty() && self.frames.is_empty() && self.pending.is_none() {
            return Ok(None);
        }
        let received = self.received as usize;
        let expected = match self.pending {
            Some((len, _)) => received + HEADER_BYTES + len.next_multiple_of(WORD_BYTES),
            None => received + HEADER_BYTES,
        };
        Err(FramingError::Truncated {
            received: received + src.len(),
            expected,
        })
    }
}

impl<S: ReaderSegments + ?Sized> Encoder<&S> for MultipartCodec {
    type Error = FramingError;

    fn encode(&mut self, message: &S, dst: &mut BytesMut) -> Result<(), FramingError> {
        let frames = super::segments::checked_segments(message, &self.limits)?;
        let headers = headers(&frames);
        let bytes: usize = frames.iter().map(|f| HEADER_BYTES + f.len()).sum();
        dst.reserve(bytes + WORD_BYTES * frames.len());
        for slice in io_slices(&headers, &frames) {
            dst.put_slice(&slice);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example() {
        let word: &[u8] = &[1, 0, 0, 0, 0, 0, 0, 0];
        let mut buf = BytesMut::new();
        MultipartCodec::default()
            .encode(&[word][..], &mut buf)
            .expect("encode");
        assert_eq!(&buf[..], &[0, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn limits_are_checked_at_each_header_before_reserving() {
        let limits = Limits::new()
            .with_max_message_bytes(64)
            .with_max_segments(2);
        // One 4 GiB - 1 frame announced: refused from its 8 header bytes.
        let mut buf = BytesMut::from(&((u64::from(u32::MAX) << 32) | MORE).to_le_bytes()[..]);
        let err = MultipartCodec::new(limits).decode(&mut buf);
        assert!(matches!(
            err,
            Err(FramingError::MessageTooLarge {
                bytes: 4_294_967_295,
                max: 64
            })
        ));
        assert!(buf.capacity() < 1024, "reserved {}", buf.capacity());
        // The running total counts: 40 + 32 bytes > 64.
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&header(40, true));
        buf.extend_from_slice(&[0; 40]);
        buf.extend_from_slice(&header(32, false));
        let err = MultipartCodec::new(limits).decode(&mut buf);
        assert!(matches!(
            err,
            Err(FramingError::MessageTooLarge { bytes: 72, max: 64 })
        ));
        // And so does the frame count.
        let mut buf = BytesMut::new();
        for _ in 0..3 {
            buf.extend_from_slice(&header(0, true));
        }
        let err = MultipartCodec::new(limits).decode(&mut buf);
        assert!(matches!(
            err,
            Err(FramingError::TooManySegments { count: 3, max: 2 })
        ));
    }

    #[test]
    fn reserved_bits_are_refused() {
        for bad in [0x02u64, 0x100, 0x8000_0000] {
            let mut buf = BytesMut::from(&bad.to_le_bytes()[..]);
            assert!(matches!(
                MultipartCodec::default().decode(&mut buf),
                Err(FramingError::BadFrameHeader { header }) if header == bad
            ));
        }
    }
}
