//! The TLS options of `windlass-calc`, and turning them into windlass configurations.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use windlass::tls::{ClientAuth, ClientTls, Fingerprint, ServerTls, TlsError};

/// TLS for `serve`.
#[derive(Args, Debug, Clone)]
pub(crate) struct ServeTls {
    /// Serve TLS with this PEM certificate chain (end-entity first). Needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Ask clients for a certificate signed by a CA in this PEM file (mutual TLS).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    client_ca: Option<PathBuf>,
    /// With --client-ca: refuse clients without a certificate, or serve them too.
    #[arg(long, value_enum, default_value = "required", requires = "client_ca")]
    client_auth: ClientAuthArg,
    /// Refuse TLS 1.2 (default: accept TLS 1.3 and 1.2).
    #[arg(long, requires = "tls_cert")]
    tls13_only: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum ClientAuthArg {
    Required,
    Optional,
}

impl ServeTls {
    /// The server TLS configuration, or `None` for plain TCP.
    pub(crate) fn build(&self) -> Result<Option<ServerTls>, TlsError> {
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(None);
        };
        let mut builder = ServerTls::builder(cert.as_path(), key.as_path());
        if let Some(ca) = &self.client_ca {
            let mode = match self.client_auth {
                ClientAuthArg::Required => ClientAuth::Required,
                ClientAuthArg::Optional => ClientAuth::Optional,
            };
            builder = builder.client_auth(ca.as_path(), mode);
        }
        if self.tls13_only {
            builder = builder.tls13_only();
        }
        builder.build().map(Some)
    }
}

/// TLS for the client commands. Any of these options implies --tls.
#[derive(Args, Debug, Clone, Default)]
pub(crate) struct ConnectTls {
    /// Connect with TLS. Without --ca or --pin-sha256 the server must have a certificate from a
    /// public CA (Mozilla's roots).
    #[arg(long)]
    tls: bool,
    /// Trust the CA certificates in this PEM file (e.g. certs/ca.crt).
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Verify the server's certificate for this name instead of the host in the address (and
    /// send it as SNI), e.g. --server-name localhost when connecting to 127.0.0.1.
    #[arg(long, value_name = "NAME")]
    server_name: Option<String>,
    /// Present this PEM client certificate (for servers that ask). Needs --client-key.
    #[arg(long, value_name = "PEM", requires = "client_key")]
    client_cert: Option<PathBuf>,
    /// The PEM private key of --client-cert.
    #[arg(long, value_name = "PEM", requires = "client_cert")]
    client_key: Option<PathBuf>,
    /// Accept only a server whose certificate has this SHA-256 fingerprint (64 hex digits,
    /// colons allowed; `serve` prints it). Works with self-signed certificates.
    #[arg(long, value_name = "HEX", value_parser = parse_fingerprint)]
    pin_sha256: Option<Fingerprint>,
    /// Refuse TLS 1.2.
    #[arg(long)]
    tls13_only: bool,
}

fn parse_fingerprint(text: &str) -> Result<Fingerprint, String> {
    Fingerprint::from_hex(text).map_err(|e| e.to_string())
}

impl ConnectTls {
    /// Whether any TLS option was given.
    pub(crate) fn wanted(&self) -> bool {
        self.tls
            || self.ca.is_some()
            || self.server_name.is_some()
            || self.client_cert.is_some()
            || self.pin_sha256.is_some()
            || self.tls13_only
    }

    /// The client TLS configuration, or `None` for plain TCP.
    pub(crate) fn build(&self) -> Result<Option<ClientTls>, TlsError> {
        if !self.wanted() {
            return Ok(None);
        }
        let mut builder = ClientTls::builder();
        if let Some(ca) = &self.ca {
            builder = builder.ca(ca.as_path());
        }
        self.finish(builder).map(Some)
    }

    /// Applies every option but the trust roots to `builder`.
    pub(crate) fn finish(
        &self,
        mut builder: windlass::tls::ClientTlsBuilder,
    ) -> Result<ClientTls, TlsError> {
        if let Some(name) = &self.server_name {
            builder = builder.server_name(name);
        }
        if let (Some(cert), Some(key)) = (&self.client_cert, &self.client_key) {
            builder = builder.client_cert(cert.as_path(), key.as_path());
        }
        if let Some(pin) = self.pin_sha256 {
            builder = builder.pin_sha256(pin);
        }
        if self.tls13_only {
            builder = builder.tls13_only();
        }
        builder.build()
    }
}
