//! The segment table of the standard stream framing, as pure functions over bytes.
//!
//! ```text
//! u32 LE  segment count − 1
//! u32 LE  size of segment 0, in 8-byte words
//! …       one u32 LE per further segment
//! 0–4     zero bytes of padding, so the table is a whole number of words
//! ```
//! then the segments back to back. This is what `capnp::serialize` and C++ `writeMessage` write.

use bytes::BufMut;

use super::limits::WORD_BYTES;
use super::{FramingError, Limits};

/// A parsed, limit-checked segment table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Table {
    /// Bytes of the table itself, padding included.
    pub(crate) table_bytes: usize,
    /// Length of each segment in bytes.
    pub(crate) segment_bytes: SegmentSizes,
    /// Sum of `segment_bytes`.
    pub(crate) body_bytes: usize,
}

impl Table {
    /// Table and segments together: the whole framed message.
    pub(crate) fn frame_bytes(&self) -> usize {
        self.table_bytes + self.body_bytes
    }
}

/// Segment lengths in bytes. Almost every message has one segment, so that one is kept inline:
/// parsing its table allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SegmentSizes {
    One(usize),
    Many(Vec<usize>),
}

impl SegmentSizes {
    #[cfg(test)]
    pub(crate) fn as_slice(&self) -> &[usize] {
        match self {
            SegmentSizes::One(len) => std::slice::from_ref(len),
            SegmentSizes::Many(lens) => lens,
        }
    }
}

/// What [`parse`] made of the bytes so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The table needs at least this many bytes in total; nothing was reserved.
    Need(usize),
    /// The whole table is here and within the limits.
    Done(Table),
}

/// Bytes of a table announcing `segments` segments: a count and one size each, padded to words.
pub(crate) fn table_bytes(segments: usize) -> usize {
    // segments ≤ max_segments was checked, and a count field is at most 2^32, so this cannot
    // overflow a 64-bit usize; on 32-bit targets the limit keeps it small.
    (4 * (segments + 1)).next_multiple_of(WORD_BYTES)
}

/// Parses the segment table at the start of `buf`, checking the segment count as soon as its
/// 4 bytes are here and the running total of segment sizes as each size arrives.
pub(crate) fn parse(buf: &[u8], limits: &Limits) -> Result<Parsed, FramingError> {
    let Some(count) = read_u32(buf, 0) else {
        return Ok(Parsed::Need(WORD_BYTES));
    };
    // As in capnp: the field holds count − 1, so 0xffff_ffff wraps to a count of zero.
    let segments = limits.check_segment_count(u64::from(count.wrapping_add(1)))?;
    let table_bytes = table_bytes(segments);
    // Sum the sizes that are here, checking the limit even before the table is complete. A u32
    // word count is at most 32 GiB, so each size fits a u64; the sum saturates because with an
    // overridden segment limit near 2^32 it could overflow.
    let sizes = (0..segments).map_while(|i| read_u32(buf, 4 * (i + 1)));
    let words = sizes.fold(0u64, |sum, size| sum.saturating_add(u64::from(size)));
    let body_bytes = limits.check_message_bytes(words.saturating_mul(WORD_BYTES as u64))?;
    if buf.len() < table_bytes {
        return Ok(Parsed::Need(table_bytes));
    }
    // Every size is here, and each is at most `body_bytes`, which fits a usize.
    let size = |i: usize| read_u32(buf, 4 * (i + 1)).map_or(0, |size| size as usize * WORD_BYTES);
    let segment_bytes = match segments {
        1 => SegmentSizes::One(size(0)),
        _ => SegmentSizes::Many((0..segments).map(size).collect()),
    };
    Ok(Parsed::Done(Table {
        table_bytes,
        segment_bytes,
        body_bytes,
    }))
}

fn read_u32(buf: &[u8], at: usize) -> Option<u32> {
    let bytes = buf.get(at..at + 4)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Writes the table for `segments` (already checked) to `out`.
pub(crate) fn write(segments: &[&[u8]], out: &mut impl BufMut) {
    // Counts and sizes fit a u32: the limits bound them far below 2^32 words.
    let count = u32::try_from(segments.len().saturating_sub(1)).unwrap_or(u32::MAX);
    out.put_u32_le(count);
    for s in segments {
        out.put_u32_le(u32::try_from(s.len() / WORD_BYTES).unwrap_or(u32::MAX));
    }
    if segments.len().is_multiple_of(2) {
        out.put_u32_le(0);
    }
}

/// The table for `segments` as bytes.
pub(crate) fn to_vec(segments: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(table_bytes(segments.len()));
    write(segments, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(words: &[u32]) -> Vec<u8> {
        let segments: Vec<Vec<u8>> = words.iter().map(|&w| vec![0; w as usize * 8]).collect();
        let views: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
        to_vec(&views)
    }

    #[test]
    fn parses_what_it_writes_and_asks_for_more_before() {
        for words in [&[1][..], &[2, 3], &[0, 1, 2], &[7; 10]] {
            let bytes = table(words);
            assert_eq!(bytes.len(), table_bytes(words.len()));
            for cut in 0..bytes.len() {
                let parsed = parse(&bytes[..cut], &Limits::new()).expect("prefix");
                assert!(matches!(parsed, Parsed::Need(n) if n > cut), "{cut}");
            }
            let Parsed::Done(t) = parse(&bytes, &Limits::new()).expect("table") else {
                panic!("incomplete");
            };
            let expect: Vec<usize> = words.iter().map(|&w| w as usize * 8).collect();
            assert_eq!(t.segment_bytes.as_slice(), expect);
            assert_eq!(
                matches!(t.segment_bytes, SegmentSizes::One(_)),
                words.len() == 1
            );
            assert_eq!(t.body_bytes, expect.iter().sum::<usize>());
        }
    }

    #[test]
    fn hostile_counts_fail_from_the_first_four_bytes() {
        let limits = Limits::new();
        assert!(matches!(
            parse(&u32::MAX.to_le_bytes(), &limits),
            Err(FramingError::NoSegments)
        ));
        assert!(matches!(
            parse(&511u32.to_le_bytes(), &limits),
            Err(FramingError::TooManySegments {
                count: 512,
                max: 511
            })
        ));
        assert!(matches!(
            parse(&510u32.to_le_bytes(), &limits),
            Ok(Parsed::Need(2048))
        ));
    }

    #[test]
    fn sizes_are_summed_without_overflow() {
        let mut bytes = vec![];
        bytes.extend(1u32.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        bytes.extend(u32::MAX.to_le_bytes());
        bytes.extend(0u32.to_le_bytes());
        let limits = Limits::new().with_max_message_bytes(usize::MAX);
        let expected = 2 * u64::from(u32::MAX) * 8;
        match parse(&bytes, &limits) {
            Ok(Parsed::Done(t)) => assert_eq!(t.body_bytes as u64, expected),
            Err(FramingError::MessageTooLarge { bytes, .. }) => assert_eq!(bytes, expected),
            other => panic!("{other:?}"),
        }
    }
}
