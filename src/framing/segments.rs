//! Messages whose segments are `Bytes`: slices of a receive buffer, shared, never copied unless
//! they are not 8-byte aligned.

use bytes::Bytes;
use capnp::message::{self, ReaderSegments};
use capnp::Word;

use super::limits::WORD_BYTES;
use super::table::SegmentSizes;
use super::{FramingError, Limits};

/// A received Cap'n Proto message: a `capnp::message::Reader` over [`Segments`].
///
/// `message.get_root::<T>()` reads it in place; `message.get_segments()` gives the segments back,
/// e.g. to forward them without re-encoding.
pub type Message = message::Reader<Segments>;

/// The segments of one message: slices of the buffer it arrived in, shared, not copied.
///
/// A message decoded from a stream keeps one [`Bytes`] for all its segments (one reference count
/// per message, not per segment) plus their end offsets; a message assembled from frames keeps
/// one [`Bytes`] per frame. Either way [`Segments::to_frames`] hands them out as `Bytes` without
/// copying, e.g. to forward them.
///
/// capnp reads a segment in place only if it is 8-byte aligned (its `unaligned` feature, which
/// would lift that, slows every field access of every message in the program, so windlass leaves
/// it off). A segment that arrives unaligned is copied once into word-aligned memory;
/// [`Segments::copied_bytes`] says how many bytes that cost, so a test can check that a path is
/// really zero-copy.
///
/// Sharing has the usual `Bytes` trade-off: a message keeps alive the receive buffer chunk it
/// was cut from, however small the message. To keep a small message for long while the stream
/// moves on, copy it (e.g. `capnp::serialize::write_message_segments_to_words`).
#[derive(Debug, Clone)]
pub struct Segments {
    repr: Repr,
    copied_bytes: usize,
}

#[derive(Debug, Clone)]
enum Repr {
    /// One segment: all of `body` (most messages; no offsets to keep).
    Whole(Bytes),
    /// Segments back to back in `body`; segment `i` ends at `ends[i]`.
    Contiguous { body: Bytes, ends: Vec<usize> },
    /// One `Bytes` per segment.
    Frames(Vec<Bytes>),
}

impl Segments {
    /// Checks `frames` against `limits` and keeps them as segments, copying only those that are
    /// not 8-byte aligned.
    ///
    /// # Errors
    ///
    /// No frames, too many, one that is not a whole number of words, or more bytes than the limit.
    pub fn from_frames(frames: Vec<Bytes>, limits: &Limits) -> Result<Self, FramingError> {
        limits.check_segment_count(frames.len() as u64)?;
        let mut total: u64 = 0;
        for (index, frame) in frames.iter().enumerate() {
            if frame.len() % WORD_BYTES != 0 {
                return Err(FramingError::SegmentNotWords {
                    index,
                    len: frame.len(),
                });
            }
            total = total.saturating_add(frame.len() as u64);
        }
        limits.check_message_bytes(total)?;
        let mut copied_bytes = 0;
        let frames = frames
            .into_iter()
            .map(|frame| {
                if is_aligned(&frame) {
                    frame
                } else {
                    copied_bytes += frame.len();
                    aligned_copy(&frame)
                }
            })
            .collect();
        Ok(Self {
            repr: Repr::Frames(frames),
            copied_bytes,
        })
    }

    /// Keeps `body` (segments back to back) as segments of the given lengths in bytes, copying
    /// `body` once first if it is not 8-byte aligned.
    ///
    /// The caller has checked that the lengths are whole words summing to `body.len()`.
    pub(crate) fn split_frame(body: Bytes, lengths: SegmentSizes) -> Self {
        let (body, copied_bytes) = if is_aligned(&body) {
            (body, 0)
        } else {
            let len = body.len();
            (aligned_copy(&body), len)
        };
        let repr = match lengths {
            SegmentSizes::One(_) => Repr::Whole(body),
            SegmentSizes::Many(mut lengths) => {
                let mut end = 0;
                for len in &mut lengths {
                    end += *len;
                    *len = end;
                }
                Repr::Contiguous {
                    body,
                    ends: lengths,
                }
            }
        };
        Self { repr, copied_bytes }
    }

