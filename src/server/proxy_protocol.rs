//! The PROXY protocol (HAProxy's, versions 1 and 2): a load balancer in TCP mode writes one header
//! before the client's bytes saying who the client is, so the server can see the real peer
//! instead of the balancer's address.
//!
//! The header is trusted only from configured source networks ([`ProxyProtocol::trust`]); with
//! the protocol on, every connection must come from one of them and start with a header, anything
//! else is refused. The header is read under the server's handshake timeout, byte-exactly (nothing
//! after it is consumed), so TLS or Cap'n Proto then read the stream as if the header were not
//! there. Parsing is done by the `ppp` crate; this module frames the header ([`next_read`], pure)
//! and applies the trust rules.

use std::net::{IpAddr, SocketAddr};

use super::Cidr;

use ppp::{v1, v2, HeaderResult};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// The longest v1 header the specification allows, `\r\n` included.
pub(crate) const V1_MAX_BYTES: usize = 107;
/// The v2 signature, the first 12 bytes of every v2 header.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// The fixed part of a v2 header: signature, version/command, family/protocol, length.
const V2_FIXED: usize = 16;
/// The largest v2 header we accept: the fixed part plus addresses and TLVs. HAProxy sends a few
/// dozen bytes; the field allows 64 KiB, which we do not let a peer make us buffer.
pub(crate) const V2_MAX_BYTES: usize = 1024;

/// PROXY protocol settings: which sources may send a header. See the module docs.
#[derive(Debug, Clone, Default)]
pub struct ProxyProtocol {
    trusted: Vec<Cidr>,
}

impl ProxyProtocol {
    /// No trusted source yet: add them with [`ProxyProtocol::trust`]. With none, every
    /// connection is refused.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts headers from connections whose source address lies in `network`. Repeatable.
    pub fn trust(mut self, network: Cidr) -> Self {
        self.trusted.push(network);
        self
    }

    /// The trusted networks.
    pub fn trusted(&self) -> &[Cidr] {
        &self.trusted
    }

    /// Whether a connection from `addr` may send a header.
    pub fn is_trusted(&self, addr: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(addr))
    }
}

/// Why a connection was refused before it spoke Cap'n Proto. The variant names are the
/// `reason` labels of the refusal metric.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProxyError {
    /// The connection's source is not a trusted proxy.
    #[error("source {0} is not a trusted proxy")]
    Untrusted(IpAddr),
    /// The first bytes are not a PROXY header.
    #[error("no PROXY protocol header: {0}")]
    Invalid(String),
    /// The header did not arrive within the handshake timeout.
    #[error("no PROXY protocol header within {0:?}")]
    Timeout(std::time::Duration),
    /// Reading failed (reset, early close).
    #[error("reading the PROXY protocol header failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ProxyError {
    /// A short, fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            ProxyError::Untrusted(_) => "proxy_untrusted",
            ProxyError::Invalid(_) => "proxy_invalid",
            ProxyError::Timeout(_) => "proxy_timeout",
            ProxyError::Io(_) => "proxy_io",
        }
    }
}

/// What to do with the header bytes read so far.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Read exactly this many more bytes.
    Read(usize),
    /// The header is complete.
    Done,
    /// This cannot become a header.
    Invalid(&'static str),
}

/// How many more bytes the header needs, given its first `head.len()` bytes. Never asks for
/// more than the header holds, so the stream after it stays unread. Pure.
pub(crate) fn next_read(head: &[u8]) -> Next {
    // Five bytes tell the versions apart ("PROXY" / "\r\n\r\n\0"), and the shortest v1 header
    // ("PROXY UNKNOWN\r\n", 15 bytes) is longer than that.
    if head.len() < 5 {
        return Next::Read(5 - head.len());
    }
    if head.starts_with(b"PROXY") {
        if head.ends_with(b"\r\n") {
            return Next::Done;
        }
        if head.len() >= V1_MAX_BYTES {
            return Next::Invalid("v1 header longer than 107 bytes");
        }
        // v1 has no length field: one byte at a time until CRLF (at most 107 reads).
        return Next::Read(1);
    }
    let known = head.len().min(V2_SIGNATURE.len());
    if head[..known] != V2_SIGNATURE[..known] {
        return Next::Invalid("neither a v1 nor a v2 signature");
    }
    if head.len() < V2_FIXED {
        return Next::Read(V2_FIXED - head.len());
    }
    let total = V2_FIXED + usize::from(u16::from_be_bytes([head[14], head[15]]));
    if total > V2_MAX_BYTES {
        return Next::Invalid("v2 header longer than 1024 bytes");
    }
    match total.checked_sub(head.len()) {
        Some(0) => Next::Done,
        Some(n) => Next::Read(n),
        None => Next::Invalid("read past the v2 header"),
    }
}

