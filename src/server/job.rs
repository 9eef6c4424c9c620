//! What the acceptor hands a worker: one accepted connection. A module of its own so that the
//! acceptor, the worker and the connection task all name it without importing one another.

use std::net::SocketAddr;

/// An accepted socket, still a std socket: it is registered with the worker's runtime by the
/// connection task, on the worker thread.
pub(super) enum Accepted {
    /// A TCP connection (plain or TLS).
    Tcp(std::net::TcpStream),
    /// A unix domain socket connection.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

/// An accepted connection on its way to a worker.
pub(super) struct Job {
    /// The accepted socket.
    pub(super) stream: Accepted,
    /// The remote address `accept` reported (unspecified for a unix socket).
    pub(super) peer: SocketAddr,
    /// The connection's id, unique within the server.
    pub(super) id: u64,
}
