//! windlass's own two-party `VatNetwork`: the byte-level half of every RPC connection.
//!
//! It replaces `capnp_rpc::twoparty` (plus the wrapper that used to watch it) for three reasons,
//! all measured in `BENCHMARKS.md`:
//!
//! - **Writes are batched.** capnp-rpc's two-party network writes and flushes each message on
//!   its own: a call and its pipelined `read()` cost two `write` syscalls, their two returns
//!   two more, the `Finish` messages more again. Here outgoing messages go to a queue, and the
//!   writer task takes *everything* queued when it runs — all the messages the RPC system
//!   produced in one turn of the event loop — and writes them with one `write` (large segments
//!   go out directly, without a copy).
//! - **Reads are zero-copy and batched.** Incoming bytes are decoded by
//!   [`MessageCodec`](crate::framing::MessageCodec): one `read` takes as many messages as the
//!   socket has, and each message's segments are slices of that buffer, not copies. Its limits
//!   are checked on the header, before memory is reserved.
//! - **Watching costs a few loads per message.** Counters, idle detection, calls in flight and
//!   redaction need each message's kind; it is read straight from the root pointer's bytes
//!   (see [`message_tag`]) instead of through a validated `message::Reader`.
//!
//! The wire format is the standard stream framing, byte for byte what `capnp_rpc::twoparty`
//! sends and receives (the interop tests talk to pycapnp/C++ through it).
//!
//! Semantics follow capnp-rpc's two-party network where the RPC system relies on them:
//! `shutdown` writes what is queued and then stops the writer; `drive_until_shutdown` resolves
//! once the writer has stopped *and* the RPC system has dropped the connection; a clean end of
//! stream between messages is `Ok(None)`.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll, Waker};

use capnp::capability::Promise;
use capnp::message::{Builder, HeapAllocator, ReaderOptions};
use capnp::Error;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::twoparty::VatId;
use futures::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::FramedRead;
use tracing::warn;

use crate::framing::{table, FramingError, Message, MessageCodec};
use crate::instrument::{Counted, Watch};

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

/// The two-party network of one connection, for [`capnp_rpc::RpcSystem::new`].
pub(crate) struct Network<R: AsyncRead + Unpin + 'static> {
    /// Handed out by the first `accept`.
    connection: Option<Connection<R>>,
    /// Handed out by `connect` (the bootstrap of the other side).
    weak: Weak<Inner<R>>,
    side: Side,
    /// The writer task, until `drive_until_shutdown` takes it.
    driver: Option<Promise<(), Error>>,
}

impl<R: AsyncRead + Unpin + 'static> Network<R> {
    /// A network over one connection's two stream halves. `options` bounds incoming messages
    /// (traversal limit = largest message, nesting limit); `watch` sees every message.
    pub(crate) fn new<W>(
        reader: R,
        writer: W,
        side: Side,
        options: ReaderOptions,
        watch: Rc<Watch>,
    ) -> Self
    where
        W: AsyncWrite + Unpin + 'static,
    {
        let outbox = Rc::new(Outbox::default());
        let limits = crate::rpc::read_limits(options);
        let reader = Counted::new(reader, watch.counters.clone());
        let writer = Counted::new(writer, watch.counters.clone());
        let inner = Rc::new(Inner {
            input: Rc::new(RefCell::new(Some(FramedRead::new(
                reader,
                MessageCodec::with_limits(limits),
            )))),
            outbox: outbox.clone(),
            side: other(side),
            watch,
        });
        let driver = Promise::from_future(write_loop(writer, outbox));
        Network {
            weak: Rc::downgrade(&inner),
            connection: Some(Connection { inner }),
            side,
            driver: Some(driver),
        }
    }
}

