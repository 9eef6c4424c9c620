//! What the acceptor hands a worker: one accepted connection. A module of its own so that the
//! acceptor, the worker and the connection task all name it without importing one another.

use std::net::SocketAddr;

/// An accepted socket, still a std socket: it is registered with the worker's runtime by the
/// connection task, on the worker thread.
pub(super) enum Accepted {
    /// A TCP connection (plain or TLS) and the remote address `accept` reported.
    Tcp(std::net::TcpStream, SocketAddr),
    /// A unix domain socket connection.
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

/// An accepted connection on its way to a worker.
pub(super) struct Job {
    /// The accepted socket.
    pub(super) stream: Accepted,
    /// The connection's id, unique within the server.
    pub(super) id: u64,
}

impl Job {
    /// The peer's address (`None` for a unix socket, which has none).
    pub(super) fn peer(&self) -> Option<SocketAddr> {
        match &self.stream {
            Accepted::Tcp(_, peer) => Some(*peer),
            #[cfg(unix)]
            Accepted::Unix(_) => None,
        }
    }
}

/// A connection as `accept` returned it, registered with the acceptor's runtime, before the
/// limit check: either handed to a worker ([`Incoming::into_accepted`]) or refused.
pub(super) enum Incoming {
    Tcp(tokio::net::TcpStream, SocketAddr),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

impl Incoming {
    /// The peer's address (`None` for a unix socket).
    pub(super) fn peer(&self) -> Option<SocketAddr> {
        match self {
            Incoming::Tcp(_, peer) => Some(*peer),
            #[cfg(unix)]
            Incoming::Unix(_) => None,
        }
    }

    /// Deregisters the socket from the acceptor's runtime, for a worker to register it again.
    pub(super) fn into_accepted(self) -> std::io::Result<Accepted> {
        match self {
            Incoming::Tcp(stream, peer) => stream.into_std().map(|s| Accepted::Tcp(s, peer)),
            #[cfg(unix)]
            Incoming::Unix(stream) => stream.into_std().map(Accepted::Unix),
        }
    }
}
