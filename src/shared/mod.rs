//! Capabilities that cross threads: [`Shared<T>`].
//!
//! capnp-rpc is `!Send`: every capability is an `Rc` that lives on one thread, inside one
//! `LocalSet`. A server with several workers therefore cannot simply hand a capability created
//! on worker 0 (a chat room, a pub/sub topic, a watcher registry) to a connection on worker 1,
//! and a multi-threaded tokio application cannot hold a capability in a `tokio::spawn`ed task.
//!
//! A [`Shared<T>`] is a `Send + Sync + Clone` handle to a capability `T` that stays on the thread
//! that created it (its *owner*). Other threads reach it in one of two ways:
//!
//! - [`Shared::call`]: send a closure to the owner thread, run it there on the capability, and get
//!   its (sendable) result back. Works from any thread or runtime, `LocalSet` or not.
//! - [`Shared::client`]: on a thread that runs a `LocalSet` (another server worker, say), get a
//!   local `T` whose calls reach the owner over an in-process Cap'n Proto connection — windlass's
//!   own transport over an in-memory pipe, no sockets. Because it *is* the protocol, pipelining,
//!   callbacks and capabilities passed in either direction keep working. Each pair of threads
//!   shares one such bridge, made on first use and reused.
//!
//! The capability is released on its owner thread when every `Shared` handle and every proxy
//! made by `client()` is gone. When the owner thread (or its `LocalSet`) ends, calls fail with
//! `Disconnected`; they never hang.
//!
//! ```no_run
//! # fn demo() -> Result<(), windlass::Error> {
//! use windlass_calculator::{self as calculator, Calculator};
//! use windlass::server::{ConnectionInfo, Options, Server};
//! use windlass::{HomeThread, Shared};
//!
//! // A thread that owns the state every connection shares, whichever worker serves it.
//! let home = HomeThread::spawn("calc-home")?;
//! let calc: Shared<Calculator> = home.share(|| calculator::new_client())?;
//!
//! // Every connection, on every worker, gets a working client for the one shared capability.
//! let shared = calc.clone();
//! let server = Server::bind("127.0.0.1:0", Options::new(), move |_: &ConnectionInfo| {
//!     shared.client().client
//! })?;
//!
//! // From a multi-threaded runtime: the closure runs on the owner thread.
//! let runtime = tokio::runtime::Runtime::new().expect("runtime");
//! let value = runtime.block_on(calc.call(|calc: Calculator| async move {
//!     let expr = calculator::parse("6 * 7").expect("valid");
//!     calculator::evaluate(&calc, &expr).await
//! }))?;
//! assert_eq!(value?, 42.0);
//! server.shutdown()?;
//! # Ok(())
//! # }
//! ```

mod bridge;
mod home;

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use capnp::capability::FromClientHook;

pub use home::HomeThread;
pub(crate) use home::{spawn_detached, Keep, StopGuard};

use crate::error::Error;
use home::{Entry, Home, Owner};

/// A capability of type `T` (a generated `foo::Client`, or `capnp::capability::Client`) that can
/// be sent to, shared with and used from any thread; see the [module docs](self).
///
/// `Shared<T>` is `Send + Sync + Clone + 'static` whatever `T` is: the `T` itself never leaves the
/// thread that called [`Shared::new`].
pub struct Shared<T> {
    handle: Arc<Handle>,
    // `fn() -> T`: the handle neither owns a `T` nor is tied to `T`'s auto traits.
    _client: PhantomData<fn() -> T>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared {
            handle: self.handle.clone(),
            _client: PhantomData,
        }
    }
}

impl<T> std::fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("id", &self.handle.id)
            .field("owner", &self.handle.owner.key())
            .finish()
    }
}

/// One registry entry's lifetime: the entry is removed on the owner thread when the last handle
/// (and with it the last `Shared` clone) is dropped.
struct Handle {
    id: u64,
    owner: Owner,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.owner.release(self.id);
    }
}