impl<R: AsyncRead + Unpin + 'static> capnp_rpc::VatNetwork<VatId> for Network<R> {
    fn connect(&mut self, host_id: VatId) -> Option<Box<dyn capnp_rpc::Connection<VatId>>> {
        if host_id == self.side {
            return None;
        }
        // Until the RPC system has dropped the connection, another handle on it; after that a
        // connection that has ended, so that calls on its bootstrap fail `Disconnected`
        // (capnp-rpc's own network panics here).
        let inner = match self.weak.upgrade() {
            Some(inner) => inner,
            None => Rc::new(Inner::ended(self.side)),
        };
        Some(Box::new(Connection { inner }))
    }

    fn accept(&mut self) -> Promise<Box<dyn capnp_rpc::Connection<VatId>>, Error> {
        match self.connection.take() {
            Some(connection) => Promise::ok(Box::new(connection)),
            // Two parties: there is never a second connection to accept.
            None => Promise::from_future(std::future::pending()),
        }
    }

    fn drive_until_shutdown(&mut self) -> Promise<(), Error> {
        self.driver
            .take()
            .unwrap_or_else(|| Promise::err(Error::failed("the network is already driven".into())))
    }
}

/// The other party of a two-party connection.
fn other(side: Side) -> Side {
    match side {
        Side::Client => Side::Server,
        Side::Server => Side::Client,
    }
}

/// The decoding reader of a connection, in a slot a pending read takes it out of.
type Input<R> = Rc<RefCell<Option<FramedRead<Counted<R>, MessageCodec>>>>;

/// The connection, shared by the handles `accept` and `connect` give out.
struct Inner<R: AsyncRead + Unpin + 'static> {
    /// Taken by a pending `receive_incoming_message`, put back when it resolves. Shared with
    /// that read alone: a pending read must not keep the connection alive (the network is done
    /// when the RPC system drops the connection, whatever reads are pending).
    input: Input<R>,
    outbox: Rc<Outbox>,
    /// The other party.
    side: Side,
    watch: Rc<Watch>,
}

impl<R: AsyncRead + Unpin + 'static> Inner<R> {
    /// A connection that has already ended: nothing to read, nothing can be written.
    fn ended(side: Side) -> Self {
        let outbox = Outbox::default();
        outbox.stop(Err(Error::disconnected("the connection has ended".into())));
        Inner {
            input: Rc::new(RefCell::new(None)),
            outbox: Rc::new(outbox),
            side: other(side),
            watch: Watch::new(Default::default(), None),
        }
    }
}

impl<R: AsyncRead + Unpin + 'static> Drop for Inner<R> {
    fn drop(&mut self) {
        self.outbox.connection_dropped();
    }
}

struct Connection<R: AsyncRead + Unpin + 'static> {
    inner: Rc<Inner<R>>,
}

impl<R: AsyncRead + Unpin + 'static> capnp_rpc::Connection<VatId> for Connection<R> {
    fn get_peer_vat_id(&self) -> VatId {
        self.inner.side
    }

    fn new_outgoing_message(
        &mut self,
        first_segment_word_size: u32,
    ) -> Box<dyn capnp_rpc::OutgoingMessage> {
        let words = first_segment_word_size.clamp(1, MAX_FIRST_SEGMENT_WORDS);
        Box::new(Outgoing {
            message: Builder::new(HeapAllocator::new().first_segment_words(words)),
            outbox: self.inner.outbox.clone(),
            watch: self.inner.watch.clone(),
        })
    }

    fn receive_incoming_message(
        &mut self,
    ) -> Promise<Option<Box<dyn capnp_rpc::IncomingMessage>>, Error> {
        let Some(mut input) = self.inner.input.borrow_mut().take() else {
            // Either the connection has ended or (never, with capnp-rpc 0.27) a second read
            // was asked for while one is pending.
            return Promise::err(Error::disconnected(
                "the connection has no input: it has ended".into(),
            ));
        };
        let slot = self.inner.input.clone();
        let watch = self.inner.watch.clone();
        let peer = self.inner.side;
        Promise::from_future(async move {
            let next = input.next().await;
            *slot.borrow_mut() = Some(input);
            match next {
                Some(Ok(message)) => {
                    watch.saw_incoming(&message);
                    Ok(Some(Box::new(Incoming(message)) as Box<_>))
                }
                None => {
                    watch.closed();
                    Ok(None)
                }
                Some(Err(e)) => {
                    let e = crate::rpc::not_capnp_error(&e, peer).unwrap_or_else(|| read_error(e));
                    watch.fail(e.clone());
                    Err(e)
                }
            }
        })
    }

    fn new_stream(&mut self) -> (Box<dyn capnp_rpc::FlowController>, Promise<(), Error>) {
        borrowed_flow_controller(self.inner.side)
    }

    fn shutdown(&mut self, result: capnp::Result<()>) -> Promise<(), Error> {
        let outbox = self.inner.outbox.clone();
        outbox.close(result);
        Promise::from_future(poll_fn(move |cx| outbox.poll_stopped(cx)))
    }
}

