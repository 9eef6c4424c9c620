//! windlass's own two-party `VatNetwork`: the byte-level half of every RPC connection.
//!
//! It replaces `capnp_rpc::twoparty` (plus the wrapper that used to watch it) for three reasons,
//! all measured in `BENCHMARKS.md`:
//!
//! - **Writes are batched** ([`outbox`]). capnp-rpc's two-party network writes and flushes each message on
//!   its own: a call and its pipelined `read()` cost two `write` syscalls, their two returns
//!   two more, the `Finish` messages more again. Here outgoing messages go to a queue, and the
//!   writer task takes *everything* queued when it runs — all the messages the RPC system
//!   produced in one turn of the event loop — and writes them with one `write` (large segments
//!   go out directly, without a copy).
//! - **Reads are zero-copy and batched** ([`incoming`]). Incoming bytes are decoded by
//!   [`MessageCodec`](crate::framing::MessageCodec): one `read` takes as many messages as the
//!   socket has, and each message's segments are slices of that buffer, not copies. Its limits
//!   are checked on the header, before memory is reserved.
//! - **Watching costs a few loads per message.** Counters, idle detection, calls in flight and
//!   redaction need each message's kind; it is read straight from the root pointer's bytes
//!   (see [`message_tag`](crate::instrument::message_tag)) instead of through a validated
//!   `message::Reader`.
//!
//! The wire format is the standard stream framing, byte for byte what `capnp_rpc::twoparty`
//! sends and receives (the interop tests talk to pycapnp/C++ through it).
//!
//! Semantics follow capnp-rpc's two-party network where the RPC system relies on them:
//! `shutdown` writes what is queued and then stops the writer; `drive_until_shutdown` resolves
//! once the writer has stopped *and* the RPC system has dropped the connection; a clean end of
//! stream between messages is `Ok(None)`.
//!
//! This module is the glue: [`Network`] is the `VatNetwork` capnp-rpc drives, and its
//! connection hands reads to [`incoming`], writes to [`outbox`] and streaming calls' flow
//! control to [`flow`]. None of those imports this module or one another.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::{Rc, Weak};

use capnp::capability::Promise;
use capnp::message::ReaderOptions;
use capnp::Error;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::twoparty::VatId;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::instrument::{Counted, Watch};

mod flow;
pub use flow::DEFAULT_STREAM_WINDOW;
mod incoming;
mod outbox;
#[cfg(test)]
mod testing;

use incoming::Input;
use outbox::{Outbox, Outgoing};

/// How one connection's network is set up: which side it is, the limits on incoming messages
/// (traversal limit = largest message, nesting limit) and each stream's flow-control window
/// in bytes (see [`flow`]). Servers build it from their `Options`, clients from their
/// `Connector`, the in-process bridge from its own constants.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) side: Side,
    pub(crate) reader_options: ReaderOptions,
    pub(crate) stream_window: usize,
}

impl Config {
    /// `side` with these reader options and the default stream window.
    pub(crate) fn new(side: Side, reader_options: ReaderOptions) -> Self {
        Config {
            side,
            reader_options,
            stream_window: DEFAULT_STREAM_WINDOW,
        }
    }
}

/// The two-party `VatNetwork` of one connection over its read and write halves (batched
/// writes, zero-copy reads, every message shown to `watch`), boxed for
/// [`capnp_rpc::RpcSystem::new`].
pub(crate) fn network<R, W>(reader: R, writer: W, config: Config, watch: Rc<Watch>) -> BoxedNetwork
where
    R: AsyncRead + Unpin + 'static,
    W: AsyncWrite + Unpin + 'static,
{
    Box::new(Network::new(reader, writer, config, watch))
}

/// A boxed two-party network, ready for [`capnp_rpc::RpcSystem::new`].
pub(crate) type BoxedNetwork = Box<dyn capnp_rpc::VatNetwork<VatId>>;

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
    /// A network over one connection's two stream halves, set up by `config`; `watch` sees
    /// every message.
    pub(crate) fn new<W>(reader: R, writer: W, config: Config, watch: Rc<Watch>) -> Self
    where
        W: AsyncWrite + Unpin + 'static,
    {
        let outbox = Rc::new(Outbox::default());
        let writer = Counted::new(writer, watch.counters.clone());
        let inner = Rc::new(Inner {
            input: incoming::input(reader, config.reader_options, &watch),
            outbox: outbox.clone(),
            side: other(config.side),
            watch,
            stream_window: config.stream_window,
        });
        let driver = Promise::from_future(outbox::write_loop(writer, outbox));
        Network {
            weak: Rc::downgrade(&inner),
            connection: Some(Connection { inner }),
            side: config.side,
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
    /// Each stream's flow-control window, in bytes.
    stream_window: usize,
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
            stream_window: DEFAULT_STREAM_WINDOW,
        }
    }
}

impl<R: AsyncRead + Unpin + 'static> Drop for Inner<R> {
    fn drop(&mut self) {
        self.outbox.connection_dropped();
    }
}

/// A handle on the connection, as capnp-rpc holds it.
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
        Box::new(Outgoing::new(
            first_segment_word_size,
            self.inner.outbox.clone(),
            self.inner.watch.clone(),
        ))
    }

    fn receive_incoming_message(
        &mut self,
    ) -> Promise<Option<Box<dyn capnp_rpc::IncomingMessage>>, Error> {
        let inner = &self.inner;
        // Reading pauses while the peer has too many calls unanswered or we have too much
        // queued for it (a peer that does not read): see `crate::flow_limit`. The common case
        // costs two comparisons.
        let gate = if inner.watch.may_read() && inner.outbox.has_room() {
            None
        } else {
            let (watch, outbox) = (inner.watch.clone(), inner.outbox.clone());
            let wait = poll_fn(move |cx| {
                std::task::ready!(outbox.poll_room(cx));
                watch.poll_may_read(cx)
            });
            Some(Box::pin(wait) as std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>)
        };
        incoming::receive(&inner.input, &inner.watch, inner.side, gate)
    }

    fn new_stream(&mut self) -> (Box<dyn capnp_rpc::FlowController>, Promise<(), Error>) {
        flow::new_stream(self.inner.stream_window)
    }

    fn shutdown(&mut self, result: capnp::Result<()>) -> Promise<(), Error> {
        let outbox = self.inner.outbox.clone();
        outbox.close(result);
        Promise::from_future(poll_fn(move |cx| outbox.poll_stopped(cx)))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use capnp_rpc::VatNetwork as _;

    use super::testing::{accept, network};
    use super::*;

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
}
