//! The owner side of [`Shared`](super::Shared): each thread that owns shared capabilities has a
//! `Home` — a registry of them and a task that runs jobs other threads send it — and
//! [`HomeThread`] is a thread whose only purpose is to be such an owner.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use capnp::private::capability::ClientHook;
use tokio::sync::{mpsc, oneshot};

use crate::error::{Error, ServeError};
use crate::schemas::shared_capnp::registry;

/// Work for an owner thread, run by its dispatcher with the thread's [`Home`].
pub(super) type Job = Box<dyn FnOnce(&Rc<Home>) + Send>;

/// Something kept alive with a shared capability and closed with it (a client connection).
pub(crate) trait Keep {
    /// Closes it, cleanly where it can; runs on the owner thread.
    fn close(self: Box<Self>) -> Pin<Box<dyn Future<Output = Result<(), Error>>>>;
}

/// The near end of a bridge from this thread to one owner thread (made by `bridge`).
pub(super) struct Link {
    pub(super) registry: registry::Client,
    /// Cleared when the bridge's connection ends, so the next proxy makes a new one.
    pub(super) alive: Rc<std::cell::Cell<bool>>,
}

/// One shared capability on its owner thread.
pub(super) struct Entry {
    pub(super) hook: Box<dyn ClientHook>,
    pub(super) keep: Option<Box<dyn Keep>>,
}

/// Homes and entries are numbered process-wide, so a key names one `Home` for its whole life
/// (a thread that starts a second `LocalSet` gets a new home with a new key).
static NEXT_KEY: AtomicU64 = AtomicU64::new(1);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static CURRENT: RefCell<Option<Rc<Home>>> = const { RefCell::new(None) };
}

/// A thread's registry of shared capabilities and its bridges to other threads.
pub(super) struct Home {
    key: u64,
    jobs: mpsc::UnboundedSender<Job>,
    entries: RefCell<HashMap<u64, Entry>>,
    /// Bridges from this thread to other owners, by the owner's key.
    pub(super) links: RefCell<HashMap<u64, Link>>,
}

impl Home {
    /// This thread's home, started on first use (and again if the `LocalSet` that ran the
    /// previous one has ended).
    ///
    /// # Panics
    /// Outside a tokio `LocalSet` when a home must be started.
    pub(super) fn current() -> Rc<Home> {
        CURRENT.with(|cell| {
            let mut cell = cell.borrow_mut();
            if let Some(home) = cell.as_ref().filter(|home| !home.jobs.is_closed()) {
                return home.clone();
            }
            let home = Home::start();
            *cell = Some(home.clone());
            home
        })
    }

    fn start() -> Rc<Home> {
        let (jobs, queue) = mpsc::unbounded_channel();
        let home = Rc::new(Home {
            key: NEXT_KEY.fetch_add(1, Relaxed),
            jobs,
            entries: RefCell::new(HashMap::new()),
            links: RefCell::new(HashMap::new()),
        });
        tokio::task::spawn_local(dispatch(Rc::downgrade(&home), queue));
        home
    }

    pub(super) fn key(&self) -> u64 {
        self.key
    }

    /// A sendable handle other threads use to reach this home.
    pub(super) fn owner(&self) -> Owner {
        Owner {
            key: self.key,
            jobs: self.jobs.clone(),
        }
    }

    /// The registry of the owner `key`, over a bridge from this thread that is still up.
    pub(super) fn live_link(&self, key: u64) -> Option<registry::Client> {
        let links = self.links.borrow();
        let link = links.get(&key).filter(|link| link.alive.get())?;
        Some(link.registry.clone())
    }

    /// Registers a capability, returning its id.
    pub(super) fn insert(&self, entry: Entry) -> u64 {
        let id = NEXT_ID.fetch_add(1, Relaxed);
        self.entries.borrow_mut().insert(id, entry);
        id
    }

    /// A new reference to the capability `id`, if it is still registered.
    pub(super) fn hook(&self, id: u64) -> Option<Box<dyn ClientHook>> {
        self.entries
            .borrow()
            .get(&id)
            .map(|entry| entry.hook.add_ref())
    }

    /// Unregisters `id`, handing back what was kept with it.
    pub(super) fn remove(&self, id: u64) -> Option<Entry> {
        self.entries.borrow_mut().remove(&id)
    }

    /// Drops every capability and bridge (the `LocalSet` that ran this home is ending).
    fn clear(&self) {
        // Taken out first: dropping a capability may run code that touches the registry.
        let entries = std::mem::take(&mut *self.entries.borrow_mut());
        let links = std::mem::take(&mut *self.links.borrow_mut());
        drop((entries, links));
    }
}

/// Runs the jobs sent to a home until every sender is gone or its `LocalSet` is dropped.
async fn dispatch(home: Weak<Home>, mut queue: mpsc::UnboundedReceiver<Job>) {
    struct ClearOnDrop(Weak<Home>);
    impl Drop for ClearOnDrop {
        fn drop(&mut self) {
            if let Some(home) = self.0.upgrade() {
                home.clear();
            }
        }
    }
    let _clear = ClearOnDrop(home.clone());
    while let Some(job) = queue.recv().await {
        let Some(home) = home.upgrade() else { break };
        job(&home);
    }
}