/// capnp-rpc's fixed-window flow controller for streaming calls (`-> stream` methods).
///
/// capnp-rpc does not export it, but its two-party network makes one for each stream without
/// touching its streams: so a two-party network over empty streams, never driven, lends us one.
/// The controller sends the messages it is given through *their* `send`, i.e. through our
/// writer. (Written this way rather than re-implemented so that streaming keeps capnp-rpc's
/// tested window logic; if capnp-rpc ever exports it, use it directly.)
fn borrowed_flow_controller(
    side: Side,
) -> (Box<dyn capnp_rpc::FlowController>, Promise<(), Error>) {
    use capnp_rpc::VatNetwork as _;
    use futures::FutureExt as _;
    let mut lender = capnp_rpc::twoparty::VatNetwork::new(
        futures::io::empty(),
        futures::io::sink(),
        side,
        ReaderOptions::new(),
    );
    match lender.accept().now_or_never() {
        Some(Ok(mut connection)) => connection.new_stream(),
        // capnp-rpc's `accept` is ready on its first call; this is not reached.
        _ => {
            let error = Error::failed("cannot create a flow controller for a stream".into());
            (Box::new(Refused(error.clone())), Promise::err(error))
        }
    }
}

/// A flow controller that refuses every message: the fallback should none be available.
struct Refused(Error);

impl capnp_rpc::FlowController for Refused {
    fn send(
        &mut self,
        _message: Box<dyn capnp_rpc::OutgoingMessage>,
        _ack: Promise<(), Error>,
    ) -> Promise<(), Error> {
        Promise::err(self.0.clone())
    }

    fn wait_all_acked(&mut self) -> Promise<(), Error> {
        Promise::err(self.0.clone())
    }
}

