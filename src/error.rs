//! Error types, one enum per boundary, and the top-level [`Error`].

use std::io;

/// Connecting to a server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The address could not be resolved to any socket address.
    #[error("cannot resolve `{addr}`: {source}")]
    Resolve {
        /// The address as given.
        addr: String,
        /// Why resolution failed.
        #[source]
        source: io::Error,
    },
    /// Every resolved address refused or failed the connection.
    #[error("cannot connect to {addr}: {source} (is a server listening there?)")]
    Connect {
        /// The last address tried (`HOST:PORT` as resolved, or `unix:PATH`).
        addr: String,
        /// The error of the last attempt.
        #[source]
        source: io::Error,
    },
    /// Connecting to a unix domain socket failed.
    #[error("cannot connect to unix:{}: {source} (is a server listening on that socket?)", path.display())]
    Unix {
        /// The socket's path.
        path: std::path::PathBuf,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },
    /// The TLS handshake failed; the message says why and what to do.
    #[error("TLS handshake with {addr} failed: {reason}")]
    Handshake {
        /// The address as given.
        addr: String,
        /// What went wrong, in words a person can act on.
        reason: String,
    },
    /// The TLS handshake did not complete in time.
    #[error("TLS handshake with {addr} timed out after {timeout:?}; is it a TLS server?")]
    HandshakeTimeout {
        /// The address as given.
        addr: String,
        /// The timeout that expired.
        timeout: std::time::Duration,
    },
    /// The TLS configuration could not be used for this address.
    #[cfg(feature = "tls")]
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// The background thread that owns a [`crate::Connector::connect_shared`] connection could
    /// not be started.
    #[error("cannot start the thread that owns the connection: {0}")]
    Thread(#[source] io::Error),
    /// The thread that owned the connection ended before the connection was made.
    #[error("the thread that owns the connection ended before it connected")]
    ThreadEnded,
    /// The connection did not complete within the connect timeout.
    #[error("connecting to {addr} timed out after {timeout:?}")]
    Timeout {
        /// The address as given.
        addr: String,
        /// The timeout that expired.
        timeout: std::time::Duration,
    },
}

/// Running a server failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The listening socket could not be bound or prepared.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why binding failed.
        #[source]
        source: io::Error,
    },
    /// The server's thread or runtime could not be started.
    #[error("cannot start the server runtime: {0}")]
    Runtime(#[source] io::Error),
    /// The server thread panicked; this is a bug in windlass or in a bootstrap factory.
    #[error("the server thread panicked")]
    Panicked,
}

/// A call bounded by [`crate::client::with_timeout`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The deadline passed; the call was cancelled on the server.
    #[error("call timed out after {0:?} (cancelled on the server)")]
    Timeout(std::time::Duration),
    /// The call itself failed; the kind says whether a retry can help.
    #[error("rpc: {0}")]
    Rpc(#[source] capnp::Error),
}

/// Any error windlass returns.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// See [`ConnectError`].
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// See [`ServeError`].
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// A TLS configuration could not be built.
    #[cfg(feature = "tls")]
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// See [`CallError`].
    #[error(transparent)]
    Call(#[from] CallError),
    /// A remote call failed; [`capnp::ErrorKind`] says whether retrying can help
    /// (`Disconnected`, `Overloaded`) or not (`Failed`, `Unimplemented`).
    #[error("rpc: {0}")]
    Rpc(#[from] capnp::Error),
}
