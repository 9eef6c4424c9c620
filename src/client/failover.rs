//! Several addresses for one service: a [`super::Connector`] made with
//! [`super::Connector::new_multi`] tries them in turn, starting where the last success was, and
//! [`super::Reconnecting`] moves past an address whose connection was lost, so a client of a
//! server pool follows the pool. Each address may itself resolve to several A/AAAA records, all
//! of which are tried; a `unix:PATH` address is a unix domain socket (e.g. two local server
//! processes that take over from each other during a restart).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tracing::debug;

#[cfg(unix)]
use crate::addr::UNIX_PREFIX;

use crate::error::ConnectError;

/// A connected stream of either kind an address may name.
#[derive(Debug)]
pub(crate) enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(tokio::net::UnixStream),
}

/// The configured addresses and where the next attempt starts. Clones share the position.
#[derive(Debug, Clone)]
pub(crate) struct Addresses {
    list: Arc<[String]>,
    next: Arc<AtomicUsize>,
}

impl Addresses {
    pub(crate) fn new(list: Vec<String>) -> Self {
        Addresses {
            list: list.into(),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn all(&self) -> &[String] {
        &self.list
    }

    /// The indices to try, in order: from the current position round the list once. Pure.
    pub(crate) fn order(start: usize, len: usize) -> impl Iterator<Item = usize> {
        (0..len).map(move |i| (start + i) % len.max(1))
    }

    /// Makes the next attempt start after `index` (the address whose connection was lost).
    pub(crate) fn skip(&self, index: usize) {
        if !self.list.is_empty() {
            self.next.store((index + 1) % self.list.len(), Relaxed);
        }
    }

    /// Connects to the first address (in [`Addresses::order`]) that answers, each resolved record
    /// of each address given `timeout`. Returns the stream, the configured address it came
    /// from and that address's index; the position stays there.
    pub(crate) async fn open(
        &self,
        timeout: Duration,
    ) -> Result<(Stream, String, usize), ConnectError> {
        let mut last = None;
        for index in Self::order(self.next.load(Relaxed), self.list.len()) {
            let addr = &self.list[index];
            match open_one(addr, timeout).await {
                Ok(stream) => {
                    self.next.store(index, Relaxed);
                    return Ok((stream, addr.clone(), index));
                }
                Err(e) => {
                    debug!(%addr, error = %e, "address failed; trying the next");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ConnectError::Resolve {
            addr: String::new(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address configured"),
        }))
    }
}

/// Connects to `addr` within `timeout`: a unix socket for `unix:PATH`, else the first of its
/// resolved records that answers.
async fn open_one(addr: &str, timeout: Duration) -> Result<Stream, ConnectError> {
    #[cfg(unix)]
    if let Some(path) = addr.strip_prefix(UNIX_PREFIX) {
        let stream = tokio::time::timeout(timeout, tokio::net::UnixStream::connect(path))
            .await
            .map_err(|_| ConnectError::Timeout {
                addr: addr.to_string(),
                timeout,
            })?
            .map_err(|source| ConnectError::Unix {
                path: path.into(),
                source,
            })?;
        return Ok(Stream::Unix(stream));
    }
    open_tcp(addr, timeout).await.map(Stream::Tcp)
}

/// Resolves `addr` and connects to the first of its records that answers within `timeout`.
async fn open_tcp(addr: &str, timeout: Duration) -> Result<TcpStream, ConnectError> {
    let resolve = tokio::time::timeout(timeout, tokio::net::lookup_host(addr))
        .await
        .map_err(|_| ConnectError::Timeout {
            addr: addr.to_string(),
            timeout,
        })?;
    let records: Vec<SocketAddr> = resolve
        .map_err(|source| ConnectError::Resolve {
            addr: addr.to_string(),
            source,
        })?
        .collect();
    let mut last = None;
    for record in records {
        match tokio::time::timeout(timeout, TcpStream::connect(record)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(source)) => {
                last = Some(ConnectError::Connect {
                    addr: record.to_string(),
                    source,
                })
            }
            Err(_) => {
                last = Some(ConnectError::Timeout {
                    addr: record.to_string(),
                    timeout,
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| ConnectError::Resolve {
        addr: addr.to_string(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no addresses found"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_goes_round_once_from_the_position() {
        let order: Vec<usize> = Addresses::order(2, 4).collect();
        assert_eq!(order, [2, 3, 0, 1]);
        assert_eq!(Addresses::order(0, 0).count(), 0);
        let a = Addresses::new(vec!["a:1".into(), "b:1".into(), "c:1".into()]);
        a.skip(2);
        assert_eq!(a.next.load(Relaxed), 0);
        a.skip(0);
        assert_eq!(a.next.load(Relaxed), 1);
        let clone = a.clone();
        clone.skip(1);
        assert_eq!(a.next.load(Relaxed), 2, "clones share the position");
    }
}
