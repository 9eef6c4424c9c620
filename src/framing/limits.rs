//! What a decoder accepts: every bound on a message a peer may send, checked before memory is
//! reserved for it.

use capnp::message::ReaderOptions;

/// Most segments a message may have by default: 511.
///
/// `capnp::serialize` (and C++ `kj`) reject a segment table of 512 or more entries
/// (`SEGMENTS_COUNT_LIMIT` is an exclusive bound), so 511 is the largest count every standard
/// reader accepts; a limit of 512 would let us send messages a capnp peer refuses.
pub const DEFAULT_MAX_SEGMENTS: usize = capnp::serialize::SEGMENTS_COUNT_LIMIT - 1;

/// Largest message, in bytes of segment data (segment table and framing not counted), accepted by
/// default: 64 MiB.
///
/// It matches capnp's default traversal limit (8 Mi words = 64 MiB), so a message this large can
/// still be read in full with default [`ReaderOptions`].
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Bytes in a Cap'n Proto word; segment sizes on the wire count words.
pub(crate) const WORD_BYTES: usize = 8;

/// The bounds a decoder enforces on each message (segment count; size, capped by the traversal
/// limit), plus the [`ReaderOptions`] (traversal and nesting limits) its messages are read with.
///
/// The defaults accept every message `capnp::serialize::read_message` accepts with its default
/// options. Every bound is checked against the header *before* any memory is reserved for the
/// message, so a hostile header costs nothing but the bytes of the header itself. Encoders check
/// the same bounds, so we never send what our own decoder would refuse.
///
/// A header within the limits does reserve the whole message at once (so the message lands in one
/// buffer and is never copied while it grows): a peer that announces a message and then stalls
/// holds up to [`Limits::max_message_bytes`] of memory per connection. Size the limit with the
/// connection count in mind, and pair it with an idle timeout.
///
/// ```
/// use windlass::framing::Limits;
///
/// let limits = Limits::new().with_max_segments(16).with_max_message_bytes(1 << 20);
/// assert_eq!(limits.max_segments(), 16);
///
/// // A lower traversal limit lowers the largest message accepted too.
/// let mut options = capnp::message::ReaderOptions::new();
/// options.traversal_limit_in_words(Some(1024));
/// assert_eq!(limits.with_reader_options(options).effective_max_message_bytes(), 8192);
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    max_segments: usize,
    max_message_bytes: usize,
    reader_options: ReaderOptions,
}

impl Default for Limits {
    fn default() -> Self {
        Self::new()
    }
}

impl Limits {
    /// The defaults: [`DEFAULT_MAX_SEGMENTS`], [`DEFAULT_MAX_MESSAGE_BYTES`] and capnp's default
    /// [`ReaderOptions`] (8 Mi words traversal limit, nesting limit 64).
    #[must_use]
    pub fn new() -> Self {
        Self {
            max_segments: DEFAULT_MAX_SEGMENTS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            reader_options: ReaderOptions::new(),
        }
    }

    /// Most segments per message (default [`DEFAULT_MAX_SEGMENTS`]). Values above 511 let through
    /// messages that standard capnp readers refuse; 0 refuses everything.
    #[must_use]
    pub fn with_max_segments(mut self, segments: usize) -> Self {
        self.max_segments = segments;
        self
    }

    /// Largest message in bytes of segment data (default [`DEFAULT_MAX_MESSAGE_BYTES`]). To
    /// accept more than 64 MiB, raise the reader options' traversal limit too.
    #[must_use]
    pub fn with_max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// The options decoded messages are read with: traversal limit in words and nesting limit
    /// (default: capnp's [`ReaderOptions::new`]). A traversal limit below
    /// [`Limits::max_message_bytes`] also lowers the largest message accepted (see
    /// [`Limits::effective_max_message_bytes`]).
    #[must_use]
    pub fn with_reader_options(mut self, options: ReaderOptions) -> Self {
        self.reader_options = options;
        self
    }

    /// Most segments per message.
    #[must_use]
    pub fn max_segments(&self) -> usize {
        self.max_segments
    }

    /// Largest message, in bytes of segment data.
    #[must_use]
    pub fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The options decoded messages are read with.
    #[must_use]
    pub fn reader_options(&self) -> ReaderOptions {
        self.reader_options
    }

    /// Checks a segment count against [`Limits::max_segments`] (and refuses zero).
    pub(crate) fn check_segment_count(&self, count: u64) -> Result<usize, super::FramingError> {
        if count == 0 {
            return Err(super::FramingError::NoSegments);
        }
        match usize::try_from(count) {
            Ok(n) if n <= self.max_segments => Ok(n),
            _ => Err(super::FramingError::TooManySegments {
                count,
                max: self.max_segments,
            }),
        }
    }

    /// The largest message a decoder accepts: [`Limits::max_message_bytes`], or less if the
    /// traversal limit of the reader options is lower, because a message larger than that cannot
    /// be read in full (capnp's own readers refuse it up front for the same reason).
    #[must_use]
    pub fn effective_max_message_bytes(&self) -> usize {
        let traversal = self
            .reader_options
            .traversal_limit_in_words
            .map_or(usize::MAX, |words| words.saturating_mul(WORD_BYTES));
        self.max_message_bytes.min(traversal)
    }

    /// Checks a message size in bytes against [`Limits::effective_max_message_bytes`].
    pub(crate) fn check_message_bytes(&self, bytes: u64) -> Result<usize, super::FramingError> {
        let max = self.effective_max_message_bytes();
        match usize::try_from(bytes) {
            Ok(n) if n <= max => Ok(n),
            _ => Err(super::FramingError::MessageTooLarge { bytes, max }),
        }
    }
}
