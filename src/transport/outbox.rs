//! Writing: outgoing messages are queued in an [`Outbox`], and the writer task
//! ([`write_loop`]) takes *everything* queued when it runs — all the messages the RPC system
//! produced in one turn of the event loop — and writes them in the standard stream framing with
//! as few `write`s as it can: tables and small segments gathered into one buffer, large
//! segments straight from the message, without a copy.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use capnp::capability::Promise;
use capnp::message::{Builder, HeapAllocator};
use capnp::Error;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::framing::table;
use crate::instrument::Watch;

/// An outgoing message once sent: capnp-rpc keeps a handle on it (to serve pipelined calls on a
/// `Return` it sent), the writer another.
type Sent = Rc<Builder<HeapAllocator>>;

/// The largest first segment an outgoing RPC message starts with, in 8-byte words.
///
/// capnp-rpc 0.27 asks for 1 024 words (8 KiB, zeroed) for every call it sends, whatever its
/// size; a Calculator call is ≈ 20 words. Zeroing those 8 KiB was 11.5 % of all instructions of
/// a sequential-call benchmark (callgrind, BENCHMARKS.md). A larger message simply grows a
/// second segment, as any Cap'n Proto builder does, so nothing is lost but a little time on
/// calls over 1 KiB.
const MAX_FIRST_SEGMENT_WORDS: u32 = 128;

/// Segments at least this large are written straight from the message; smaller ones are copied
/// behind their segment table into the batch buffer, so a batch of small messages is one write.
const DIRECT_SEGMENT_BYTES: usize = 16 * 1024;

/// The batch buffer is written out when it reaches this size, so a long queue does not build
/// one huge copy before anything is sent.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// Messages queued that are written at once, without waiting for the rest of the turn.
const STREAM_BATCH_MESSAGES: usize = 16;

/// Bytes queued for the peer beyond which the connection stops reading its input, so that a
/// peer that sends calls but never reads their answers is held back by TCP instead of growing
/// the queue without bound. Several batches' worth ([`MAX_BATCH_BYTES`]): a peer that reads
/// normally never comes near it.
pub(crate) const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// An RPC message being built; `send` queues it in the [`Outbox`].
pub(super) struct Outgoing {
    message: Builder<HeapAllocator>,
    outbox: Rc<Outbox>,
    watch: Rc<Watch>,
}

impl Outgoing {
    /// A message whose first segment is `first_segment_word_size` words, capped at
    /// [`MAX_FIRST_SEGMENT_WORDS`], to be queued in `outbox` and shown to `watch` when sent.
    pub(super) fn new(first_segment_word_size: u32, outbox: Rc<Outbox>, watch: Rc<Watch>) -> Self {
        let words = first_segment_word_size.clamp(1, MAX_FIRST_SEGMENT_WORDS);
        Outgoing {
            message: Builder::new(HeapAllocator::new().first_segment_words(words)),
            outbox,
            watch,
        }
    }
}

impl capnp_rpc::OutgoingMessage for Outgoing {
    fn get_body(&mut self) -> capnp::Result<capnp::any_pointer::Builder<'_>> {
        self.message.get_root()
    }

    fn get_body_as_reader(&self) -> capnp::Result<capnp::any_pointer::Reader<'_>> {
        self.message.get_root_as_reader()
    }

    fn send(self: Box<Self>) -> (Promise<(), Error>, Sent) {
        let Outgoing {
            mut message,
            outbox,
            watch,
        } = *self;
        if !outbox.accepting() {
            let refused = Error::disconnected("the connection is shutting down; not sent".into());
            return (Promise::err(refused), Rc::new(message));
        }
        watch.sending(&mut message);
        let message = Rc::new(message);
        let written = outbox.push(message.clone());
        (written, message)
    }

    fn take(self: Box<Self>) -> Builder<HeapAllocator> {
        self.message
    }

    fn size_in_words(&self) -> usize {
        self.message.size_in_words()
    }
}