/// The client address a complete header names: `Some` for a proxied TCP connection, `None` for
/// a v2 `LOCAL` command or a v1 `UNKNOWN` (the proxy's own connection, e.g. a health check: the
/// socket's peer is the truth). Pure.
///
/// # Errors
/// A description of what is wrong with the header.
pub(crate) fn client_address(header: &[u8]) -> Result<Option<SocketAddr>, String> {
    match HeaderResult::parse(header) {
        HeaderResult::V1(Ok(h)) => Ok(match h.addresses {
            v1::Addresses::Tcp4(a) => {
                Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port))
            }
            v1::Addresses::Tcp6(a) => {
                Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port))
            }
            v1::Addresses::Unknown => None,
        }),
        HeaderResult::V2(Ok(h)) => {
            if h.command == v2::Command::Local {
                return Ok(None);
            }
            match h.addresses {
                v2::Addresses::IPv4(a) => Ok(Some(SocketAddr::new(
                    IpAddr::V4(a.source_address),
                    a.source_port,
                ))),
                v2::Addresses::IPv6(a) => Ok(Some(SocketAddr::new(
                    IpAddr::V6(a.source_address),
                    a.source_port,
                ))),
                v2::Addresses::Unspecified | v2::Addresses::Unix(_) => Ok(None),
            }
        }
        HeaderResult::V1(Err(e)) => Err(format!("bad v1 header: {e}")),
        HeaderResult::V2(Err(e)) => Err(format!("bad v2 header: {e}")),
    }
}

/// Checks the source and reads the header off `stream`, leaving every byte after it unread.
/// Returns the client's address (the socket's peer for `LOCAL`/`UNKNOWN` headers).
///
/// # Errors
/// [`ProxyError`] saying why the connection must be refused.
///
/// # Cancel safety
/// Not cancel safe: dropped midway, part of the header has been consumed.
pub(crate) async fn read_header(
    stream: &mut TcpStream,
    peer: SocketAddr,
    config: &ProxyProtocol,
) -> Result<SocketAddr, ProxyError> {
    if !config.is_trusted(peer.ip()) {
        return Err(ProxyError::Untrusted(peer.ip()));
    }
    let mut head = Vec::with_capacity(64);
    loop {
        match next_read(&head) {
            Next::Done => break,
            Next::Invalid(why) => return Err(ProxyError::Invalid(why.to_string())),
            Next::Read(n) => {
                let start = head.len();
                head.resize(start + n, 0);
                stream.read_exact(&mut head[start..]).await?;
            }
        }
    }
    match client_address(&head) {
        Ok(client) => Ok(client.unwrap_or(peer)),
        Err(why) => Err(ProxyError::Invalid(why)),
    }
}

