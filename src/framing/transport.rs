//! The segment transport: each message travels as one multipart message, one frame per segment.

use std::future::Future;
use std::io;

use capnp::message::{self, ReaderSegments};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_util::codec::FramedRead;

use super::multipart::{self, MultipartCodec};
use super::{CodecStats, FramingError, Limits, Message, Segments};

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
    /// A message outside the transport's [`Limits`], or the transport failed.
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
    /// A multipart message that is not a valid message within the [`Limits`], or the transport
    /// failed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe for [`TcpSegmentTransport`] (frames received so far stay buffered in its
    /// decoder) and as safe as the socket's `recv` for ZeroMQ.
    fn recv(&mut self) -> impl Future<Output = Result<Option<Message>, TransportError>> + Send;
}

/// The segment transport over plain TCP, in the multipart framing documented in
/// [the module docs](super#the-tcp-multipart-framing).
///
/// Sending is one vectored write per message straight from the message's segments; receiving
/// hands out segments that are slices of the receive buffer (aligned by the framing's design, so
/// [`TcpSegmentTransport::stats`] should report no copies).
#[derive(Debug)]
pub struct TcpSegmentTransport {
    reader: FramedRead<OwnedReadHalf, MultipartCodec>,
    writer: OwnedWriteHalf,
    limits: Limits,
    stats: CodecStats,
}

impl TcpSegmentTransport {
    /// Wraps a connected stream; socket options are the caller's (see
    /// [`TcpSegmentTransport::connect`] for what it sets).
    #[must_use]
    pub fn new(stream: TcpStream, limits: Limits) -> Self {
        let (reader, writer) = stream.into_split();
        Self {
            reader: FramedRead::new(reader, MultipartCodec::new(limits)),
            writer,
            limits,
            stats: CodecStats::default(),
        }
    }

    /// Connects to `addr` and disables Nagle's algorithm (each message is one write already, and
    /// waiting to coalesce them only adds latency).
    ///
    /// # Errors
    ///
    /// Connecting failed.
    pub async fn connect(addr: impl ToSocketAddrs, limits: Limits) -> Result<Self, TransportError> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self::new(stream, limits))
    }

    /// What has been received so far, including bytes copied to align segments.
    #[must_use]
    pub fn stats(&self) -> CodecStats {
        self.stats
    }

    /// Ends the sending direction: the peer's [`SegmentReceiver::recv`] returns `None` once it
    /// has read everything sent before.
    ///
    /// # Errors
    ///
    /// The socket failed.
    pub async fn shutdown(&mut self) -> Result<(), TransportError> {
        self.writer.shutdown().await?;
        Ok(())
    }
}

impl SegmentSender for TcpSegmentTransport {
    async fn send<S: ReaderSegments + Sync + ?Sized>(
        &mut self,
        message: &S,
    ) -> Result<(), TransportError> {
        let frames = super::table::checked_segments(message, &self.limits)?;
        let headers = multipart::headers(&frames);
        let mut slices = multipart::io_slices(&headers, &frames);
        super::io::write_all_vectored(&mut self.writer, &mut slices).await?;
        Ok(())
    }
}

impl SegmentReceiver for TcpSegmentTransport {
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        let Some(frames) = self.reader.next().await.transpose()? else {
            return Ok(None);
        };
        let segments = Segments::from_frames(frames, &self.limits)?;
        self.stats.record(&segments);
        Ok(Some(message::Reader::new(
            segments,
            self.limits.reader_options(),
        )))
    }
}
