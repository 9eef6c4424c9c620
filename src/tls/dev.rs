//! The development certificates from `certs/`, embedded for the demo and tests.
//!
//! **Test-only.** Their private keys are in the repository: anyone can impersonate a server or
//! client that uses them. They exist so that `windlass-calc demo` runs over TLS out of the box.
//! Regenerate with `cargo run --example gen_certs`.

use super::{ClientTls, ClientTlsBuilder, PemSource, ServerTls, ServerTlsBuilder};

/// `certs/ca.crt`: the development CA that signed the server and client certificates.
pub const CA_CERT: &[u8] = include_bytes!("../../certs/ca.crt");
/// `certs/server.crt`: valid for `localhost`, `127.0.0.1` and `::1`.
pub const SERVER_CERT: &[u8] = include_bytes!("../../certs/server.crt");
/// `certs/server.key`.
pub const SERVER_KEY: &[u8] = include_bytes!("../../certs/server.key");
/// `certs/client.crt`: a client certificate signed by the development CA.
pub const CLIENT_CERT: &[u8] = include_bytes!("../../certs/client.crt");
/// `certs/client.key`.
pub const CLIENT_KEY: &[u8] = include_bytes!("../../certs/client.key");

/// A server builder with the development server certificate.
pub fn server() -> ServerTlsBuilder {
    ServerTls::builder(
        PemSource::memory("embedded certs/server.crt", SERVER_CERT),
        PemSource::memory("embedded certs/server.key", SERVER_KEY),
    )
}

/// A client builder trusting the development CA.
pub fn client() -> ClientTlsBuilder {
    ClientTls::builder().ca(PemSource::memory("embedded certs/ca.crt", CA_CERT))
}

/// The development CA as a [`PemSource`], e.g. for [`super::ServerTlsBuilder::client_auth`].
pub fn ca() -> PemSource {
    PemSource::memory("embedded certs/ca.crt", CA_CERT)
}

/// The development client certificate and key as [`PemSource`]s.
pub fn client_identity() -> (PemSource, PemSource) {
    (
        PemSource::memory("embedded certs/client.crt", CLIENT_CERT),
        PemSource::memory("embedded certs/client.key", CLIENT_KEY),
    )
}
