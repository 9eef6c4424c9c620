//! A worker thread: a current-thread tokio runtime with a `LocalSet`, owning the connections the
//! acceptor hands it.

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;

use tokio::sync::mpsc;
use tokio::task::{JoinSet, LocalSet};
use tracing::{debug, info_span, Instrument};

use super::job::Job;
use super::{connection, Factory, Options, Phase, Shared};
use crate::addr::ShowPeer;
use crate::error::ServeError;

/// The acceptor's view of a worker: where to send connections and how many it has.
pub(super) struct WorkerRef {
    pub(super) tx: mpsc::UnboundedSender<Job>,
    pub(super) load: Arc<AtomicUsize>,
}

/// Starts worker `index`.
pub(super) fn spawn(
    index: usize,
    rx: mpsc::UnboundedReceiver<Job>,
    load: Arc<AtomicUsize>,
    options: Arc<Options>,
    factory: Factory,
    shared: Arc<Shared>,
    ready: std::sync::mpsc::Sender<()>,
) -> Result<thread::JoinHandle<()>, ServeError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    thread::Builder::new()
        .name(format!("{}-worker-{index}", options.thread_name))
        .spawn(move || {
            let _ = ready.send(());
            let work = run(index, rx, load, options, factory, shared);
            LocalSet::new().block_on(&runtime, work);
            // Dropping the runtime here cancels anything left, so no task outlives the thread.
        })
        .map_err(ServeError::Runtime)
}

async fn run(
    index: usize,
    mut rx: mpsc::UnboundedReceiver<Job>,
    load: Arc<AtomicUsize>,
    options: Arc<Options>,
    factory: Factory,
    shared: Arc<Shared>,
) {
    let mut phase = shared.phase.subscribe();
    let ctx = Rc::new(connection::Context {
        worker: index,
        options,
        factory,
        shared: shared.clone(),
        load: load.clone(),
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = phase.wait_for(|p| *p != Phase::Running) => break,
            job = rx.recv() => match job {
                Some(job) => {
                    let peer = ShowPeer(job.peer());
                    let span = info_span!("conn", conn_id = job.id, %peer, worker = index, proxy = tracing::field::Empty);
                    let task = connection::serve(job, ctx.clone());
                    connections.spawn_local(task.instrument(span));
                }
                None => break,
            },
            // Reap finished connections so the set does not grow with every peer ever seen.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    // Connections accepted but not yet started when shutdown began: close them.
    rx.close();
    while let Ok(job) = rx.try_recv() {
        load.fetch_sub(1, Relaxed);
        shared.closed(job.id);
    }
    debug!(worker = index, open = connections.len(), "worker draining");
    while connections.join_next().await.is_some() {}
    debug!(worker = index, "worker stopped");
}
