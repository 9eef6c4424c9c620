//! Certificates and keys from PEM, with errors that name the file and what was wrong in it.

use std::fmt;
use std::path::{Path, PathBuf};

use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::TlsError;

/// Where PEM text comes from: a file (read when the configuration is built) or bytes in memory.
#[derive(Clone)]
pub enum PemSource {
    /// A file path.
    File(PathBuf),
    /// PEM text already in memory, with a label used in error messages.
    Memory {
        /// What to call it in errors, e.g. `"embedded server.crt"`.
        label: String,
        /// The PEM text.
        pem: Vec<u8>,
    },
}

impl PemSource {
    /// PEM text in memory, called `label` in error messages.
    pub fn memory(label: impl Into<String>, pem: impl Into<Vec<u8>>) -> Self {
        PemSource::Memory {
            label: label.into(),
            pem: pem.into(),
        }
    }

    fn read(&self) -> Result<Vec<u8>, TlsError> {
        match self {
            PemSource::File(path) => std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.clone(),
                source,
            }),
            PemSource::Memory { pem, .. } => Ok(pem.clone()),
        }
    }

    fn error(&self, reason: impl Into<String>) -> TlsError {
        TlsError::Pem {
            source_name: self.to_string(),
            reason: reason.into(),
        }
    }
}

impl From<&Path> for PemSource {
    fn from(path: &Path) -> Self {
        PemSource::File(path.to_path_buf())
    }
}

impl From<PathBuf> for PemSource {
    fn from(path: PathBuf) -> Self {
        PemSource::File(path)
    }
}

impl From<&str> for PemSource {
    /// A file path.
    fn from(path: &str) -> Self {
        PemSource::File(PathBuf::from(path))
    }
}

impl fmt::Display for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PemSource::File(path) => write!(f, "{}", path.display()),
            PemSource::Memory { label, .. } => f.write_str(label),
        }
    }
}

impl fmt::Debug for PemSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print PEM contents: they may be a private key.
        write!(f, "PemSource({self})")
    }
}

/// Every certificate in `source`, in order (end-entity first for a chain).
pub(crate) fn certificates(source: &PemSource) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = source.read()?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| source.error(format!("malformed PEM: {e}")))?;
    if certs.is_empty() {
        return Err(source.error(no_items(&pem, "CERTIFICATE")));
    }
    Ok(certs)
}

/// The first private key in `source`: PKCS#8 (`PRIVATE KEY`), PKCS#1 (`RSA PRIVATE KEY`) or
/// SEC1 (`EC PRIVATE KEY`).
pub(crate) fn private_key(source: &PemSource) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = source.read()?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => source.error(no_items(&pem, "PRIVATE KEY")),
        e => source.error(format!("malformed PEM: {e}")),
    })
}

/// A root store holding every certificate in `source`.
pub(crate) fn roots(source: &PemSource) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for cert in certificates(source)? {
        store
            .add(cert)
            .map_err(|e| source.error(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(store)
}

/// Explains an empty result: say what the file holds instead when it is PEM of another kind.
fn no_items(pem: &[u8], wanted: &str) -> String {
    let text = String::from_utf8_lossy(pem);
    let found: Vec<&str> = text
        .lines()
        .filter_map(|line| line.strip_prefix("-----BEGIN ")?.strip_suffix("-----"))
        .collect();
    if found.is_empty() {
        format!("no PEM section found (expected -----BEGIN {wanted}-----)")
    } else {
        format!("no {wanted} found; the file holds: {}", found.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_source_and_the_problem() {
        let src = PemSource::memory("test.crt", "hello");
        let err = certificates(&src).expect_err("not PEM").to_string();
        assert!(err.contains("test.crt"), "{err}");
        assert!(err.contains("no PEM section found"), "{err}");

        let src = PemSource::memory(
            "key.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let err = private_key(&src).expect_err("no key").to_string();
        assert!(
            err.contains("no PRIVATE KEY found; the file holds: CERTIFICATE"),
            "{err}"
        );

        let src = PemSource::memory(
            "bad.crt",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        );
        let err = certificates(&src).expect_err("bad base64").to_string();
        assert!(
            err.contains("bad.crt") && err.contains("malformed PEM"),
            "{err}"
        );

        let src = PemSource::File(PathBuf::from("/nonexistent/windlass.crt"));
        let err = certificates(&src).expect_err("missing").to_string();
        assert!(err.contains("/nonexistent/windlass.crt"), "{err}");
    }
}
