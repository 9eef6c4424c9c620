//! Unix domain sockets: `Server::bind("unix:/path/to.sock", ...)`.
//!
//! A unix socket is for peers on the same machine: its file's permissions say who may connect,
//! and each connection's peer credentials (uid, gid, pid from `SO_PEERCRED`) tell the bootstrap
//! factory who did, as a verified certificate does for TLS. Connections are plain Cap'n Proto
//! (no TLS: nothing on the wire leaves the kernel).
//!
//! Binding removes a *stale* socket file (one no process listens on any more, left behind by a
//! server that was killed) but never a live one or a file that is not a socket. The server
//! removes its socket file when it stops.

use std::io;
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use crate::error::ServeError;

use crate::addr::UNIX_PREFIX;

/// What the kernel says about the process at the other end of a unix socket connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerCredentials {
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
    /// The peer's process id, where the platform reports it (Linux does).
    pub pid: Option<i32>,
}

/// Binds a unix listener at `path`, replacing a stale socket file.
///
/// # Errors
/// [`ServeError::Bind`] when the path is in use by a live server, is not a socket, or cannot be
/// bound (directory missing, permission denied, path too long).
pub(crate) fn bind(path: &Path) -> Result<UnixListener, ServeError> {
    let error = |source: io::Error| ServeError::Bind {
        addr: format!("{UNIX_PREFIX}{}", path.display()),
        source,
    };
    match UnixListener::bind(path) {
        Ok(listener) => Ok(listener),
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            remove_if_stale(path).map_err(error)?;
            UnixListener::bind(path).map_err(error)
        }
        Err(e) => Err(error(e)),
    }
}

/// Removes `path` if it is a socket nobody listens on; otherwise says why it stays.
fn remove_if_stale(path: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket; not replacing it",
        ));
    }
    match UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "another server is listening on this socket",
        )),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing a stale socket file");
            std::fs::remove_file(path)
        }
        Err(e) => Err(e),
    }
}

/// Removes the server's socket file when the server stops.
#[derive(Debug)]
pub(crate) struct SocketFile(pub(crate) PathBuf);

impl Drop for SocketFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The credentials of the peer of `stream`, if the platform tells.
pub(crate) fn credentials(stream: &tokio::net::UnixStream) -> Option<PeerCredentials> {
    match stream.peer_cred() {
        Ok(cred) => Some(PeerCredentials {
            uid: cred.uid(),
            gid: cred.gid(),
            pid: cred.pid(),
        }),
        Err(e) => {
            tracing::debug!(error = %e, "cannot read the peer's credentials");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("windlass-unix-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_live_one_and_a_plain_file_are_not() {
        let dir = scratch("stale");
        let path = dir.join("s.sock");
        let live = bind(&path).expect("first bind");
        let err = bind(&path).expect_err("a live server keeps its socket");
        assert!(
            err.to_string().contains("another server is listening"),
            "{err}"
        );
        drop(live); // the file stays behind, as after a SIGKILL
        assert!(path.exists());
        let _again = bind(&path).expect("the stale file is replaced");

        let plain = dir.join("plain");
        std::fs::write(&plain, b"data").expect("write");
        let err = bind(&plain).expect_err("not a socket");
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert_eq!(std::fs::read(&plain).expect("still there"), b"data");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