/// What the connection, its outgoing messages and the writer task share.
#[derive(Default)]
pub(super) struct Outbox {
    /// Messages sent and not yet taken by the writer, in order.
    queue: RefCell<Vec<Sent>>,
    /// Messages ever queued / ever written: a message's sequence number tells when it is out.
    queued: Cell<u64>,
    written: Cell<u64>,
    /// Set by `shutdown`: write what is queued, then stop with this result.
    closing: RefCell<Option<capnp::Result<()>>>,
    /// Set when the writer has stopped: `Ok` after a shutdown, the error if writing failed.
    stopped: RefCell<Option<capnp::Result<()>>>,
    /// The writer task, while it waits for messages.
    writer: RefCell<Option<Waker>>,
    /// Tasks waiting for messages to be written or the writer to stop.
    waiters: RefCell<Vec<Waker>>,
    connection_gone: Cell<bool>,
    /// Bytes queued and not yet written (see [`MAX_QUEUED_BYTES`]).
    pending_bytes: Cell<usize>,
    /// The connection's read, paused until the queue shrinks.
    reader: RefCell<Option<Waker>>,
}

/// What the writer task is to do next.
enum Next {
    /// Write the batch it was given.
    Write,
    /// Everything queued is written: stop, with this result.
    Stop(capnp::Result<()>),
}

impl Outbox {
    /// Whether messages are still taken: not once `shutdown` was called or the writer stopped.
    fn accepting(&self) -> bool {
        self.closing.borrow().is_none() && self.stopped.borrow().is_none()
    }

    /// Queues a message (the caller checked [`Outbox::accepting`]); the promise resolves once it
    /// is written (capnp-rpc 0.27 never waits on it, so it is a lazy check that costs nothing
    /// unless polled).
    fn push(self: &Rc<Self>, message: Sent) -> Promise<(), Error> {
        self.pending_bytes
            .set(self.pending_bytes.get() + message.size_in_words() * 8);
        self.queue.borrow_mut().push(message);
        let seq = self.queued.get() + 1;
        self.queued.set(seq);
        if let Some(writer) = self.writer.borrow_mut().take() {
            writer.wake();
        }
        let outbox = self.clone();
        Promise::from_future(poll_fn(move |cx| {
            if outbox.written.get() >= seq {
                return Poll::Ready(Ok(()));
            }
            if let Some(stopped) = &*outbox.stopped.borrow() {
                let why = match stopped {
                    Ok(()) => "the connection was shut down".to_string(),
                    Err(e) => e.to_string(),
                };
                return Poll::Ready(Err(Error::disconnected(format!(
                    "message not written: {why}"
                ))));
            }
            outbox.waiters.borrow_mut().push(cx.waker().clone());
            Poll::Pending
        }))
    }

