//! Addresses as users write them, shared by the server and the client: `HOST:PORT` for TCP and
//! `unix:PATH` for a unix domain socket.

use std::fmt;
use std::net::SocketAddr;
use std::path::Path;

/// The prefix that makes an address a unix socket path (`unix:/run/calc.sock`).
pub const UNIX_PREFIX: &str = "unix:";

/// The path of a `unix:PATH` address, if it is one.
pub(crate) fn unix_path(addr: &str) -> Option<&Path> {
    addr.strip_prefix(UNIX_PREFIX).map(Path::new)
}

/// Shows a peer's address, or `unix` for a peer that has none (a unix socket's), in logs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ShowPeer(pub(crate) Option<SocketAddr>);

impl fmt::Display for ShowPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(addr) => addr.fmt(f),
            None => f.write_str("unix"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_addresses_are_recognised() {
        assert_eq!(
            unix_path("unix:/run/x.sock"),
            Some(Path::new("/run/x.sock"))
        );
        assert_eq!(unix_path("127.0.0.1:4000"), None);
        assert_eq!(ShowPeer(None).to_string(), "unix");
        let addr: SocketAddr = "[::1]:7".parse().expect("addr");
        assert_eq!(ShowPeer(Some(addr)).to_string(), "[::1]:7");
    }
}
