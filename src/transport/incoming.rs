//! Reading: incoming bytes are decoded by [`MessageCodec`], so one `read` takes as many
//! messages as the socket has and each message's segments are slices of that buffer, not
//! copies; its limits are checked on the segment table, before memory is reserved.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use capnp::capability::Promise;
use capnp::message::ReaderOptions;
use capnp::Error;
use futures::StreamExt;
use tokio::io::AsyncRead;
use tokio_util::codec::FramedRead;
use tracing::debug;

use capnp_rpc::rpc_twoparty_capnp::Side;

use crate::framing::{ForeignProtocol, FramingError, Limits, Message, MessageCodec};
use crate::instrument::{Counted, Watch};

/// The decoding reader of a connection, in a slot a pending read takes it out of.
pub(super) type Input<R> = Rc<RefCell<Option<FramedRead<Counted<R>, MessageCodec>>>>;

/// The input of a connection reading `reader`, counted into `watch`'s counters. `options` bounds
/// incoming messages: the traversal limit is also the largest message accepted, in bytes, so a
/// message the RPC system would refuse anyway is refused before its body is read.
pub(super) fn input<R: AsyncRead + Unpin>(
    reader: R,
    options: ReaderOptions,
    watch: &Watch,
) -> Input<R> {
    let limits = read_limits(options);
    let reader = Counted::new(reader, watch.counters.clone());
    Rc::new(RefCell::new(Some(FramedRead::new(
        reader,
        MessageCodec::with_limits(limits),
    ))))
}

/// The next message from `input` (`Ok(None)` at a clean end of stream), shown to `watch`.
///
/// The read takes the decoder out of its slot and puts it back when it resolves, so the pending
/// read holds the decoder but not the connection: the connection can end while a read waits.
///
/// `gate`, when given, is awaited before reading: the flow limit or the outbox bound has
/// paused reading until answers go out (see [`crate::flow_limit`]).
pub(super) fn receive<R: AsyncRead + Unpin + 'static>(
    input: &Input<R>,
    watch: &Rc<Watch>,
    peer: Side,
    gate: Option<Pin<Box<dyn Future<Output = ()>>>>,
) -> Promise<Option<Box<dyn capnp_rpc::IncomingMessage>>, Error> {
    let Some(mut reader) = input.borrow_mut().take() else {
        // Either the connection has ended or (never, with capnp-rpc 0.27) a second read
        // was asked for while one is pending.
        return Promise::err(Error::disconnected(
            "the connection has no input: it has ended".into(),
        ));
    };
    let slot = input.clone();
    let watch = watch.clone();
    Promise::from_future(async move {
        if let Some(gate) = gate {
            tracing::debug!("flow limit reached; reading paused until answers go out");
            gate.await;
        }
        let next = match watch.questions.limits().read_timeout {
            None => reader.next().await,
            Some(limit) => next_within(&mut reader, limit).await,
        };
        *slot.borrow_mut() = Some(reader);
        match next {
            Some(Ok(message)) => {
                if let Err(e) = watch.saw_incoming(&message) {
                    watch.fail(e.clone());
                    return Err(e);
                }
                Ok(Some(Box::new(Incoming(message)) as Box<_>))
            }
            None => {
                watch.closed();
                Ok(None)
            }
            Some(Err(e)) => {
                let e = not_capnp_error(&e, peer).unwrap_or_else(|| read_error(e));
                watch.fail(e.clone());
                Err(e)
            }
        }
    })
}

/// The next message, failing when one has been arriving for longer than `limit`: the clock
/// starts when the first byte of a message is buffered, so a connection may stay silent between
/// messages as long as it likes (that is the idle timeout's business), but a peer cannot hold a
/// partial message — up to the size limit of memory — for longer than `limit`.
async fn next_within<R: AsyncRead + Unpin>(
    reader: &mut FramedRead<Counted<R>, MessageCodec>,
    limit: Duration,
) -> Option<Result<Message, FramingError>> {
    let mut deadline: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(next) = reader.poll_next_unpin(cx) {
            return Poll::Ready(next);
        }
        if reader.read_buffer().is_empty() {
            deadline = None;
            return Poll::Pending;
        }
        let sleep = deadline.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        if sleep.as_mut().poll(cx).is_ready() {
            let error = std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("a message took over {limit:?} to arrive (the read timeout); closing"),
            );
            return Poll::Ready(Some(Err(FramingError::Io(error))));
        }
        Poll::Pending
    })
    .await
}

/// The error a read failure becomes: what the peer did wrong, in words that name the limit.
fn read_error(e: FramingError) -> Error {
    match e {
        FramingError::Io(io) => Error::from(io),
        FramingError::MessageTooLarge { bytes, max } => {
            // The connection's end is logged (at a bounded rate) by the server with this error.
            debug!(
                limit_bytes = max,
                bytes, "peer sent a message over the size limit; closing"
            );
            Error::overloaded(format!(
                "message of {bytes} bytes is too large (this peer accepts at most {max} bytes per message)"
            ))
        }
        FramingError::Truncated { .. } => Error {
            kind: capnp::ErrorKind::PrematureEndOfFile,
            extra: e.to_string(),
        },
        other => Error::failed(format!("bad message from the peer: {other}")),
    }
}

/// A received message, as capnp-rpc sees it.
struct Incoming(Message);

impl capnp_rpc::IncomingMessage for Incoming {
    fn get_body(&self) -> capnp::Result<capnp::any_pointer::Reader<'_>> {
        self.0.get_root()
    }
}

