//! Test helpers shared by the transport's unit tests: a [`Network`] over one end of an
//! in-memory pipe, with a writer that records every write, and ways to feed it messages.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use capnp::message::ReaderOptions;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::twoparty::VatId;
use capnp_rpc::VatNetwork as _;
use futures::FutureExt as _;
use tokio::io::{AsyncWrite, DuplexStream, ReadHalf, WriteHalf};

use super::Network;
use crate::instrument::Watch;

/// A write half that records the size of every write it is asked to do.
pub(super) struct Recording {
    inner: WriteHalf<DuplexStream>,
    writes: Writes,
}

impl AsyncWrite for Recording {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, buf))?;
        this.writes.borrow_mut().push(written);
        Poll::Ready(Ok(written))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

pub(super) type Reading = ReadHalf<DuplexStream>;
pub(super) type Writes = Rc<RefCell<Vec<usize>>>;

/// A network over one end of an in-memory pipe; the other end is returned.
pub(super) fn network(
    options: ReaderOptions,
) -> (Network<Reading>, DuplexStream, Writes, Rc<Watch>) {
    let (ours, theirs) = tokio::io::duplex(4 << 20);
    let (reader, writer) = tokio::io::split(ours);
    let writes = Rc::new(RefCell::new(Vec::new()));
    let writer = Recording {
        inner: writer,
        writes: writes.clone(),
    };
    let watch = Watch::new(Default::default(), None);
    let config = super::Config::new(Side::Client, options);
    let network = Network::new(reader, writer, config, watch.clone());
    (network, theirs, writes, watch)
}

pub(super) fn accept(network: &mut Network<Reading>) -> Box<dyn capnp_rpc::Connection<VatId>> {
    match network.accept().now_or_never() {
        Some(Ok(connection)) => connection,
        _ => panic!("the connection is there to accept"),
    }
}

/// Sends an RPC `Abort` whose reason is `reason_bytes` long.
pub(super) fn send_abort(connection: &mut dyn capnp_rpc::Connection<VatId>, reason_bytes: usize) {
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

/// A framed RPC `Abort` carrying `reason`, as a peer would send it. Built here rather than with
/// `crate::rpc::abort_message` so that the transport does not depend on `rpc`, which wraps it.
pub(super) fn abort_bytes(reason: &str) -> Vec<u8> {
    let mut builder = capnp::message::Builder::new_default();
    builder
        .init_root::<capnp_rpc::rpc_capnp::message::Builder<'_>>()
        .init_abort()
        .set_reason(reason);
    capnp::serialize::write_message_to_words(&builder)
}

pub(super) async fn receive(
    connection: &mut dyn capnp_rpc::Connection<VatId>,
) -> capnp::Result<Option<Box<dyn capnp_rpc::IncomingMessage>>> {
    connection.receive_incoming_message().await
}
