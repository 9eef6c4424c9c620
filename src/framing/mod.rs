//! Cap'n Proto framing without copies: stream codecs, segments, and a segment transport.
//!
//! pycapnp users know `to_bytes` / `from_bytes`, packed bytes, `read_multiple` and
//! `to_segments` / `from_segments`; this module gives Rust the same, reading messages in place:
//!
//! | what                                  | here                                                 |
//! |---------------------------------------|------------------------------------------------------|
//! | standard stream framing, async        | [`MessageCodec`] (`tokio_util` `Decoder`/`Encoder`), [`message_stream`], [`write_message_async`] |
//! | packed stream framing, async          | [`PackedCodec`]                                      |
//! | many messages on a blocking stream    | [`read_messages`], [`read_message`], [`write_message`] |
//! | raw segments                          | [`to_segments`], [`to_owned_segments`], [`from_segments`], [`Segments::to_frames`] |
//! | one frame per segment, over TCP       | [`TcpSegmentTransport`] (framing below; `into_split` for two tasks) |
//! | one frame per segment, over ZeroMQ    | `ZmqSegmentTransport` (feature `zmq`)                |
//! | either transport, generically         | [`SegmentSender`], [`SegmentReceiver`]               |
//!
//! A decoded [`Message`] is a `capnp::message::Reader` over [`Segments`]: each segment is a
//! [`bytes::Bytes`] slice of the buffer the message arrived in, so decoding costs O(segments),
//! not O(bytes). capnp needs segments 8-byte aligned; a segment that is not is copied once, and
//! the copy is counted ([`Segments::copied_bytes`], [`CodecStats::copied_bytes`]).
//!
//! Everything a peer announces is checked against [`Limits`] before memory is reserved for it:
//! segment count (at most 511 by default, as capnp), message size (64 MiB by default, in 64-bit
//! arithmetic so 32-bit sizes cannot overflow, and never above the traversal limit), and, when
//! the message is read, capnp's traversal and nesting limits. Every violation is its own
//! [`FramingError`] variant carrying the offending numbers.
//!
//! # The TCP multipart framing
//!
//! [`TcpSegmentTransport`] sends each message as one multipart message, one frame per segment,
//! like ZeroMQ does, but with headers that keep every frame body 8-byte aligned in the receive
//! buffer, so the receiver can read segments in place. A frame is:
//!
//! ```text
//! offset  size  field
//! 0       1     flags: 0x01 = MORE (another frame of this message follows); other bits 0
//! 1       3     reserved, 0
//! 4       4     body length in bytes, u32 little-endian
//! 8       len   body
//! 8+len   0–7   zero padding to a multiple of 8 bytes (ignored by the reader)
//! ```
//!
//! A message is its frames in order, the last without MORE; the stream is messages back to back,
//! with no greeting. A header with reserved bits set is an error ([`FramingError::BadFrameHeader`]).
//! The frame count and the running total of body bytes are checked against [`Limits`] as each
//! header arrives. For example, one segment of one word `01 00 00 00 00 00 00 00` is
//!
//! ```text
//! 00 00 00 00 08 00 00 00   01 00 00 00 00 00 00 00
//! ```
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use windlass::framing::{self, Limits};
//!
//! let mut builder = capnp::message::Builder::new_default();
//! builder.set_root("segments")?;
//! let frames: Vec<Bytes> = framing::to_owned_segments(&builder);
//! let message = framing::from_segments(frames, &Limits::new())?;
//! assert_eq!(message.get_root::<capnp::text::Reader>()?.to_str()?, "segments");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

/// The constructors and accessors every stream codec here has alike: `new`, `with_limits`,
/// `limits`, `stats`, for a `Default` struct with `limits: Limits` and `stats: CodecStats`.
macro_rules! codec_basics {
    ($codec:ident) => {
        impl $codec {
            /// A codec with the default [`Limits`].
            #[must_use]
            pub fn new() -> Self {
                Self::with_limits(Limits::new())
            }

            /// A codec enforcing `limits`.
            #[must_use]
            pub fn with_limits(limits: Limits) -> Self {
                Self {
                    limits,
                    ..Self::default()
                }
            }

            /// The limits this codec enforces.
            #[must_use]
            pub fn limits(&self) -> &Limits {
                &self.limits
            }

            /// What this codec has decoded so far.
            #[must_use]
            pub fn stats(&self) -> CodecStats {
                self.stats
            }
        }
    };
}

mod banner;
mod codec;
mod error;
mod io;
mod limits;
mod multipart;
mod packed;
mod packing;
mod segments;
pub(crate) mod table;
mod tcp;
mod transport;
#[cfg(feature = "zmq")]
mod zmq;

pub use banner::ForeignProtocol;
pub use codec::{CodecStats, MessageCodec};
pub use error::FramingError;
pub use io::{
    message_stream, read_message, read_messages, write_message, write_message_async, MessageIter,
};
pub use limits::{Limits, DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_SEGMENTS};
pub use multipart::MultipartCodec;
pub use packed::PackedCodec;
pub use segments::{from_segments, to_owned_segments, to_segments, Message, Segments};
pub use tcp::{TcpSegmentReceiver, TcpSegmentSender, TcpSegmentTransport};
pub use transport::{SegmentReceiver, SegmentSender, TransportError};
#[cfg(feature = "zmq")]
pub use zmq::ZmqSegmentTransport;
