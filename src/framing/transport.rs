//! The segment transport: each message travels as one multipart message, one frame per segment.

use std::future::Future;
use std::io;

use capnp::message::ReaderSegments;

use super::{FramingError, Message};

/// A segment transport failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The peer broke the framing or a limit, or a message to send is outside the limits. The
    /// connection is unusable afterwards.
    #[error("framing failed")]
    Framing(#[from] FramingError),
    /// Connecting, reading or writing failed.
    #[error("i/o failed")]
    Io(#[from] io::Error),
    /// The ZeroMQ socket failed.
    #[cfg(feature = "zmq")]
    #[error("zeromq failed")]
    Zmq(#[from] zeromq::ZmqError),
}

/// Sends Cap'n Proto messages, one frame per segment.
pub trait SegmentSender {
    /// Sends `message` (a `&Builder`, `&Segments`, `&[&[u8]]`…) as one multipart message.
    ///
    /// # Errors
    ///
    /// A message outside the transport's [`Limits`](super::Limits), or the transport failed.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: dropped midway, part of the message may have been sent, and the stream is
    /// out of step; close the transport.
    fn send<S: ReaderSegments + Sync + ?Sized>(
        &mut self,
        message: &S,
    ) -> impl Future<Output = Result<(), TransportError>> + Send;
}

/// Receives Cap'n Proto messages sent one frame per segment, without copying aligned segments.
pub trait SegmentReceiver {
    /// The next message; `None` once the peer has closed the transport cleanly.
    ///
    /// # Errors
    ///
    /// A multipart message that is not a valid message within the
    /// [`Limits`](super::Limits), or the transport failed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for [`TcpSegmentTransport`](super::TcpSegmentTransport) (frames received so
    /// far stay buffered in its decoder) and as safe as the socket's `recv` for ZeroMQ.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Message>, TransportError>> + Send;
}
