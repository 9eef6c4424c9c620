//! Cap'n Proto packing as pure functions: a packer byte-identical to capnp's and an incremental
//! unpacker that never produces more words than it is asked for.
//!
//! Each word becomes a tag byte (bit *i* set = byte *i* is non-zero) and its non-zero bytes. Tag
//! `0x00` is followed by a count of further all-zero words (0–255); tag `0xff` by the word's
//! 8 bytes, a count (0–255) and that many words copied verbatim.

use bytes::BufMut;

use super::limits::WORD_BYTES;

/// Longest run a count byte can announce.
const MAX_RUN: usize = 255;

/// Packs `input` (a whole number of words) onto `out`, exactly as `capnp::serialize_packed` packs
/// one buffer: runs never reach past the end of `input`.
pub(crate) fn pack(input: &[u8], out: &mut impl BufMut) {
    let words: Vec<&[u8]> = input.chunks_exact(WORD_BYTES).collect();
    let mut i = 0;
    while let Some(word) = words.get(i) {
        i += 1;
        let tag = word
            .iter()
            .enumerate()
            .fold(0u8, |tag, (bit, &b)| tag | (u8::from(b != 0) << bit));
        out.put_u8(tag);
        word.iter()
            .filter(|&&b| b != 0)
            .for_each(|&b| out.put_u8(b));
        let limit = words.len().min(i + MAX_RUN);
        let start = i;
        if tag == 0 {
            while i < limit && words[i].iter().all(|&b| b == 0) {
                i += 1;
            }
            out.put_u8(run_len(i - start));
        } else if tag == 0xff {
            // Words with at most one zero byte are cheaper verbatim; capnp stops at two zeros.
            while i < limit && words[i].iter().filter(|&&b| b == 0).count() < 2 {
                i += 1;
            }
            out.put_u8(run_len(i - start));
            out.put_slice(&input[start * WORD_BYTES..i * WORD_BYTES]);
        }
    }
}

fn run_len(words: usize) -> u8 {
    // Runs are capped at MAX_RUN above.
    u8::try_from(words).unwrap_or(u8::MAX)
}

/// Unpacking state carried between calls: the part of a run not yet produced.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unpacker {
    zeros: usize,
    literal: usize,
}

impl Unpacker {
    /// Words of a run still to be produced.
    pub(crate) fn pending_words(&self) -> usize {
        self.zeros + self.literal
    }

    /// Unpacks from `src` into `out[*filled..]` until `out` is full or `src` holds no whole unit
    /// (a tag with its bytes, or one literal word). `out` must be zeroed past `*filled`. Returns
    /// the bytes of `src` consumed; what is left is an incomplete unit.
    pub(crate) fn unpack(&mut self, src: &[u8], out: &mut [u8], filled: &mut usize) -> usize {
        let mut pos = 0;
        while *filled < out.len() {
            let room = (out.len() - *filled) / WORD_BYTES;
            if self.zeros > 0 {
                // `out` is zeroed: a zero run only moves the fill mark.
                let n = self.zeros.min(room);
                self.zeros -= n;
                *filled += n * WORD_BYTES;
                continue;
            }
            if self.literal > 0 {
                let n = self.literal.min(room).min((src.len() - pos) / WORD_BYTES);
                if n == 0 {
                    break;
                }
                let bytes = n * WORD_BYTES;
                out[*filled..*filled + bytes].copy_from_slice(&src[pos..pos + bytes]);
                self.literal -= n;
                *filled += bytes;
                pos += bytes;
                continue;
            }
            let (used, words) = unpack_plain_words(&src[pos..], &mut out[*filled..]);
            pos += used;
            *filled += words * WORD_BYTES;
            if *filled == out.len() {
                break;
            }
            let Some(&tag) = src.get(pos) else { break };
            let word = &mut out[*filled..*filled + WORD_BYTES];
            match tag {
                0 => {
                    let Some(&count) = src.get(pos + 1) else {
                        break;
                    };
                    self.zeros = usize::from(count);
                    pos += 2;
                }
                0xff => {
                    let Some(unit) = src.get(pos..pos + WORD_BYTES + 2) else {
                        break;
                    };
                    word.copy_from_slice(&unit[1..=WORD_BYTES]);
                    self.literal = usize::from(unit[WORD_BYTES + 1]);
                    pos += WORD_BYTES + 2;
                }
                _ => {
                    let n = tag.count_ones() as usize;
                    let Some(bytes) = src.get(pos + 1..pos + 1 + n) else {
                        break;
                    };
                    let mut bytes = bytes.iter();
                    for (bit, b) in word.iter_mut().enumerate() {
                        if tag & (1 << bit) != 0 {
                            *b = bytes.next().copied().unwrap_or(0);
                        }
                    }
                    pos += 1 + n;
                }
            }
            *filled += WORD_BYTES;
        }
        pos
    }
}