/// How many times over the words of one incoming message may be read: the traversal limit each
/// message is read with is this many times its largest allowed size.
///
/// capnp counts every word it follows a pointer to, each time it is followed, and a call is read
/// more than once: capnp-rpc reads the `Call` and its payload, then the method reads its
/// parameters again. With the traversal limit equal to the size limit (as it was), a call of 240
/// bytes under a 296-byte limit failed with capnp's bare `Read limit exceeded` instead of being
/// accepted. The size check on the header still bounds each message; this bounds what a message
/// of pointers aimed at the same words (an amplification attack) can cost to read: at most this
/// many times its size. `tests/runtime.rs` sends every call size up to a small limit and checks
/// each is either served or refused as too large.
pub(crate) const TRAVERSALS_PER_MESSAGE: usize = 4;

/// The limits incoming messages are decoded with, from the `ReaderOptions` a server or client
/// was configured with: the traversal limit is the largest message (in words), checked on the
/// header before anything is read; each message is then read with a traversal budget of
/// [`TRAVERSALS_PER_MESSAGE`] times that, and the configured nesting limit.
pub(crate) fn read_limits(options: ReaderOptions) -> Limits {
    let max_bytes = options
        .traversal_limit_in_words
        .map_or(usize::MAX, |words| words.saturating_mul(8));
    let mut reading = options;
    reading.traversal_limit_in_words = options
        .traversal_limit_in_words
        .map(|words| words.saturating_mul(TRAVERSALS_PER_MESSAGE));
    Limits::new()
        .with_reader_options(reading)
        .with_max_message_bytes(max_bytes)
}

/// The error for a peer that turned out to speak another protocol ([`FramingError::NotCapnp`]),
/// worded for the side that reads it: a client hears that the address is not a Cap'n Proto
/// server at all, which no retry will change. `None` for every other framing error.
pub(crate) fn not_capnp_error(e: &FramingError, peer: Side) -> Option<capnp::Error> {
    let FramingError::NotCapnp { protocol } = e else {
        return None;
    };
    let like = match protocol {
        ForeignProtocol::Text(_) => format!("with {protocol}"),
        ForeignProtocol::NumberedGreeting => format!("with {protocol}"),
        _ => format!("like {protocol}"),
    };
    let reason = match peer {
        Side::Server => format!(
            "this is not a Cap'n Proto server (it answered {like}); check the address and port"
        ),
        Side::Client => {
            format!("the client does not speak Cap'n Proto (it sent what looks {like})")
        }
    };
    Some(capnp::Error::failed(reason))
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;
    use crate::instrument::End;
    use crate::transport::testing::{abort_bytes, accept, network, receive};

    #[test]
    fn a_foreign_server_is_named_and_other_errors_are_left_alone() {
        let http = FramingError::NotCapnp {
            protocol: ForeignProtocol::Http,
        };
        let e = not_capnp_error(&http, Side::Server).expect("mapped");
        assert_eq!(e.kind, capnp::ErrorKind::Failed);
        assert!(
            e.extra
                .starts_with("this is not a Cap'n Proto server (it answered like HTTP)"),
            "{e}"
        );
        let e = not_capnp_error(&http, Side::Client).expect("mapped");
        assert!(e.extra.contains("client does not speak Cap'n Proto"), "{e}");
        let other = FramingError::TooManySegments {
            count: 600,
            max: 511,
        };
        assert!(not_capnp_error(&other, Side::Server).is_none());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reads_messages_then_a_clean_end() {
        let (mut network, mut theirs, _, watch) = network(ReaderOptions::new());
        let mut connection = accept(&mut network);
        for reason in ["one", "two"] {
            let bytes = abort_bytes(reason);
            theirs.write_all(&bytes).await.expect("write");
        }
        theirs.shutdown().await.expect("shutdown");
        for _ in 0..2 {
            let message = receive(connection.as_mut()).await.expect("read");
            assert!(message.expect("a message").get_body().is_ok());
        }
        assert!(receive(connection.as_mut()).await.expect("clean").is_none());
        assert_eq!(watch.counters.snapshot().messages_in, 2);
        // The first Abort ended the connection, as far as the watch is concerned.
        assert!(matches!(watch.end(), Some(End::Failed(_))));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stream_cut_inside_a_message_is_a_premature_end() {
        let (mut network, mut theirs, _, _) = network(ReaderOptions::new());
        let mut connection = accept(&mut network);
        let bytes = abort_bytes("cut short");
        theirs
            .write_all(&bytes[..bytes.len() - 8])
            .await
            .expect("write");
        theirs.shutdown().await.expect("shutdown");
        let error = receive(connection.as_mut()).await.err().expect("an error");
        assert_eq!(error.kind, capnp::ErrorKind::PrematureEndOfFile, "{error}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_message_over_the_limit_is_overloaded_and_names_the_limit() {
        let mut options = ReaderOptions::new();
        options.traversal_limit_in_words(Some(128));
        let (mut network, mut theirs, _, watch) = network(options);
        let mut connection = accept(&mut network);
        // Only the header is needed: the limit is checked before the body is waited for.
        let header = [0u32.to_le_bytes(), 1000u32.to_le_bytes()].concat();
        theirs.write_all(&header).await.expect("write");
        let error = receive(connection.as_mut()).await.err().expect("an error");
        assert_eq!(error.kind, capnp::ErrorKind::Overloaded, "{error}");
        assert!(error.extra.contains("at most 1024 bytes"), "{error}");
        assert!(matches!(watch.end(), Some(End::Failed(_))));
    }
}
