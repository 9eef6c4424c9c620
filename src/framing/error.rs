//! What can go wrong between bytes and messages.

use std::io;

/// A message could not be decoded or encoded: the peer broke the framing or a [`Limits`] bound,
/// the stream ended inside a message, or the underlying I/O failed.
///
/// Every variant caused by peer input leaves the decoder in an unknown position in the stream:
/// close the connection, there is no way to resynchronise.
///
/// [`Limits`]: super::Limits
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FramingError {
    /// The segment table announces no segments (its count field is `0xffff_ffff`, which wraps to
    /// zero in 32-bit arithmetic), or an empty list of segments was given.
    #[error("message has no segments")]
    NoSegments,
    /// More segments than [`Limits::max_segments`](super::Limits::max_segments).
    #[error("message has {count} segments, more than the limit of {max}")]
    TooManySegments {
        /// Segments announced (or given).
        count: u64,
        /// The limit.
        max: usize,
    },
    /// More segment data than [`Limits::max_message_bytes`](super::Limits::max_message_bytes).
    #[error("message is {bytes} bytes, more than the limit of {max}")]
    MessageTooLarge {
        /// Bytes announced (summed in 64 bits, so it cannot overflow).
        bytes: u64,
        /// The limit.
        max: usize,
    },
    /// A segment handed to [`from_segments`](super::from_segments) is not a whole number of
    /// 8-byte words.
    #[error("segment {index} is {len} bytes, not a multiple of 8")]
    SegmentNotWords {
        /// Which segment, from 0.
        index: usize,
        /// Its length in bytes.
        len: usize,
    },
    /// The stream ended inside a message.
    #[error(
        "stream ended inside a message: {received} bytes received, at least {expected} needed"
    )]
    Truncated {
        /// Bytes of the unfinished message that did arrive (unpacked bytes for packed input).
        received: usize,
        /// Bytes the message needs, as far as its header was read.
        expected: usize,
    },
    /// A packed run of zero or literal words reaches past the first word, the segment table or
    /// the message. capnp's packer packs the table and each segment separately, so it never
    /// writes one, and capnp's reader refuses it too.
    #[error("packed run overruns the segment table or message by {excess_words} words")]
    PackedRunOverrun {
        /// Words the run still had to produce at the boundary.
        excess_words: usize,
    },
    /// A multipart frame header has reserved bits set: the peer speaks another protocol (or
    /// another version of this one), or the stream is out of step.
    #[error("bad multipart frame header {header:#018x}: reserved bits are set")]
    BadFrameHeader {
        /// The header's 8 bytes, read as a little-endian number.
        header: u64,
    },
    /// The first bytes of the stream are not Cap'n Proto but another protocol's (an HTTP
    /// response, a TLS record, an SSH or SMTP banner, other text): the peer is not a Cap'n Proto
    /// peer at all, so retrying will not help; check the address. Reported instead of
    /// [`FramingError::TooManySegments`] for the first message only.
    #[error("the peer does not speak Cap'n Proto (it sent what looks like {protocol})")]
    NotCapnp {
        /// What the bytes look like.
        protocol: super::ForeignProtocol,
    },
    /// Reading or writing failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}
