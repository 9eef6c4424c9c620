//! Errors of the web listener.

/// Why [`serve`](super::serve) or [`WebService::new`](super::WebService::new) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The schema does not parse or lacks the interface: fix the service's configuration.
    #[error("schema: {0}")]
    Schema(String),
    /// The worker thread could not start or stopped unexpectedly.
    #[error("worker thread: {0}")]
    Worker(#[source] std::io::Error),
}