/// The fast path of [`Unpacker::unpack`]: words whose tag is neither `0x00` nor `0xff`, while at
/// least a whole unit's worth of input (9 bytes) and one word of room remain. Returns the bytes
/// consumed and the words written; stops at the first run tag for the caller to handle.
fn unpack_plain_words(src: &[u8], out: &mut [u8]) -> (usize, usize) {
    let mut pos = 0;
    let mut words = 0;
    for word in out.chunks_exact_mut(WORD_BYTES) {
        // A fixed-size window lets the compiler drop the bounds checks of the loop below.
        let Some(unit) = src.get(pos..pos + WORD_BYTES + 1) else {
            break;
        };
        let mut window = [0u8; WORD_BYTES + 1];
        window.copy_from_slice(unit);
        let tag = window[0];
        if tag == 0 || tag == 0xff {
            break;
        }
        let mut next = 1;
        for (bit, b) in word.iter_mut().enumerate() {
            let set = usize::from((tag >> bit) & 1);
            // `next` ≤ 1 + bits set so far ≤ 8: always inside the window.
            *b = window[next.min(WORD_BYTES)] & 0u8.wrapping_sub(set as u8);
            next += set;
        }
        pos += next;
        words += 1;
    }
    (pos, words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unpack_all(packed: &[u8], words: usize) -> Vec<u8> {
        let mut out = vec![0; words * WORD_BYTES];
        let mut filled = 0;
        let used = Unpacker::default().unpack(packed, &mut out, &mut filled);
        assert_eq!((used, filled), (packed.len(), out.len()));
        out
    }

    #[test]
    fn known_encodings() {
        let cases: &[(&[u8], &[u8])] = &[
            (&[0; 8], &[0, 0]),
            (&[0; 24], &[0, 2]),
            (&[1, 0, 0, 0, 0, 0, 0, 2], &[0x81, 1, 2]),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8],
                &[0xff, 1, 2, 3, 4, 5, 6, 7, 8, 0],
            ),
            (
                &[1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 9, 9, 9, 9, 0],
                &[0xff, 1, 2, 3, 4, 5, 6, 7, 8, 1, 9, 9, 9, 9, 9, 9, 9, 0],
            ),
        ];
        for (plain, packed) in cases {
            let mut out = Vec::new();
            pack(plain, &mut out);
            assert_eq!(&out, packed);
            assert_eq!(unpack_all(packed, plain.len() / 8), *plain);
        }
    }

    #[test]
    fn stops_at_the_words_asked_for_and_keeps_the_rest_of_the_run() {
        let mut out = vec![0; 16];
        let mut filled = 0;
        let mut unpacker = Unpacker::default();
        // One zero word and 200 more: a 1.6 KiB expansion from two bytes, bounded by `out`.
        assert_eq!(unpacker.unpack(&[0, 200], &mut out, &mut filled), 2);
        assert_eq!(filled, 16);
        assert_eq!(unpacker.pending_words(), 199);
    }
}
