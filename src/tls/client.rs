//! Client-side TLS configuration, including certificate pinning.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::{key_error, pem, provider, versions, Fingerprint, PemSource, TlsError};

/// A client's TLS configuration; build it with [`ClientTls::builder`].
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
    server_name: Option<ServerName<'static>>,
    presents_certificate: bool,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// Starts a configuration. With nothing else set, the server is verified against the
    /// Mozilla root certificates (`webpki-roots`), like a browser would.
    pub fn builder() -> ClientTlsBuilder {
        ClientTlsBuilder::default()
    }

    /// Uses a rustls configuration built by the caller as it is.
    pub fn from_config(config: Arc<rustls::ClientConfig>) -> Self {
        let presents_certificate = config.client_auth_cert_resolver.has_certs();
        ClientTls {
            config,
            server_name: None,
            presents_certificate,
        }
    }

    /// The rustls configuration, for a connection of the caller's own (a wss or https client,
    /// say) that verifies the server as this one does.
    pub fn rustls_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }

    /// Whether this configuration presents a client certificate when asked.
    pub(crate) fn presents_certificate(&self) -> bool {
        self.presents_certificate
    }

    pub(crate) fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(self.config.clone())
    }

    /// The name to send as SNI and verify the certificate against: the override if one was
    /// set, else `host` (a DNS name or an IP address).
    pub(crate) fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        match &self.server_name {
            Some(name) => Ok(name.clone()),
            None => parse_server_name(host),
        }
    }
}

fn parse_server_name(name: &str) -> Result<ServerName<'static>, TlsError> {
    // `[::1]` as written in an address is `::1` as a name.
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_string()).map_err(|_| TlsError::ServerName(name.to_string()))
}

/// Builds a [`ClientTls`]. Defaults: Mozilla roots, server name taken from the address, no
/// client certificate, no pin, TLS 1.3 and 1.2.
#[derive(Debug, Clone, Default)]
pub struct ClientTlsBuilder {
    ca: Vec<PemSource>,
    webpki_roots: bool,
    server_name: Option<String>,
    identity: Option<(PemSource, PemSource)>,
    pin: Option<Fingerprint>,
    tls13_only: bool,
    insecure_skip_verification: bool,
}

impl ClientTlsBuilder {
    /// Trusts the CA certificates in `roots` (may be called more than once). Once any CA is
    /// given, the Mozilla roots are no longer trusted unless [`Self::webpki_roots`] is called.
    pub fn ca(mut self, roots: impl Into<PemSource>) -> Self {
        self.ca.push(roots.into());
        self
    }

    /// Also trusts the Mozilla root certificates. Default: only when no CA and no pin is set.
    pub fn webpki_roots(mut self) -> Self {
        self.webpki_roots = true;
        self
    }

    /// Sends `name` as SNI and verifies the certificate against it instead of the host in the
    /// address — e.g. connect to `127.0.0.1:4000` and verify `localhost`. Default: the host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Presents this certificate chain and key (PKCS#8, PKCS#1 or SEC1) to servers that ask.
    /// Default: none.
    pub fn client_cert(
        mut self,
        cert_chain: impl Into<PemSource>,
        key: impl Into<PemSource>,
    ) -> Self {
        self.identity = Some((cert_chain.into(), key.into()));
        self
    }

    /// Accepts only a server whose end-entity certificate has this SHA-256 fingerprint.
    ///
    /// With no CA configured, the pin alone decides (so self-signed certificates work) and the
    /// name is not checked: the pin already names exactly one certificate. With a CA, the chain
    /// and name are verified as well. The handshake signature is always verified, so the server
    /// must hold the pinned certificate's private key.
    pub fn pin_sha256(mut self, fingerprint: Fingerprint) -> Self {
        self.pin = Some(fingerprint);
        self
    }

    /// Refuses TLS 1.2. Default: both 1.3 and 1.2.
    pub fn tls13_only(mut self) -> Self {
        self.tls13_only = true;
        self
    }

    /// **Insecure:** accepts any server certificate without verification, so anyone on the path
    /// can read and change the traffic. For debugging only; not reachable from the CLI.
    pub fn insecure_skip_verification(mut self) -> Self {
        self.insecure_skip_verification = true;
        self
    }

    /// Reads the PEM sources and assembles the configuration.
    ///
    /// # Errors
    /// [`TlsError`] naming the file and what was wrong with it, or an invalid server name.
    pub fn build(self) -> Result<ClientTls, TlsError> {
        let provider = provider();
        let server_name = self
            .server_name
            .as_deref()
            .map(parse_server_name)
            .transpose()?;
        let verifier = self.verifier(&provider)?;
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions(self.tls13_only))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => builder
                .with_client_auth_cert(pem::certificates(cert)?, pem::private_key(key)?)
                .map_err(|e| key_error(e, cert, key))?,
        };
        Ok(ClientTls {
            config: Arc::new(config),
            server_name,
            presents_certificate: self.identity.is_some(),
        })
    }

    fn verifier(
        &self,
        provider: &Arc<CryptoProvider>,
    ) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
        let algorithms = provider.signature_verification_algorithms;
        if self.insecure_skip_verification {
            return Ok(Arc::new(Verifier {
                chain: None,
                pin: None,
                algorithms,
            }));
        }
        let mut roots = RootCertStore::empty();
        for source in &self.ca {
            roots.roots.extend(pem::roots(source)?.roots);
        }
        if self.webpki_roots || (self.ca.is_empty() && self.pin.is_none()) {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        let chain = if roots.is_empty() {
            None
        } else {
            let verifier =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()?;
            Some(verifier as Arc<dyn ServerCertVerifier>)
        };
        Ok(Arc::new(Verifier {
            chain,
            pin: self.pin,
            algorithms,
        }))
    }
}

/// The server certificate did not have the pinned fingerprint.
#[derive(Debug, thiserror::Error)]
#[error("certificate pin mismatch: expected SHA-256 {expected}, the server presented {actual}")]
pub struct PinMismatch {
    /// The pinned fingerprint.
    pub expected: Fingerprint,
    /// The fingerprint of the certificate the server presented.
    pub actual: Fingerprint,
}

/// Chain verification (when roots are configured), then the pin (when one is set).
#[derive(Debug)]
struct Verifier {
    chain: Option<Arc<dyn ServerCertVerifier>>,
    pin: Option<Fingerprint>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(chain) = &self.chain {
            chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if let Some(expected) = self.pin {
            let actual = Fingerprint::of(end_entity);
            if actual != expected {
                let mismatch = PinMismatch { expected, actual };
                return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(mismatch)),
                )));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
