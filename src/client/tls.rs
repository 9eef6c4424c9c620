//! The client's TLS handshake, and turning rustls's errors into advice a person can act on.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::{AlertDescription, CertificateError};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use crate::error::ConnectError;
use crate::tls::{ClientTls, PinMismatch};

/// Runs the TLS handshake over `stream` within `timeout`.
pub(crate) async fn handshake(
    stream: TcpStream,
    tls: &ClientTls,
    addr: &str,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, ConnectError> {
    let name = tls.server_name(host(addr))?;
    let handshake = tls.connector().connect(name, stream);
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(ConnectError::HandshakeTimeout {
            addr: addr.to_string(),
            timeout,
        }),
        Ok(Err(e)) => Err(ConnectError::Handshake {
            addr: addr.to_string(),
            reason: explain(&e),
        }),
        Ok(Ok(stream)) => Ok(stream),
    }
}

/// The host part of `host:port` / `[v6]:port`.
fn host(addr: &str) -> &str {
    match addr.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => addr,
    }
}

/// What went wrong in a handshake, and what to do about it.
fn explain(e: &io::Error) -> String {
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return explain_rustls(tls);
    }
    match e.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe => {
            "the server closed the connection during the TLS handshake; is it a plain-TCP \
             server? (then connect without TLS)"
                .to_string()
        }
        _ => e.to_string(),
    }
}

fn explain_rustls(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => "the server's certificate is not signed by a \
                trusted CA; trust the CA that signed it (windlass-calc: --ca PEM)"
                .to_string(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!(
                    "the server's certificate is not valid for the name connected to ({e}); \
                     connect by a name it is valid for or set the name to verify \
                     (windlass-calc: --server-name NAME)"
                )
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                format!("the server's certificate has expired ({e})")
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                format!("the server's certificate is not valid yet ({e}); check the clocks")
            }
            CertificateError::Other(other) => match other.0.downcast_ref::<PinMismatch>() {
                Some(mismatch) => mismatch.to_string(),
                None => format!("the server's certificate was rejected: {e}"),
            },
            _ => format!("the server's certificate was rejected: {e}"),
        },
        rustls::Error::AlertReceived(alert) => explain_alert(*alert),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => format!(
            "the server does not speak TLS ({e}); is it a plain-TCP server? (then connect \
             without TLS)"
        ),
        e => format!("TLS failed: {e}"),
    }
}

fn explain_alert(alert: AlertDescription) -> String {
    match alert {
        AlertDescription::CertificateRequired | AlertDescription::HandshakeFailure => format!(
            "the server refused the handshake ({alert:?}); it may require a client certificate \
             (windlass-calc: --client-cert PEM --client-key PEM)"
        ),
        AlertDescription::UnknownCA | AlertDescription::BadCertificate => format!(
            "the server rejected our client certificate ({alert:?}); it must be signed by a CA \
             the server trusts"
        ),
        AlertDescription::UnsupportedCertificate => format!(
            "the server rejected our client certificate ({alert:?}): its extended key usage does \
             not allow client authentication (is it a server certificate? a client certificate \
             needs the clientAuth purpose)"
        ),
        AlertDescription::ProtocolVersion => {
            format!("the server refused the TLS version ({alert:?}); it may require TLS 1.3")
        }
        alert => format!("the server refused the handshake: {alert:?}"),
    }
}

/// A reader that rewrites TLS errors surfacing after the handshake — in TLS 1.3 the server
/// checks our certificate only after the client considers the handshake done — into the same
/// advice, so the first call fails with a message that says what to do.
pub(crate) struct Hinted<R> {
    inner: R,
    /// Whether anything has been read: a server that refuses us does so before its first byte.
    got_data: bool,
    presents_certificate: bool,
}

impl<R> Hinted<R> {
    pub(crate) fn new(inner: R, tls: &ClientTls) -> Self {
        Hinted {
            inner,
            got_data: false,
            presents_certificate: tls.presents_certificate(),
        }
    }

    fn hint(&self, e: io::Error) -> io::Error {
        if let Some(tls) = e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return io::Error::new(e.kind(), explain_rustls(tls));
        }
        // OpenSSL-based servers (pycapnp, C++ kj) refusing a client without a certificate
        // simply close the connection after the handshake, without an alert.
        if !self.got_data && !self.presents_certificate && closed_early(&e) {
            return io::Error::new(
                e.kind(),
                format!(
                    "the server closed the connection right after the TLS handshake ({e}); it \
                     may require a client certificate (windlass-calc: --client-cert PEM \
                     --client-key PEM)"
                ),
            );
        }
        e
    }
}

fn closed_early(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

impl<R: AsyncRead + Unpin> AsyncRead for Hinted<R> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Err(e)) => {
                let hinted = self.hint(e);
                Poll::Ready(Err(hinted))
            }
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.got_data = true;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_out_of_addresses() {
        assert_eq!(host("localhost:4000"), "localhost");
        assert_eq!(host("127.0.0.1:1"), "127.0.0.1");
        assert_eq!(host("[::1]:4000"), "[::1]");
        assert_eq!(host("example.com"), "example.com");
    }
}