    /// Number of segments.
    #[must_use]
    pub fn segment_count(&self) -> usize {
        match &self.repr {
            Repr::Whole(_) => 1,
            Repr::Contiguous { ends, .. } => ends.len(),
            Repr::Frames(frames) => frames.len(),
        }
    }

    /// Segment `index`, if there is one.
    #[must_use]
    pub fn segment(&self, index: usize) -> Option<&[u8]> {
        match &self.repr {
            Repr::Whole(body) => (index == 0).then_some(&body[..]),
            Repr::Contiguous { body, ends } => {
                let end = *ends.get(index)?;
                let start = index.checked_sub(1).map_or(0, |i| ends[i]);
                body.get(start..end)
            }
            Repr::Frames(frames) => frames.get(index).map(|f| &f[..]),
        }
    }

    /// The segments, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.segment_count()).map_while(|i| self.segment(i))
    }

    /// The segments as `Bytes` sharing this message's memory (no copy), e.g. to forward them.
    #[must_use]
    pub fn to_frames(&self) -> Vec<Bytes> {
        match &self.repr {
            Repr::Whole(body) => vec![body.clone()],
            Repr::Contiguous { body, ends } => {
                let mut start = 0;
                ends.iter()
                    .map(|&end| {
                        let frame = body.slice(start..end);
                        start = end;
                        frame
                    })
                    .collect()
            }
            Repr::Frames(frames) => frames.clone(),
        }
    }

    /// Total bytes of segment data.
    #[must_use]
    pub fn total_bytes(&self) -> usize {
        match &self.repr {
            Repr::Whole(body) | Repr::Contiguous { body, .. } => body.len(),
            Repr::Frames(frames) => frames.iter().map(Bytes::len).sum(),
        }
    }

    /// Bytes copied to align segments when this message was made: 0 on the zero-copy path.
    #[must_use]
    pub fn copied_bytes(&self) -> usize {
        self.copied_bytes
    }
}

impl ReaderSegments for Segments {
    fn get_segment(&self, id: u32) -> Option<&[u8]> {
        self.segment(id as usize)
    }

    fn len(&self) -> usize {
        self.segment_count()
    }
}

/// Reads a message from its segments without copying them (pycapnp's `from_segments`); a segment
/// that is not 8-byte aligned is copied once (see [`Segments`]).
///
/// # Errors
///
/// As [`Segments::from_frames`]. Reading the message (`get_root`) checks pointers lazily, under
/// `limits.reader_options()`.
pub fn from_segments(frames: Vec<Bytes>, limits: &Limits) -> Result<Message, FramingError> {
    let segments = Segments::from_frames(frames, limits)?;
    Ok(message::Reader::new(segments, limits.reader_options()))
}

/// The segments of a message, borrowed (pycapnp's `to_segments`, without the copy).
///
/// Works for a `capnp::message::Builder`, a received [`Segments`], or anything else capnp can
/// read from.
pub fn to_segments<S: ReaderSegments + ?Sized>(message: &S) -> Vec<&[u8]> {
    // `map_while` hides the length from `collect`; reserve it, or 64 segments cost 5 regrowths.
    let count = message.len();
    let mut segments = Vec::with_capacity(count);
    segments.extend((0..count).map_while(|id| {
        u32::try_from(id)
            .ok()
            .and_then(|id| message.get_segment(id))
    }));
    segments
}

/// Checks `message` against `limits` and returns its segments.
pub(crate) fn checked_segments<'a, S: ReaderSegments + ?Sized>(
    message: &'a S,
    limits: &Limits,
) -> Result<Vec<&'a [u8]>, FramingError> {
    let segments = to_segments(message);
    limits.check_segment_count(segments.len() as u64)?;
    let total: u64 = segments.iter().map(|s| s.len() as u64).sum();
    limits.check_message_bytes(total)?;
    if let Some((index, s)) = segments
        .iter()
        .enumerate()
        .find(|(_, s)| s.len() % WORD_BYTES != 0)
    {
        return Err(FramingError::SegmentNotWords {
            index,
            len: s.len(),
        });
    }
    Ok(segments)
}

/// Owned copies of a message's segments, each in word-aligned memory: for transports that must
/// own what they send (one copy, counted by the caller).
pub fn to_owned_segments<S: ReaderSegments + ?Sized>(message: &S) -> Vec<Bytes> {
    to_segments(message).into_iter().map(aligned_copy).collect()
}

