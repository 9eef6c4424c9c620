//! Server-side TLS configuration.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;

use super::{key_error, pem, provider, versions, Fingerprint, PemSource, TlsError};

/// Whether a server asks clients for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Every client must present a certificate signed by the trusted roots.
    Required,
    /// Clients may present one (then it must verify); clients without one are served too, and
    /// the bootstrap factory sees no certificate.
    Optional,
}

/// A server's TLS configuration; build it with [`ServerTls::builder`] or wrap a ready rustls
/// config with [`ServerTls::from_config`].
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<rustls::ServerConfig>,
    fingerprint: Option<Fingerprint>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl ServerTls {
    /// Starts a configuration from a PEM certificate chain (end-entity first) and its private
    /// key (PKCS#8, PKCS#1 or SEC1). Files are read by [`ServerTlsBuilder::build`].
    pub fn builder(
        cert_chain: impl Into<PemSource>,
        key: impl Into<PemSource>,
    ) -> ServerTlsBuilder {
        ServerTlsBuilder {
            cert_chain: cert_chain.into(),
            key: key.into(),
            client_auth: None,
            tls13_only: false,
        }
    }

    /// Uses a rustls configuration built by the caller as it is.
    pub fn from_config(config: Arc<rustls::ServerConfig>) -> Self {
        ServerTls {
            config,
            fingerprint: None,
        }
    }

    /// The SHA-256 fingerprint of the server's certificate, for clients to pin. `None` for a
    /// configuration made with [`ServerTls::from_config`].
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.fingerprint
    }

    /// The rustls configuration, for a listener of the caller's own that serves TLS with the
    /// same certificate and client authentication (windlass-web's https/wss, say).
    pub fn rustls_config(&self) -> Arc<rustls::ServerConfig> {
        self.config.clone()
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.config.clone())
    }
}

/// Builds a [`ServerTls`]. Defaults: no client authentication, TLS 1.3 and 1.2.
#[derive(Debug, Clone)]
pub struct ServerTlsBuilder {
    cert_chain: PemSource,
    key: PemSource,
    client_auth: Option<(PemSource, ClientAuth)>,
    tls13_only: bool,
}

impl ServerTlsBuilder {
    /// Asks clients for a certificate signed by one of the CAs in `roots`; `mode` says whether
    /// a client without one is refused. Default: clients are not asked.
    pub fn client_auth(mut self, roots: impl Into<PemSource>, mode: ClientAuth) -> Self {
        self.client_auth = Some((roots.into(), mode));
        self
    }

    /// Refuses TLS 1.2. Default: both 1.3 and 1.2 are accepted.
    pub fn tls13_only(mut self) -> Self {
        self.tls13_only = true;
        self
    }

    /// Reads the PEM sources and checks them: the certificate parses, the key parses and
    /// belongs to the certificate, the client-auth roots are usable CA certificates.
    ///
    /// # Errors
    /// [`TlsError`] naming the file and what was wrong with it.
    pub fn build(self) -> Result<ServerTls, TlsError> {
        let chain = pem::certificates(&self.cert_chain)?;
        let key = pem::private_key(&self.key)?;
        let fingerprint = chain.first().map(|cert| Fingerprint::of(cert));
        let provider = provider();
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions(self.tls13_only))?;
        let builder = match &self.client_auth {
            None => builder.with_no_client_auth(),
            Some((roots, mode)) => {
                let roots = Arc::new(pem::roots(roots)?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
                let verifier = match mode {
                    ClientAuth::Required => verifier,
                    ClientAuth::Optional => verifier.allow_unauthenticated(),
                };
                builder.with_client_cert_verifier(verifier.build()?)
            }
        };
        let config = builder
            .with_single_cert(chain, key)
            .map_err(|e| key_error(e, &self.cert_chain, &self.key))?;
        Ok(ServerTls {
            config: Arc::new(config),
            fingerprint,
        })
    }
}
