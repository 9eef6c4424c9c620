//! A real web listener on 127.0.0.1:0 serving the Calculator, for the integration tests.

#![allow(dead_code)] // each test binary uses part of it

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use windlass_web::{serve, BootstrapFactory, WebOptions, WebService};

/// The Calculator schema, compiled from its .capnp file by windlass-schema.
pub(crate) fn calculator_schema() -> Vec<u8> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../windlass-calculator/schemas");
    windlass_schema::SchemaCompiler::new()
        .file(dir.join("calculator.capnp"))
        .src_prefix(&dir)
        .compile_to_bytes()
        .expect("calculator.capnp compiles")
}

/// A running server; stops when dropped or by [`TestServer::stop`].
pub(crate) struct TestServer {
    pub(crate) addr: SocketAddr,
    /// Sessions opened (bootstrap factory calls): one per WebSocket or HTTP batch request.
    pub(crate) sessions: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub(crate) async fn start(options: WebOptions) -> Self {
        Self::start_with(options, |_| {}).await
    }

    /// As [`TestServer::start`], calling `watch` with each session's request on its worker.
    pub(crate) async fn start_with(
        options: WebOptions,
        watch: impl Fn(&windlass_web::RequestInfo) + Send + Sync + 'static,
    ) -> Self {
        let sessions = Arc::new(AtomicUsize::new(0));
        let counter = sessions.clone();
        let factory: BootstrapFactory = Arc::new(move |info| {
            counter.fetch_add(1, Ordering::SeqCst);
            watch(info);
            windlass_calculator::new_client().client
        });
        let service = WebService::new(calculator_schema(), "Calculator", factory).expect("service");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            serve(listener, service, options, async {
                let _ = stopped.await;
            })
            .await
            .expect("serve");
        });
        Self {
            addr,
            sessions,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub(crate) fn sessions(&self) -> usize {
        self.sessions.load(Ordering::SeqCst)
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}
