//! TLS and mutual TLS for servers and clients (feature `tls`), with rustls and the `ring`
//! provider passed explicitly — windlass never installs or relies on a process-wide provider.
//!
//! - [`ServerTls`]: certificate chain + key from PEM (PKCS#8, PKCS#1 or SEC1) or a ready
//!   `rustls::ServerConfig`; optional client-certificate authentication, required or optional.
//!   The verified client certificate reaches the bootstrap factory through
//!   [`crate::server::ConnectionInfo::peer_certificate`].
//! - [`ClientTls`]: trust roots from PEM (or the Mozilla roots), a server-name override for
//!   connecting by IP, a client certificate, and pinning by SHA-256 [`Fingerprint`].
//!
//! TLS 1.3 and 1.2 are accepted by default; `tls13_only()` on either builder refuses 1.2.
//! Whatever weakens verification is named `insecure_*` and is absent from the CLI.
//!
//! The development certificates in `certs/` are embedded in `dev` (feature `dev-certs`, off by
//! default) for the demo, examples and tests; a production build cannot link their keys.

mod client;
#[cfg(feature = "dev-certs")]
pub mod dev;
mod pem;
mod server;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

pub use client::{ClientTls, ClientTlsBuilder, PinMismatch};
pub use pem::PemSource;
pub use server::{ClientAuth, ServerTls, ServerTlsBuilder};

/// Building a TLS configuration failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A PEM file or buffer did not hold what was expected.
    #[error("{source_name}: {reason}")]
    Pem {
        /// The file path or label.
        source_name: String,
        /// What was wrong.
        reason: String,
    },
    /// The private key does not belong to the certificate.
    #[error("the private key in {key} does not match the certificate in {cert}")]
    KeyMismatch {
        /// The certificate's source.
        cert: String,
        /// The key's source.
        key: String,
    },
    /// The name to verify the server against is not a valid DNS name or IP address.
    #[error("invalid server name `{0}`: expected a DNS name or an IP address")]
    ServerName(String),
    /// A SHA-256 fingerprint did not parse.
    #[error("invalid SHA-256 fingerprint `{0}`: expected 64 hex digits (colons allowed)")]
    Fingerprint(String),
    /// rustls refused the configuration.
    #[error("invalid TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// rustls could not build a certificate verifier from the roots given.
    #[error("cannot build a certificate verifier: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// The SHA-256 digest of a DER certificate: what `--pin-sha256` takes and `serve` prints.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(digest.as_ref());
        Fingerprint(bytes)
    }

    /// Parses 64 hex digits, upper or lower case, optionally separated by colons (as
    /// `openssl x509 -fingerprint -sha256` prints them).
    ///
    /// # Errors
    /// [`TlsError::Fingerprint`] when it is not 32 bytes of hex.
    pub fn from_hex(text: &str) -> Result<Self, TlsError> {
        let digits: Vec<u8> = text
            .bytes()
            .filter(|b| *b != b':' && !b.is_ascii_whitespace())
            .collect();
        let invalid = || TlsError::Fingerprint(text.to_string());
        if digits.len() != 64 {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Fingerprint(bytes))
    }

    /// The 32 digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// 64 lowercase hex digits, no separators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = TlsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Fingerprint::from_hex(s)
    }
}

/// A certificate the peer presented and TLS verified.
#[derive(Clone, Debug)]
pub struct PeerCertificate {
    der: Arc<[u8]>,
    subject: String,
    fingerprint: Fingerprint,
}

impl PeerCertificate {
    /// The certificate of DER encoding `der`, as TLS verified it (e.g. the first of rustls's
    /// `peer_certificates()`); its subject is empty if it does not parse.
    pub fn from_der(der: &[u8]) -> Self {
        let subject = match x509_parser::parse_x509_certificate(der) {
            Ok((_, cert)) => cert.subject().to_string(),
            // Verified certificates always parse; keep going with an empty subject if not.
            Err(_) => String::new(),
        };
        PeerCertificate {
            der: der.into(),
            subject,
            fingerprint: Fingerprint::of(der),
        }
    }

    /// The subject distinguished name, e.g. `CN=windlass development client, O=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// The SHA-256 fingerprint of the certificate.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The DER encoding, for deeper inspection.
    pub fn der(&self) -> &[u8] {
        &self.der
    }
}

/// The crypto provider every windlass configuration uses: rustls's `ring` provider.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The protocol versions a builder allows.
pub(crate) fn versions(tls13_only: bool) -> &'static [&'static rustls::SupportedProtocolVersion] {
    static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    static TLS13_AND_12: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    if tls13_only {
        &TLS13_ONLY
    } else {
        &TLS13_AND_12
    }
}

/// Turns rustls's key-consistency error into one that names both files.
pub(crate) fn key_error(e: rustls::Error, cert: &PemSource, key: &PemSource) -> TlsError {
    match e {
        rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
            cert: cert.to_string(),
            key: key.to_string(),
        },
        e => TlsError::Pem {
            source_name: key.to_string(),
            reason: format!("unusable private key: {e}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_in_both_common_spellings() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let fp = Fingerprint::from_hex(hex).expect("plain hex");
        assert_eq!(fp.to_string(), hex.to_lowercase());
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(Fingerprint::from_hex(&colons).expect("colons"), fp);
        assert!(Fingerprint::from_hex("abc").is_err());
        assert!(Fingerprint::from_hex(&"zz".repeat(32)).is_err());
        assert!(Fingerprint::from_hex(&"éé".repeat(16)).is_err());
    }

    #[test]
    fn fingerprint_is_sha256_of_der() {
        // SHA-256 of the empty string.
        assert_eq!(
            Fingerprint::of(b"").to_string(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
