//! A long-lived client connection: typed bootstrap, graceful close, close on drop, and a
//! `disconnected()` future that says why the peer went away.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use capnp::capability::FromClientHook;
use capnp_rpc::rpc_twoparty_capnp::Side;
use capnp_rpc::twoparty::VatId;
use capnp_rpc::{Disconnector, RpcSystem};
use futures::FutureExt;
use tokio::task::JoinHandle;
use tracing::{debug, warn};

use crate::instrument::{ConnectionStats, End, Watch};

/// An interface ID no schema uses (the top bit set, then a fixed pattern): a heartbeat probe
/// calls it on the bootstrap capability and any answer — `Unimplemented`, normally — proves the
/// peer is alive and reading.
const PROBE_INTERFACE_ID: u64 = 0xfeed_beef_0ddc_0de5;

/// Why a connection ended, as [`Connection::disconnected`] reports it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Disconnect {
    /// The server closed the connection cleanly (e.g. it shut down or idled us out).
    ClosedByPeer,
    /// The connection failed: reset, TLS alert, abort message from the server, heartbeat
    /// unanswered. The error's kind is usually `Disconnected` (retry may help) or `Overloaded`.
    Failed(capnp::Error),
}

impl std::fmt::Display for Disconnect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Disconnect::ClosedByPeer => f.write_str("the server closed the connection"),
            Disconnect::Failed(e) => write!(f, "the connection failed: {e}"),
        }
    }
}

/// An open RPC connection to a server.
///
/// The connection's `RpcSystem` runs as a local task; it lives until [`Connection::close`] or
/// until the value is dropped. Either way, calls still in flight then fail with
/// `Disconnected` and capabilities obtained through the connection stop working.
pub struct Connection {
    bootstrap: capnp::capability::Client,
    /// Both are `Some` until [`Connection::close`] or `Drop` takes them.
    disconnector: Option<Disconnector<VatId>>,
    task: Option<JoinHandle<Result<(), capnp::Error>>>,
    heartbeat: Option<JoinHandle<()>>,
    watch: Rc<Watch>,
    peer: Option<SocketAddr>,
    /// Which of the connector's addresses this is (see `Connector::new_multi`).
    index: usize,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish()
    }
}

impl Connection {
    pub(super) fn start(
        network: crate::transport::BoxedNetwork,
        watch: Rc<Watch>,
        peer: Option<SocketAddr>,
        heartbeat: Option<Duration>,
    ) -> Connection {
        let mut system = RpcSystem::new(network, None);
        let bootstrap: capnp::capability::Client = system.bootstrap(Side::Server);
        let disconnector = system.get_disconnector();
        let heartbeat = heartbeat.map(|interval| {
            let probe = bootstrap.clone();
            let stop = system.get_disconnector();
            tokio::task::spawn_local(heartbeat_loop(probe, stop, watch.clone(), interval))
        });
        let finished = watch.clone();
        let task = tokio::task::spawn_local(async move {
            let result = system.await;
            finished.finished(&result);
            result
        });
        Connection {
            bootstrap,
            disconnector: Some(disconnector),
            task: Some(task),
            heartbeat,
            watch,
            peer,
            index: 0,
        }
    }

    pub(super) fn at_index(mut self, index: usize) -> Connection {
        self.index = index;
        self
    }

    /// The index, in the connector's [`addresses`](super::Connector::addresses), of the
    /// address this connection was made to (0 for a connector of one address).
    pub fn address_index(&self) -> usize {
        self.index
    }

    /// The server's bootstrap capability as the typed client `T`, e.g.
    /// `conn.bootstrap::<calculator::Client>()`. Each call returns a new reference to the same
    /// capability; nothing goes over the wire until it is used.
    pub fn bootstrap<T: FromClientHook>(&self) -> T {
        T::new(self.bootstrap.hook.add_ref())
    }

    /// The server's address; `None` for a unix socket connection, which has none.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Messages, bytes and calls so far.
    pub fn stats(&self) -> ConnectionStats {
        self.watch.counters.snapshot()
    }

    /// Whether the connection has ended (see [`Connection::disconnected`]).
    pub fn is_disconnected(&self) -> bool {
        self.watch.end().is_some()
    }

    /// Resolves when the server side of the connection ends, with the reason. Resolves at once
    /// if it already has.
    ///
    /// # Cancel safety
    /// Cancel safe: dropping the future changes nothing.
    pub async fn disconnected(&self) -> Disconnect {
        match self.watch.ended().await {
            End::Closed => Disconnect::ClosedByPeer,
            End::Failed(e) => Disconnect::Failed(e),
        }
    }

    /// Closes the connection gracefully: tells the RPC system to disconnect and waits until it
    /// has. Calls still in flight fail with `Disconnected`.
    ///
    /// # Errors
    /// The error the connection ended with, if it ended with one before the close.
    pub async fn close(mut self) -> Result<(), capnp::Error> {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        if let Some(disconnector) = self.disconnector.take() {
            if let Err(e) = disconnector.await {
                debug!(error = %e, "disconnect reported an error");
            }
        }
        let Some(task) = self.task.take() else {
            return Ok(());
        };
        match task.await {
            Ok(result) => result,
            Err(e) => {
                warn!(error = %e, "connection task ended abnormally");
                Err(capnp::Error::disconnected(format!(
                    "connection task failed: {e}"
                )))
            }
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if let Some(heartbeat) = self.heartbeat.take() {
            heartbeat.abort();
        }
        // The first poll of the disconnector disconnects the connection state at once: every
        // call in flight fails with `Disconnected` and every capability obtained through the
        // connection becomes broken. The `RpcSystem` task keeps running just long enough to
        // shut the socket down, then ends by itself. (Aborting the task instead would leave
        // calls in flight pending forever.)
        if let Some(disconnector) = self.disconnector.take() {
            let _ = disconnector.now_or_never();
        }
    }
}

/// Probes the peer every `interval`; an unanswered probe disconnects with a reason.
async fn heartbeat_loop(
    probe: capnp::capability::Client,
    stop: Disconnector<VatId>,
    watch: Rc<Watch>,
    interval: Duration,
) {
    loop {
        tokio::select! {
            _ = watch.ended() => return,
            () = tokio::time::sleep(interval) => {}
        }
        let call = probe
            .new_call::<capnp::any_pointer::Owned, capnp::any_pointer::Owned>(
                PROBE_INTERFACE_ID,
                0,
                None,
            )
            .send()
            .promise;
        // Any answer, even an error, shows the peer is alive; only silence is fatal.
        if tokio::time::timeout(interval, call).await.is_err() {
            let reason =
                format!("heartbeat unanswered for {interval:?}: the server is unreachable");
            warn!(%reason, "closing the connection");
            watch.fail(capnp::Error::disconnected(reason));
            let _ = stop.await;
            return;
        }
    }
}
