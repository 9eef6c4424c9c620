//! Telling TLS from plain Cap'n Proto by a connection's first bytes, without losing them.
//!
//! The bytes are *read* (not peeked) until they decide: a TLS record starts `0x16 0x03`, so a
//! first byte other than `0x16` decides at once, and `0x16` waits for the second. Peeking could
//! not wait for "more than is there" without spinning, which is how a ClientHello whose first TCP
//! segment held one byte used to be taken for plain Cap'n Proto. The bytes read are handed back
//! to whoever reads the stream next by [`Rewind`].
//!
//! The caller bounds the wait (handshake and idle timeouts): a peer that connects and says
//! nothing must not hold a connection slot forever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};

/// The bytes that decided what a connection speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Head {
    bytes: [u8; 2],
    len: usize,
}

impl Head {
    /// What has been read, in order.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Whether the peer closed before sending anything.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the peer started a TLS handshake.
    pub(crate) fn is_tls(&self) -> bool {
        crate::rpc::looks_like_tls(self.as_slice())
    }

    /// Whether these bytes decide the question (or the stream ended).
    fn decided(&self) -> bool {
        self.len == self.bytes.len() || matches!(self.as_slice(), [first] if *first != 0x16)
    }
}

/// Reads a connection's first bytes until they tell TLS from plain, or the stream ends (then the
/// head holds what came, possibly nothing).
///
/// # Errors
/// What reading the stream fails with.
///
/// # Cancel safety
/// Not cancel safe: bytes read before cancellation are lost, as is the stream's use.
pub(crate) async fn read_head<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<Head> {
    let mut head = Head::default();
    while !head.decided() {
        let n = stream.read(&mut head.bytes[head.len..]).await?;
        if n == 0 {
            break;
        }
        head.len += n;
    }
    Ok(head)
}

/// A stream whose first bytes were already read: they are read again first. Writes pass
/// through.
pub(crate) struct Rewind<S> {
    head: Head,
    at: usize,
    inner: S,
}

impl<S> Rewind<S> {
    pub(crate) fn new(head: Head, inner: S) -> Self {
        Rewind { head, at: 0, inner }
    }

    /// The bytes that were sniffed.
    #[cfg(feature = "tls")]
    pub(crate) fn head(&self) -> Head {
        self.head
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewind<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let rest = &this.head.as_slice()[this.at..];
        if !rest.is_empty() {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.at += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewind<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    async fn head_of(pieces: &[&[u8]]) -> (Head, Vec<u8>) {
        let (mut ours, mut theirs) = tokio::io::duplex(64);
        for piece in pieces {
            theirs.write_all(piece).await.expect("write");
        }
        drop(theirs);
        let head = read_head(&mut ours).await.expect("read");
        let mut all = Vec::new();
        Rewind::new(head, ours)
            .read_to_end(&mut all)
            .await
            .expect("read the rest");
        (head, all)
    }

    #[tokio::test]
    async fn a_one_byte_client_hello_waits_for_the_second_byte() {
        let (mut ours, mut theirs) = tokio::io::duplex(64);
        theirs.write_all(&[0x16]).await.expect("write");
        let read = tokio::spawn(async move { read_head(&mut ours).await.map(|h| h.is_tls()) });
        tokio::task::yield_now().await;
        assert!(!read.is_finished(), "decided on one byte");
        theirs.write_all(&[0x03, 0x01]).await.expect("write");
        assert!(read.await.expect("joined").expect("read"));
    }

    #[tokio::test]
    async fn bytes_read_are_read_again_at_every_split() {
        let stream = [0x16, 0x03, 0x01, 0x02, 0x03];
        for cut in 0..=stream.len() {
            let (head, all) = head_of(&[&stream[..cut], &stream[cut..]]).await;
            assert!(head.is_tls(), "cut at {cut}");
            assert_eq!(all, stream, "cut at {cut}");
        }
        let (head, all) = head_of(&[&[0, 0, 0, 0]]).await;
        assert!(!head.is_tls() && !head.is_empty());
        assert_eq!(all, [0, 0, 0, 0]);
        let (head, all) = head_of(&[]).await;
        assert!(head.is_empty() && all.is_empty());
        let (head, _) = head_of(&[&[0x16]]).await;
        assert!(!head.is_tls(), "a lone 0x16 then the end is not TLS");
    }
}