/// Reads the header of a new connection under `timeout`, refusing it (logged, counted, and told
/// to the peer in an RPC `Abort`) when that fails. Returns the stream and the client's address,
/// recorded as the connection span's `peer` (the proxy's as `proxy`).
pub(super) async fn accept(
    mut stream: TcpStream,
    peer: SocketAddr,
    config: &ProxyProtocol,
    timeout: std::time::Duration,
    shared: &super::Shared,
) -> Option<(TcpStream, SocketAddr)> {
    use super::totals::Refusal;
    let read = tokio::time::timeout(timeout, read_header(&mut stream, peer, config)).await;
    match read.unwrap_or(Err(ProxyError::Timeout(timeout))) {
        Ok(client) => {
            let span = tracing::Span::current();
            span.record("peer", tracing::field::display(client));
            span.record("proxy", tracing::field::display(peer));
            Some((stream, client))
        }
        Err(e) => {
            tracing::warn!(%peer, reason = e.label(), error = %e, "refusing the connection");
            shared.totals.refused(match e {
                ProxyError::Untrusted(_) => Refusal::ProxyUntrusted,
                ProxyError::Invalid(_) => Refusal::ProxyInvalid,
                ProxyError::Timeout(_) => Refusal::ProxyTimeout,
                ProxyError::Io(_) => Refusal::ProxyIo,
            });
            let reason = format!("connection refused: {e}");
            super::reject::reject(stream, Some((&reason, capnp::ErrorKind::Failed))).await;
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2_header(src: SocketAddr, dst: SocketAddr, local: bool) -> Vec<u8> {
        let command = if local { 0x20 } else { 0x21 };
        v2::Builder::with_addresses(command, v2::Protocol::Stream, (src, dst))
            .write_tlv(v2::Type::NoOp, &[0; 3])
            .and_then(|b| b.build())
            .expect("header")
    }

    /// Feeds `bytes` through `next_read` the way `read_header` does and returns how much it
    /// consumed, or the reason it gave up.
    fn frame(bytes: &[u8]) -> Result<usize, &'static str> {
        let mut len = 0;
        loop {
            match next_read(&bytes[..len]) {
                Next::Done => return Ok(len),
                Next::Invalid(why) => return Err(why),
                Next::Read(n) => {
                    if len + n > bytes.len() {
                        return Err("ran out of input");
                    }
                    len += n;
                }
            }
        }
    }

    #[test]
    fn v1_and_v2_are_framed_exactly_and_name_the_client() {
        let v1 = b"PROXY TCP4 10.77.9.2 10.77.0.1 40000 7000\r\n";
        let v1_6 = b"PROXY TCP6 fd00::2 fd00::1 40001 7000\r\n";
        let src: SocketAddr = "10.77.9.2:40002".parse().expect("addr");
        let dst: SocketAddr = "10.77.1.2:7000".parse().expect("addr");
        let v2 = v2_header(src, dst, false);
        for (header, want) in [
            (&v1[..], Some("10.77.9.2:40000")),
            (&v1_6[..], Some("[fd00::2]:40001")),
            (&v2[..], Some("10.77.9.2:40002")),
            (&b"PROXY UNKNOWN\r\n"[..], None),
            (&v2_header(src, dst, true)[..], None),
        ] {
            let mut stream = header.to_vec();
            stream.extend_from_slice(b"\0\0\0\0capnp after the header");
            assert_eq!(frame(&stream), Ok(header.len()));
            let want = want.map(|w| w.parse::<SocketAddr>().expect("addr"));
            assert_eq!(client_address(header), Ok(want));
        }
    }

    #[test]
    fn garbage_is_refused_without_reading_much() {
        assert!(frame(b"\0\0\0\0\x01\0\0\0").is_err(), "capnp framing");
        assert!(frame(b"\x16\x03\x01\x02\x00").is_err(), "TLS hello");
        assert!(frame(b"GET / HTTP/1.1\r\n").is_err());
        let long = [b"PROXY ".as_slice(), &[b'x'; 200]].concat();
        assert_eq!(frame(&long), Err("v1 header longer than 107 bytes"));
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(frame(&huge), Err("v2 header longer than 1024 bytes"));
        assert!(client_address(b"PROXY TCP4 nonsense\r\n").is_err());
        assert!(client_address(b"PROXY TCP4 10.0.0.1 10.0.0.2 99999 1\r\n").is_err());
    }

    #[test]
    fn framing_never_panics_on_any_prefix_or_byte() {
        // Every prefix of valid headers, and every single-byte corruption of them.
        let src: SocketAddr = "[fd00::9]:1".parse().expect("addr");
        let dst: SocketAddr = "[fd00::1]:2".parse().expect("addr");
        let headers = [
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n".to_vec(),
            v2_header(src, dst, false),
        ];
        for header in headers {
            for cut in 0..=header.len() {
                let _ = next_read(&header[..cut]);
                let _ = client_address(&header[..cut]);
            }
            for at in 0..header.len() {
                for byte in [0u8, 0x0a, 0x0d, 0x20, 0x7f, 0xff] {
                    let mut bad = header.clone();
                    bad[at] = byte;
                    if let Ok(n) = frame(&bad) {
                        assert!(n <= bad.len());
                        let _ = client_address(&bad[..n]);
                    }
                }
            }
        }
    }

    #[test]
    fn trusted_networks_match() {
        let pp = ProxyProtocol::new().trust("10.77.0.0/16".parse().expect("cidr"));
        assert!(pp.is_trusted("10.77.1.1".parse().expect("ip")));
        assert!(!ProxyProtocol::new().is_trusted("127.0.0.1".parse().expect("ip")));
    }
}
