//! Glue between byte streams and capnp-rpc: one place that turns a pair of stream halves into
//! the `VatNetwork` an `RpcSystem` runs on, for servers and clients alike.

use capnp::message::ReaderOptions;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::twoparty::{self, VatId};
use futures::io::{BufReader, BufWriter};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::compat::{TokioAsyncReadCompatExt, TokioAsyncWriteCompatExt};

/// A boxed two-party network, ready for [`capnp_rpc::RpcSystem::new`].
pub(crate) type Network = Box<dyn capnp_rpc::VatNetwork<VatId>>;

/// Wraps the read and write halves of one connection in buffered futures-io adapters and a
/// two-party `VatNetwork`.
///
/// Buffering matters twice over: capnp-rpc reads a message as a header then its segments (two
/// small reads without a buffer), and writes each message in pieces that the `BufWriter` turns
/// into one `write` syscall per flush.
pub(crate) fn network<R, W>(reader: R, writer: W, side: Side, options: ReaderOptions) -> Network
where
    R: AsyncRead + Unpin + 'static,
    W: AsyncWrite + Unpin + 'static,
{
    Box::new(twoparty::VatNetwork::new(
        BufReader::new(reader.compat()),
        BufWriter::new(writer.compat_write()),
        side,
        options,
    ))
}