impl<T: FromClientHook + 'static> Shared<T> {
    /// Shares `client`, which stays on this thread (its owner).
    ///
    /// # Panics
    /// Outside a tokio `LocalSet` (a server worker, a [`HomeThread`], or your own `LocalSet`):
    /// the owner thread needs one to run the calls other threads send it.
    pub fn new(client: T) -> Shared<T> {
        Self::with_keep(client, None)
    }

    /// [`Shared::new`], keeping `keep` alive with the capability (e.g. the connection it came
    /// from) and closing it in [`Shared::close`].
    pub(crate) fn with_keep(client: T, keep: Option<Box<dyn Keep>>) -> Shared<T> {
        let home = Home::current();
        let id = home.insert(Entry {
            hook: client.into_client_hook(),
            keep,
        });
        Shared {
            handle: Arc::new(Handle {
                id,
                owner: home.owner(),
            }),
            _client: PhantomData,
        }
    }

    /// Runs `f` on the owner thread with the capability and returns what it returned. Callable
    /// from any thread and any runtime (a multi-threaded tokio runtime needs no `LocalSet`).
    ///
    /// `f` itself must be `Send`; the future it returns need not be, since it runs on the owner.
    ///
    /// # Errors
    /// [`Error::Rpc`] with kind `Disconnected` if the owner thread (or its `LocalSet`) has ended,
    /// or ends before `f`'s future completes, or the capability was closed.
    ///
    /// # Cancel safety
    /// Dropping the returned future does not cancel `f` once the owner has started it; its
    /// result is then discarded.
    pub async fn call<F, Fut, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(T) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let id = self.handle.id;
        let outcome = self
            .handle
            .owner
            .run(move |home| {
                let hook = home.hook(id);
                async move {
                    match hook {
                        Some(hook) => Ok(f(T::new(hook)).await),
                        None => Err(released(id)),
                    }
                }
            })
            .await?;
        Ok(outcome?)
    }

    /// The capability as a `T` usable on this thread: on the owner thread the capability itself,
    /// elsewhere a proxy whose calls reach the owner over an in-process Cap'n Proto connection
    /// (one per pair of threads, reused).
    ///
    /// Returns at once; a proxy's first call waits for the bridge. If the owner is gone, the
    /// returned client's calls fail with `Disconnected`.
    ///
    /// # Panics
    /// Outside a tokio `LocalSet` (as every capnp-rpc client).
    pub fn client(&self) -> T {
        let home = Home::current();
        if home.key() == self.handle.owner.key() {
            return match home.hook(self.handle.id) {
                Some(hook) => T::new(hook),
                None => broken(released(self.handle.id)),
            };
        }
        T::new(bridge::proxy(&home, &self.handle))
    }

    /// Releases the capability on its owner now, and closes what came with it (for
    /// [`Connector::connect_shared`](crate::Connector::connect_shared): the connection, cleanly).
    /// Every clone of this `Shared` and every proxy then fails with `Disconnected`.
    ///
    /// # Errors
    /// What closing reported (e.g. the connection's close failing). Closing a `Shared` whose
    /// owner is already gone is not an error: there is nothing left to close.
    pub async fn close(self) -> Result<(), Error> {
        let id = self.handle.id;
        let closed = self
            .handle
            .owner
            .run(move |home| {
                let keep = home.remove(id).and_then(|entry| entry.keep);
                async move {
                    match keep {
                        Some(keep) => keep.close().await,
                        None => Ok(()),
                    }
                }
            })
            .await;
        // An owner that is gone has dropped everything already: nothing is left to close.
        closed.unwrap_or(Ok(()))
    }
}

/// The error of a call on a capability that has been released or closed.
fn released(id: u64) -> capnp::Error {
    capnp::Error::disconnected(format!(
        "the shared capability #{id} has been closed on its owner thread"
    ))
}

/// A client whose every call fails with `error`.
fn broken<T: FromClientHook>(error: capnp::Error) -> T {
    capnp_rpc::new_future_client(async move { Err(error) })
}