    /// The writer task's wait: moves everything queued into `batch`, or says to stop.
    fn poll_next(&self, cx: &mut Context<'_>, batch: &mut Vec<Sent>) -> Poll<Next> {
        {
            let mut queue = self.queue.borrow_mut();
            if !queue.is_empty() {
                std::mem::swap(&mut *queue, batch);
                return Poll::Ready(Next::Write);
            }
        }
        if let Some(result) = self.closing.borrow_mut().take() {
            return Poll::Ready(Next::Stop(result));
        }
        *self.writer.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Nothing queued and no shutdown asked for.
    fn is_idle(&self) -> bool {
        self.queue.borrow().is_empty() && self.closing.borrow().is_none()
    }

    /// The writer task's wait for something to do.
    fn poll_work(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.is_idle() {
            *self.writer.borrow_mut() = Some(cx.waker().clone());
            return Poll::Pending;
        }
        Poll::Ready(())
    }

    /// Ready once enough messages are queued to write them without waiting for the turn to end.
    fn poll_enough(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.queue.borrow().len() >= STREAM_BATCH_MESSAGES || self.closing.borrow().is_some() {
            return Poll::Ready(());
        }
        *self.writer.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    fn wrote(&self, messages: usize, bytes: usize) {
        self.written.set(self.written.get() + messages as u64);
        self.pending_bytes
            .set(self.pending_bytes.get().saturating_sub(bytes));
        if self.has_room() {
            self.wake_reader();
        }
        self.wake_waiters();
    }

    /// Whether less than [`MAX_QUEUED_BYTES`] waits to be written (or the writer has stopped:
    /// then reading must go on, to see the end).
    pub(super) fn has_room(&self) -> bool {
        self.pending_bytes.get() < MAX_QUEUED_BYTES
    }

    /// A paused read's wait for [`Outbox::has_room`].
    pub(super) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.has_room() {
            return Poll::Ready(());
        }
        *self.reader.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    fn wake_reader(&self) {
        if let Some(reader) = self.reader.borrow_mut().take() {
            reader.wake();
        }
    }

    pub(super) fn close(&self, result: capnp::Result<()>) {
        let mut closing = self.closing.borrow_mut();
        if closing.is_none() && self.stopped.borrow().is_none() {
            *closing = Some(result);
        }
        drop(closing);
        if let Some(writer) = self.writer.borrow_mut().take() {
            writer.wake();
        }
    }

    pub(super) fn stop(&self, result: capnp::Result<()>) {
        *self.stopped.borrow_mut() = Some(result);
        self.queue.borrow_mut().clear();
        self.pending_bytes.set(0);
        self.wake_reader();
        self.wake_waiters();
    }

    /// `shutdown`'s promise: resolves when the writer has stopped — `Ok` if it wrote everything,
    /// `Disconnected` if it had already failed (capnp-rpc's two-party network does the same).
    pub(super) fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<capnp::Result<()>> {
        match &*self.stopped.borrow() {
            Some(Ok(())) => return Poll::Ready(Ok(())),
            Some(Err(e)) => {
                return Poll::Ready(Err(Error::disconnected(format!(
                    "the connection's writer had stopped: {e}"
                ))))
            }
            None => {}
        }
        self.waiters.borrow_mut().push(cx.waker().clone());
        Poll::Pending
    }

    pub(super) fn connection_dropped(&self) {
        self.connection_gone.set(true);
        if let Some(writer) = self.writer.borrow_mut().take() {
            writer.wake();
        }
    }

    fn poll_connection_gone(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.connection_gone.get() {
            return Poll::Ready(());
        }
        *self.writer.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }

    fn wake_waiters(&self) {
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters {
            waker.wake();
        }
    }
}

/// The writer task (`drive_until_shutdown`): writes batches until shut down or failed, then
/// waits for the RPC system to let go of the connection.
pub(super) async fn write_loop<W: AsyncWrite + Unpin>(
    mut writer: W,
    outbox: Rc<Outbox>,
) -> capnp::Result<()> {
    let mut batch = Vec::new();
    let mut buffer = Vec::with_capacity(4096);
    let result = loop {
        if outbox.is_idle() {
            poll_fn(|cx| outbox.poll_work(cx)).await;
            // Something was queued: let every other ready task of this thread run first (the
            // caller's next call, the return of a pipelined call, a release), so that one write
            // takes all of it. tokio's yield goes back to the scheduler — a yield inside the RPC
            // system's own task set would not let the caller's task run. Measured (strace,
            // 2 000 seq calls, client + server): 2 `sendto` and 4 `epoll_wait` per call. A
            // self-wake instead (back of the local queue, no driver poll) was tried: 3 `sendto`
            // per call and the same `epoll_wait`s, so the driver poll costs nothing extra.
            // A long burst (pipelined calls) is not held back for the whole turn, though:
            // once `STREAM_BATCH_MESSAGES` are queued they go out, so the peer can start on them
            // while this side works through the rest.
            let enough = poll_fn(|cx| outbox.poll_enough(cx));
            futures::future::select(
                std::pin::pin!(tokio::task::yield_now()),
                std::pin::pin!(enough),
            )
            .await;
        }
        match poll_fn(|cx| outbox.poll_next(cx, &mut batch)).await {
            Next::Write => {
                let written = write_batch(&mut writer, &batch, &mut buffer).await;
                let bytes = match written {
                    Ok(bytes) => bytes,
                    Err(e) => break Err(Error::from(e)),
                };
                if let Err(e) = writer.flush().await {
                    break Err(Error::from(e));
                }
                outbox.wrote(batch.len(), bytes);
                batch.clear();
            }
            Next::Stop(result) => break result,
        }
    };
    outbox.stop(result.clone());
    // As in capnp-rpc's two-party network: the RPC system drops the connection once the
    // shutdown promise has resolved, and only then is the network done.
    poll_fn(|cx| outbox.poll_connection_gone(cx)).await;
    result
}

/// Writes a batch of messages in the standard stream framing: tables and small segments are
/// gathered into `buffer` and written together; large segments are written from the message.
/// Returns the segment bytes written (as [`Outbox::push`] counted them).
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &[Sent],
    buffer: &mut Vec<u8>,
) -> std::io::Result<usize> {
    buffer.clear();
    let mut bytes = 0;
    for message in batch {
        let segments = message.get_segments_for_output();
        table::write(&segments, buffer);
        for segment in segments.iter() {
            bytes += segment.len();
            if segment.len() >= DIRECT_SEGMENT_BYTES {
                writer.write_all(buffer).await?;
                buffer.clear();
                writer.write_all(segment).await?;
            } else {
                buffer.extend_from_slice(segment);
            }
        }
        if buffer.len() >= MAX_BATCH_BYTES {
            writer.write_all(buffer).await?;
            buffer.clear();
        }
    }
    if !buffer.is_empty() {
        writer.write_all(buffer).await?;
    }
    // A one-off huge batch should not pin its memory for the connection's lifetime.
    if buffer.capacity() > MAX_BATCH_BYTES * 2 {
        *buffer = Vec::with_capacity(4096);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use capnp::message::ReaderOptions;
    use capnp_rpc::VatNetwork as _;
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::transport::testing::{accept, network, send_abort};

    #[test]
    fn tables_match_capnp_framing() {
        for count in 1..6usize {
            let segments: Vec<Vec<u8>> = (0..count).map(|i| vec![i as u8; 8 * (i + 1)]).collect();
            let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
            let mut ours = Vec::new();
            table::write(&slices, &mut ours);
            for s in &slices {
                ours.extend_from_slice(s);
            }
            let theirs = capnp::serialize::write_message_segments_to_words(&slices.as_slice());
            assert_eq!(ours, theirs, "{count} segments");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn messages_sent_in_one_turn_go_out_in_one_write_and_in_order() {
        let (mut network, mut theirs, writes, watch) = network(ReaderOptions::new());
        let mut connection = accept(&mut network);
        let sizes = [10, 20, 30, 100_000, 40, 50];
        for size in sizes {
            send_abort(connection.as_mut(), size);
        }
        let driver = network.drive_until_shutdown();
        let shutdown = connection.shutdown(Ok(()));
        // Refused once shutting down, and not written.
        let late = connection.new_outgoing_message(8).send().0;
        assert!(late.await.is_err());
        let closing = async move {
            shutdown.await.expect("shut down cleanly");
            drop(connection);
        };
        let (driven, ()) = futures::join!(driver, closing);
        driven.expect("the writer finished cleanly");
        drop(network);

        // Three small messages, then the 100 kB one's table and first segment, in one write; its
        // large segment straight from the message; the last two small ones together.
        let writes = writes.borrow().clone();
        assert_eq!(writes.len(), 3, "{writes:?}");
        assert!(writes[1] >= 100_000, "{writes:?}");
        assert_eq!(watch.counters.snapshot().messages_out, 6);

        let mut bytes = Vec::new();
        theirs.read_to_end(&mut bytes).await.expect("read");
        assert_eq!(bytes.len(), writes.iter().sum::<usize>());
        let mut rest = &bytes[..];
        for size in sizes {
            let message = capnp::serialize::read_message(&mut rest, ReaderOptions::new())
                .expect("a whole message");
            let root: capnp_rpc::rpc_capnp::message::Reader<'_> = message.get_root().expect("root");
            let capnp_rpc::rpc_capnp::message::Abort(abort) = root.which().expect("known") else {
                panic!("not an abort");
            };
            let reason = abort.expect("abort").get_reason().expect("reason");
            assert_eq!(reason.len(), size);
        }
        assert!(rest.is_empty(), "{} bytes left over", rest.len());
    }
}
