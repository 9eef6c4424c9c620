//! The segment transport over a real ZeroMQ socket (feature `zmq`).

use bytes::Bytes;
use capnp::message::{self, ReaderSegments};
use zeromq::{SocketRecv, SocketSend, ZmqMessage};

use super::transport::{SegmentReceiver, SegmentSender, TransportError};
use super::{CodecStats, FramingError, Limits, Message, Segments};

/// The segment transport over a ZeroMQ socket of the pure-Rust `zeromq` crate: each message is
/// one ZeroMQ multipart message, one frame per segment, so any ZeroMQ peer that sends segments as
/// frames (pycapnp's `to_segments` + `send_multipart`, for one) interoperates.
///
/// Sends need a socket that sends one message to one peer as-is: PUSH, DEALER, PAIR-like use of
/// DEALER. Receives need PULL or DEALER. (ROUTER and REQ/REP add envelope frames; strip them
/// yourself and use [`from_segments`](super::from_segments).)
///
/// ZeroMQ frames arrive after 2- or 9-byte frame headers, so received segments are mostly not
/// 8-byte aligned and are copied once; [`ZmqSegmentTransport::stats`] counts it. Sending copies
/// each segment once, because a `ZmqMessage` owns its frames; [`ZmqSegmentTransport::send_frames`]
/// sends frames you already own without that copy.
#[derive(Debug)]
pub struct ZmqSegmentTransport<S> {
    socket: S,
    limits: Limits,
    stats: CodecStats,
}

impl<S> ZmqSegmentTransport<S> {
    /// Wraps a bound or connected socket.
    #[must_use]
    pub fn new(socket: S, limits: Limits) -> Self {
        Self {
            socket,
            limits,
            stats: CodecStats::default(),
        }
    }

    /// What has been received so far, including bytes copied to align segments.
    #[must_use]
    pub fn stats(&self) -> CodecStats {
        self.stats
    }

    /// The socket, e.g. to close it.
    #[must_use]
    pub fn into_inner(self) -> S {
        self.socket
    }
}

impl<S: SocketSend + Send> ZmqSegmentTransport<S> {
    /// Sends segments that are already owned `Bytes` without copying them, e.g. a received
    /// message's [`Segments::to_frames`] when forwarding.
    ///
    /// # Errors
    ///
    /// Frames that are not a valid message within the limits, or the socket failed.
    pub async fn send_frames(&mut self, frames: Vec<Bytes>) -> Result<(), TransportError> {
        super::segments::checked_segments(&frames[..], &self.limits)?;
        let message = ZmqMessage::try_from(frames).map_err(|_| FramingError::NoSegments)?;
        self.socket.send(message).await?;
        Ok(())
    }
}

impl<S: SocketSend + Send> SegmentSender for ZmqSegmentTransport<S> {
    async fn send<M: ReaderSegments + Sync + ?Sized>(
        &mut self,
        message: &M,
    ) -> Result<(), TransportError> {
        super::segments::checked_segments(message, &self.limits)?;
        self.send_frames(super::to_owned_segments(message)).await
    }
}

impl<S: SocketRecv + Send> SegmentReceiver for ZmqSegmentTransport<S> {
    /// The next message. ZeroMQ sockets reconnect rather than end, so this never returns `None`:
    /// agree on the message count or an end marker with the peer.
    async fn recv(&mut self) -> Result<Option<Message>, TransportError> {
        let frames = self.socket.recv().await?.into_vec();
        let segments = Segments::from_frames(frames, &self.limits)?;
        self.stats.record(&segments);
        Ok(Some(message::Reader::new(
            segments,
            self.limits.reader_options(),
        )))
    }
}