/// The error a read failure becomes: what the peer did wrong, in words that name the limit.
fn read_error(e: FramingError) -> Error {
    match e {
        FramingError::Io(io) => Error::from(io),
        FramingError::MessageTooLarge { bytes, max } => {
            warn!(
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

struct Incoming(Message);

impl capnp_rpc::IncomingMessage for Incoming {
    fn get_body(&self) -> capnp::Result<capnp::any_pointer::Reader<'_>> {
        self.0.get_root()
    }
}

struct Outgoing {
    message: Builder<HeapAllocator>,
    outbox: Rc<Outbox>,
    watch: Rc<Watch>,
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
struct Outbox {
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

    /// Queues a message (the caller checked [`Outbox::accepting`]); the promise resolves once it is written (capnp-rpc 0.27 never waits on
    /// it, so it is a lazy check that costs nothing unless polled).
    fn push(self: &Rc<Self>, message: Sent) -> Promise<(), Error> {
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

    fn wrote(&self, messages: usize) {
        self.written.set(self.written.get() + messages as u64);
        self.wake_waiters();
    }

    fn close(&self, result: capnp::Result<()>) {
        let mut closing = self.closing.borrow_mut();
        if closing.is_none() && self.stopped.borrow().is_none() {
            *closing = Some(result);
        }
        drop(closing);
        if let Some(writer) = self.writer.borrow_mut().take() {
            writer.wake();
        }
    }

    fn stop(&self, result: capnp::Result<()>) {
        *self.stopped.borrow_mut() = Some(result);
        self.queue.borrow_mut().clear();
        self.wake_waiters();
    }

    /// `shutdown`'s promise: resolves when the writer has stopped — `Ok` if it wrote everything,
    /// `Disconnected` if it had already failed (capnp-rpc's two-party network does the same).
    fn poll_stopped(&self, cx: &mut Context<'_>) -> Poll<capnp::Result<()>> {
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

    fn connection_dropped(&self) {
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
async fn write_loop<W: AsyncWrite + Unpin>(mut writer: W, outbox: Rc<Outbox>) -> capnp::Result<()> {
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
                if let Err(e) = written.and(writer.flush().await) {
                    break Err(Error::from(e));
                }
                outbox.wrote(batch.len());
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
async fn write_batch<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &[Sent],
    buffer: &mut Vec<u8>,
) -> std::io::Result<()> {
    buffer.clear();
    for message in batch {
        let segments = message.get_segments_for_output();
        table::write(&segments, buffer);
        for segment in segments.iter() {
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use capnp_rpc::VatNetwork as _;
    use futures::FutureExt as _;
    use std::pin::Pin;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream, ReadHalf, WriteHalf};

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

    /// A write half that records the size of every write it is asked to do.
    struct Recording {
        inner: WriteHalf<DuplexStream>,
        writes: Writes,
    }

    impl AsyncWrite for Recording {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
            if let Poll::Ready(Ok(n)) = poll {
                self.writes.borrow_mut().push(n);
            }
            poll
        }

        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }

        fn poll_shutdown(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    type Reading = ReadHalf<DuplexStream>;
    type Writes = Rc<RefCell<Vec<usize>>>;

    /// A network over one end of an in-memory pipe; the other end is returned.
    fn network(options: ReaderOptions) -> (Network<Reading>, DuplexStream, Writes, Rc<Watch>) {
        let (ours, theirs) = tokio::io::duplex(4 << 20);
        let (reader, writer) = tokio::io::split(ours);
        let writes = Rc::new(RefCell::new(Vec::new()));
        let writer = Recording {
            inner: writer,
            writes: writes.clone(),
        };
        let watch = Watch::new(Default::default(), None);
        let network = Network::new(reader, writer, Side::Client, options, watch.clone());
        (network, theirs, writes, watch)
    }

    fn accept(network: &mut Network<Reading>) -> Box<dyn capnp_rpc::Connection<VatId>> {
        match network.accept().now_or_never() {
            Some(Ok(connection)) => connection,
            _ => panic!("the connection is there to accept"),
        }
    }

    /// Sends an RPC `Abort` whose reason is `reason_bytes` long.
    fn send_abort(connection: &mut dyn capnp_rpc::Connection<VatId>, reason_bytes: usize) {
        let mut message = connection.new_outgoing_message(1024);
        let reason = "x".repeat(reason_bytes);
        message
            .get_body()
            .expect("body")
            .init_as::<capnp_rpc::rpc_capnp::message::Builder<'_>>()
            .init_abort()
            .set_reason(reason.as_str());
        let _ = message.send();
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_pending_read_does_not_keep_the_network_running_after_shutdown() {
        let (mut network, _theirs, _, _) = network(ReaderOptions::new());
        let mut connection = accept(&mut network);
        // capnp-rpc always has a read pending; the peer sends nothing.
        let mut pending = connection.receive_incoming_message();
        assert!(futures::poll!(&mut pending).is_pending());
        let driver = network.drive_until_shutdown();
        let shutdown = connection.shutdown(Ok(()));
        let closing = async move {
            shutdown.await.expect("shut down cleanly");
            drop(connection);
        };
        let done = tokio::time::timeout(Duration::from_secs(10), async {
            futures::join!(driver, closing).0
        });
        done.await
            .expect("the network finished although a read is pending")
            .expect("cleanly");
        drop(pending);
    }

    async fn receive(
        connection: &mut dyn capnp_rpc::Connection<VatId>,
    ) -> capnp::Result<Option<Box<dyn capnp_rpc::IncomingMessage>>> {
        connection.receive_incoming_message().await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn reads_messages_then_a_clean_end() {
        let (mut network, mut theirs, _, watch) = network(ReaderOptions::new());
        let mut connection = accept(&mut network);
        for reason in ["one", "two"] {
            let bytes = crate::rpc::abort_message(reason, capnp::ErrorKind::Failed);
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
        assert!(matches!(
            watch.end(),
            Some(crate::instrument::End::Failed(_))
        ));
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stream_cut_inside_a_message_is_a_premature_end() {
        let (mut network, mut theirs, _, _) = network(ReaderOptions::new());
        let mut connection = accept(&mut network);
        let bytes = crate::rpc::abort_message("cut short", capnp::ErrorKind::Failed);
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
        assert!(matches!(
            watch.end(),
            Some(crate::instrument::End::Failed(_))
        ));
    }
}
