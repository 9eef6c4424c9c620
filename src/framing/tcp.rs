//! The segment transport over plain TCP, whole or split into a receiving and a sending half.

use capnp::message::{self, ReaderSegments};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio_util::codec::FramedRead;

use super::multipart::{self, MultipartCodec};
use super::transport::{SegmentReceiver, SegmentSender, TransportError};
use super::{CodecStats, Limits, Message, Segments};

/// The segment transport over plain TCP, in the multipart framing documented in
/// [the module docs](super#the-tcp-multipart-framing).
///
/// Sending is one vectored write per message straight from the message's segments; receiving
/// hands out segments that are slices of the receive buffer (aligned by the framing's design, so
/// [`TcpSegmentTransport::stats`] should report no copies). [`TcpSegmentTransport::into_split`]
/// gives halves for two tasks.
#[derive(Debug)]
pub struct TcpSegmentTransport {
    receiver: TcpSegmentReceiver,
    sender: TcpSegmentSender,
}

/// The receiving half of a [`TcpSegmentTransport`].
#[derive(Debug)]
pub struct TcpSegmentReceiver {
    reader: FramedRead<OwnedReadHalf, MultipartCodec>,
    limits: Limits,
    stats: CodecStats,
}

/// The sending half of a [`TcpSegmentTransport`].
#[derive(Debug)]
pub struct TcpSegmentSender {
    writer: OwnedWriteHalf,
    limits: Limits,
}

impl TcpSegmentTransport {
    /// Wraps a connected stream; socket options are the caller's (see
    /// [`TcpSegmentTransport::connect`] for what it sets).
    #[must_use]
    pub fn new(stream: TcpStream, limits: Limits) -> Self {
        let (reader, writer) = stream.into_split();
        Self {
            receiver: TcpSegmentReceiver {
                reader: FramedRead::new(reader, MultipartCodec::new(limits)),
                limits,
                stats: CodecStats::default(),
            },
            sender: TcpSegmentSender { writer, limits },
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
        self.receiver.stats()
    }

    /// Ends the sending direction; see [`TcpSegmentSender::shutdown`].
    ///
    /// # Errors
    ///
    /// The socket failed.
    pub async fn shutdown(&mut self) -> Result<(), TransportError> {
        self.sender.shutdown().await
    }

    /// The receiving and the sending half, to use from two tasks.
    #[must_use]
    pub fn into_split(self) -> (TcpSegmentReceiver, TcpSegmentSender) {
        (self.receiver, self.sender)
    }
}

impl TcpSegmentReceiver {
    /// What has been received so far, including bytes copied to align segments.
    #[must_use]
    pub fn stats(&self) -> CodecStats {
        self.stats
    }
}

impl TcpSegmentSender {
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

impl SegmentSender for TcpSegmentSender {
    async fn send<S: ReaderSegments + Sync + ?Sized>(
        &mut self,
        message: &S,
    ) -> Result<(), TransportError> {
        let frames = super::segments::checked_segments(message, &self.limits)?;
        let headers = multipart::headers(&frames);
        let mut slices = multipart::io_slices(&headers, &frames);
        super::io::write_all_vectored(&mut self.writer, &mut slices).await?;
        Ok(())
    }
}

impl SegmentReceiver for TcpSegmentReceiver {
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

impl SegmentSender for TcpSegmentTransport {
    async fn send<S: ReaderSegments + Sync + ?Sized>(
        &mut self,
        message: &S,
    ) -> Result<(), TransportError> {
        self.sender.send(message).await
    }
}

impl SegmentReceiver for TcpSegmentTransport {
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        self.receiver.recv().await
    }
}
