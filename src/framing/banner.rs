//! Telling a peer that speaks another protocol from a broken Cap'n Proto peer, by the first bytes
//! it sent: a pure function over bytes, so every case is unit-tested without a socket.
//!
//! A Cap'n Proto stream starts with a little-endian segment count minus one. Text makes that
//! count absurd: `HTTP` reads as 0x5054_5448 + 1 segments, a TLS record (`16 03 01 ..`) as
//! about 0x0001_0316 + 1, both far beyond the 511 any standard reader accepts. So when the very
//! first header of a stream breaks the segment limit, the bytes are worth a second look before
//! the error is reported as a bad message.

use std::fmt;

/// What the first bytes of a stream look like, when they are not Cap'n Proto.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForeignProtocol {
    /// An HTTP response or request line (`HTTP/1.1 400 Bad Request`, `GET / HTTP/1.1`).
    Http,
    /// A TLS record (`16 03 ..` handshake, `15 03 ..` alert): a TLS server or client.
    Tls,
    /// An SSH identification string (`SSH-2.0-...`).
    Ssh,
    /// A Redis error or status reply (`-ERR ...`, `+OK`).
    Redis,
    /// A numbered text greeting (`220 ...`), as SMTP and FTP servers send on connect.
    NumberedGreeting,
    /// Other printable text; holds its first line, shortened.
    Text(String),
}

impl fmt::Display for ForeignProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ForeignProtocol::Http => f.write_str("HTTP"),
            ForeignProtocol::Tls => f.write_str("TLS"),
            ForeignProtocol::Ssh => f.write_str("SSH"),
            ForeignProtocol::Redis => f.write_str("Redis"),
            ForeignProtocol::NumberedGreeting => f.write_str("an SMTP or FTP greeting"),
            ForeignProtocol::Text(line) => write!(f, "text: {line:?}"),
        }
    }
}

/// Fewest bytes looked at: the segment-count field that broke the limit.
const MIN_BYTES: usize = 4;

/// Longest first line quoted in [`ForeignProtocol::Text`].
const QUOTE_CHARS: usize = 40;

/// What `head`, the first bytes a peer sent, looks like if it is not Cap'n Proto; `None` when
/// it may be Cap'n Proto (or anything else that is not text).
pub(crate) fn recognise(head: &[u8]) -> Option<ForeignProtocol> {
    if head.len() < MIN_BYTES {
        return None;
    }
    if let [0x14..=0x17, 0x03, ..] = head {
        return Some(ForeignProtocol::Tls);
    }
    let line = first_line(head)?;
    let protocol = if line.starts_with("HTTP/") || is_request_line(line) {
        ForeignProtocol::Http
    } else if line.starts_with("SSH-") {
        ForeignProtocol::Ssh
    } else if line.starts_with("-ERR") || line.starts_with("+OK") || line.starts_with("+PONG") {
        ForeignProtocol::Redis
    } else if is_numbered_greeting(line) {
        ForeignProtocol::NumberedGreeting
    } else {
        ForeignProtocol::Text(line.chars().take(QUOTE_CHARS).collect())
    };
    Some(protocol)
}

/// The first line of `head` (without its line ending) if it is printable ASCII and not empty,
/// and the first [`MIN_BYTES`] bytes are all text (`+OK\r\n` counts; binary does not).
fn first_line(head: &[u8]) -> Option<&str> {
    let printable = |b: &u8| *b == b'\t' || (0x20..0x7f).contains(b);
    if !head[..MIN_BYTES]
        .iter()
        .all(|b| printable(b) || *b == b'\r' || *b == b'\n')
    {
        return None;
    }
    let end = head
        .iter()
        .position(|&b| b == b'\r' || b == b'\n')
        .unwrap_or(head.len());
    let line = &head[..end];
    if line.is_empty() || !line.iter().all(printable) {
        return None;
    }
    std::str::from_utf8(line).ok()
}

fn is_request_line(line: &str) -> bool {
    const METHODS: [&str; 9] = [
        "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "PATCH ", "CONNECT ", "TRACE ",
    ];
    METHODS.iter().any(|m| line.starts_with(m))
}

/// `220 smtp.example.com ESMTP` or `220-...`: three digits and a space or a dash.
fn is_numbered_greeting(line: &str) -> bool {
    let bytes = line.as_bytes();
    bytes.len() >= 4 && bytes[..3].iter().all(u8::is_ascii_digit) && matches!(bytes[3], b' ' | b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_banners_are_named() {
        let cases: [(&[u8], ForeignProtocol); 9] = [
            (b"HTTP/1.1 400 Bad Request\r\n\r\n", ForeignProtocol::Http),
            (b"HTTP/1.0 200 OK", ForeignProtocol::Http),
            (b"GET / HTTP/1.1\r\n", ForeignProtocol::Http),
            (&[0x16, 0x03, 0x01, 0x02, 0x00], ForeignProtocol::Tls),
            (
                &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x32],
                ForeignProtocol::Tls,
            ),
            (b"SSH-2.0-OpenSSH_9.6\r\n", ForeignProtocol::Ssh),
            (
                b"220 mail.example.com ESMTP\r\n",
                ForeignProtocol::NumberedGreeting,
            ),
            (b"-ERR unknown command\r\n", ForeignProtocol::Redis),
            (b"+OK\r\n", ForeignProtocol::Redis),
        ];
        for (bytes, expected) in cases {
            assert_eq!(recognise(bytes), Some(expected), "{bytes:?}");
        }
    }

    #[test]
    fn other_text_is_quoted_by_its_first_line() {
        assert_eq!(
            recognise(b"hello there\nmore"),
            Some(ForeignProtocol::Text("hello there".into()))
        );
        let long = "x".repeat(100);
        match recognise(long.as_bytes()) {
            Some(ForeignProtocol::Text(line)) => assert_eq!(line.len(), QUOTE_CHARS),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn cap_n_proto_and_binary_are_not_text() {
        // A real message: one segment of two words.
        let mut builder = capnp::message::Builder::new_default();
        builder.set_root("hi").expect("set root");
        let bytes = capnp::serialize::write_message_to_words(&builder);
        assert_eq!(recognise(&bytes), None);
        // The largest segment count a reader accepts, and garbage with control bytes.
        assert_eq!(recognise(&[0xfe, 0x01, 0, 0, 1, 0, 0, 0]), None);
        assert_eq!(recognise(b"\x00\x01GET"), None);
        assert_eq!(recognise(b"AB\x00C"), None);
        // Too little to judge, and an empty first line.
        assert_eq!(recognise(b"HTT"), None);
        assert_eq!(recognise(b"\r\n\r\n"), None);
    }
}