/// How other threads reach a [`Home`]: `Send + Sync + Clone`.
#[derive(Clone)]
pub(super) struct Owner {
    key: u64,
    jobs: mpsc::UnboundedSender<Job>,
}

impl Owner {
    pub(super) fn key(&self) -> u64 {
        self.key
    }

    /// Queues `job` on the owner thread; hands it back if the owner is gone.
    pub(super) fn send(&self, job: Job) -> Result<(), Job> {
        self.jobs.send(job).map_err(|e| e.0)
    }

    /// Unregisters `id` on the owner thread (a no-op if the owner is gone: it dropped
    /// everything already).
    pub(super) fn release(&self, id: u64) {
        let _ = self.send(Box::new(move |home| drop(home.remove(id))));
    }

    /// Runs `f` on the owner thread and the future it returns in the owner's `LocalSet`, and
    /// returns the future's output.
    ///
    /// # Errors
    /// `Disconnected` if the owner is gone, or goes before the future completes.
    pub(super) async fn run<F, Fut, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(&Rc<Home>) -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |home| {
            let work = f(home);
            tokio::task::spawn_local(async move {
                let _ = tx.send(work.await);
            });
        });
        self.send(job).map_err(|_| owner_gone())?;
        // A dropped sender means the job or its task was dropped with the owner's `LocalSet`.
        rx.await.map_err(|_| owner_gone())
    }
}

fn owner_gone() -> Error {
    Error::Rpc(capnp::Error::disconnected(
        "the thread that owns this shared capability has ended".into(),
    ))
}

/// A thread that owns shared capabilities: a current-thread tokio runtime with a `LocalSet`,
/// doing nothing but run what other threads send it.
///
/// Use it for state every server connection shares (whichever worker serves it) or for a
/// capability a multi-threaded application uses. Dropping it stops the thread (after the job in
/// progress) and joins it; [`Shared`](super::Shared) handles it owned then fail with
/// `Disconnected`.
pub struct HomeThread {
    owner: Owner,
    stop: Option<StopGuard>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for HomeThread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HomeThread")
            .field("key", &self.owner.key)
            .finish()
    }
}

/// Stops a home thread when dropped.
pub(crate) struct StopGuard(#[allow(dead_code)] oneshot::Sender<()>);

impl HomeThread {
    /// Starts a home thread named `name`.
    ///
    /// # Errors
    /// [`ServeError::Runtime`] if the thread or its runtime cannot be started.
    pub fn spawn(name: &str) -> Result<HomeThread, Error> {
        let (owner, stop, thread) = start(name).map_err(ServeError::Runtime)?;
        Ok(HomeThread {
            owner,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Makes a capability on the home thread with `make` and shares it. Blocks until it is made:
    /// call it while setting up (e.g. before `Server::bind`); from async code use
    /// [`HomeThread::run`] with [`Shared::new`](super::Shared::new).
    ///
    /// # Errors
    /// `Disconnected` if the home thread has ended.
    pub fn share<T, F>(&self, make: F) -> Result<super::Shared<T>, Error>
    where
        T: capnp::capability::FromClientHook + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = std::sync::mpsc::channel();
        let job: Job = Box::new(move |_| {
            let _ = tx.send(super::Shared::new(make()));
        });
        self.owner.send(job).map_err(|_| owner_gone())?;
        rx.recv().map_err(|_| owner_gone())
    }

    /// Runs `f` on the home thread, and the future it returns in the thread's `LocalSet`;
    /// returns the future's output. Callable from any thread or runtime.
    ///
    /// # Errors
    /// `Disconnected` if the home thread has ended.
    pub async fn run<F, Fut, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        self.owner.run(move |_| f()).await
    }
}

impl Drop for HomeThread {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // Never join ourselves (a HomeThread dropped by a job on its own thread).
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// A home thread that nobody joins: it ends when the returned guard is dropped. What
/// `Connector::connect_shared` runs each connection on.
pub(crate) fn spawn_detached(name: &str) -> std::io::Result<(OwnerRef, StopGuard)> {
    let (owner, stop, _thread) = start(name)?;
    Ok((OwnerRef(owner), stop))
}

/// An [`Owner`] for code outside this module.
pub(crate) struct OwnerRef(Owner);

impl OwnerRef {
    /// [`Owner::run`] without the home.
    pub(crate) async fn run<F, Fut, R>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + 'static,
        R: Send + 'static,
    {
        self.0.run(move |_| f()).await
    }
}

fn start(name: &str) -> std::io::Result<(Owner, StopGuard, std::thread::JoinHandle<()>)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, async move {
                let home = Home::current();
                let _ = ready_tx.send(home.owner());
                // Resolves when the guard is dropped (sent or not).
                let _ = stop_rx.await;
            });
            // Drop the tasks (the dispatcher clears the registry) while the runtime still exists.
            drop(local);
            CURRENT.with(|cell| cell.borrow_mut().take());
        })?;
    let owner = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the new thread ended before it was ready"))?;
    Ok((owner, StopGuard(stop_tx), thread))
}