fn is_aligned(bytes: &[u8]) -> bool {
    bytes.as_ptr().align_offset(std::mem::align_of::<Word>()) == 0
}

/// Word-aligned storage a [`Bytes`] can own.
struct Words(Vec<Word>);

impl AsRef<[u8]> for Words {
    fn as_ref(&self) -> &[u8] {
        Word::words_to_bytes(&self.0)
    }
}

/// `bytes` (a whole number of words, or it is padded with zeros) copied into word-aligned memory.
pub(crate) fn aligned_copy(bytes: &[u8]) -> Bytes {
    let mut words = Word::allocate_zeroed_vec(bytes.len().div_ceil(WORD_BYTES));
    Word::words_to_bytes_mut(&mut words)[..bytes.len()].copy_from_slice(bytes);
    let words = Bytes::from_owner(Words(words));
    words.slice(..bytes.len())
}

/// Zeroed, word-aligned, owned memory of `words` words, to read into.
pub(crate) fn zeroed_words(words: usize) -> Vec<Word> {
    Word::allocate_zeroed_vec(words)
}

/// `words` frozen into a [`Bytes`] without copying.
pub(crate) fn freeze_words(words: Vec<Word>) -> Bytes {
    Bytes::from_owner(Words(words))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_frames_are_kept_and_unaligned_ones_copied_once() {
        let words = freeze_words(zeroed_words(4));
        let unaligned = words.slice(1..9);
        let limits = Limits::new();
        let kept = Segments::from_frames(vec![words.slice(8..24)], &limits).expect("aligned");
        assert_eq!(kept.copied_bytes(), 0);
        assert_eq!(
            kept.segment(0).map(<[u8]>::as_ptr),
            Some(words[8..].as_ptr())
        );
        let copied = Segments::from_frames(vec![unaligned], &limits).expect("copied");
        assert_eq!(copied.copied_bytes(), 8);
        assert!(copied.segment(0).is_some_and(is_aligned));
    }

    #[test]
    fn contiguous_segments_are_found_by_offset() {
        let body = freeze_words(zeroed_words(6));
        let segments = Segments::split_frame(body.clone(), SegmentSizes::Many(vec![8, 0, 40]));
        let lens: Vec<usize> = segments.iter().map(<[u8]>::len).collect();
        assert_eq!(lens, [8, 0, 40]);
        assert_eq!(segments.segment(3), None);
        assert_eq!(segments.to_frames()[2].as_ptr(), body[8..].as_ptr());
        assert_eq!(segments.total_bytes(), 48);
    }

    #[test]
    fn one_segment_is_the_whole_body() {
        let body = freeze_words(zeroed_words(3));
        let segments = Segments::split_frame(body.clone(), SegmentSizes::One(24));
        assert_eq!(segments.segment_count(), 1);
        assert_eq!(segments.segment(0).map(<[u8]>::as_ptr), Some(body.as_ptr()));
        assert_eq!(segments.segment(0).map(<[u8]>::len), Some(24));
        assert_eq!(segments.segment(1), None);
        assert_eq!(segments.to_frames()[0].as_ptr(), body.as_ptr());
        assert_eq!(segments.total_bytes(), 24);
        assert_eq!(segments.copied_bytes(), 0);
    }

    #[test]
    fn frames_are_checked() {
        let limits = Limits::new()
            .with_max_segments(2)
            .with_max_message_bytes(16);
        let word = || Bytes::from_static(&[0; 8]);
        assert!(matches!(
            Segments::from_frames(vec![], &limits),
            Err(FramingError::NoSegments)
        ));
        assert!(matches!(
            Segments::from_frames(vec![word(), word(), word()], &limits),
            Err(FramingError::TooManySegments { count: 3, max: 2 })
        ));
        assert!(matches!(
            Segments::from_frames(vec![word(), Bytes::from_static(&[0; 5])], &limits),
            Err(FramingError::SegmentNotWords { index: 1, len: 5 })
        ));
        assert!(matches!(
            Segments::from_frames(vec![Bytes::from_static(&[0; 24])], &limits),
            Err(FramingError::MessageTooLarge { bytes: 24, max: 16 })
        ));
    }
}
