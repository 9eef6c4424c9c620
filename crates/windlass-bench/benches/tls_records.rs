//! What TLS itself costs per call: rustls (ring provider, TLS 1.3, the suite it negotiates) in
//! memory, no sockets, no runtime — a client and a server connection exchanging the bytes of one
//! sequential Calculator call (416 bytes out, 192 back) as records, over and over.
//!
//! ```text
//! cargo bench --bench tls_records                # 200 000 round trips
//! cargo bench --bench tls_records -- 50000       # fewer
//! ```
//!
//! Each round trip encrypts and decrypts two records (one each way): the floor under what
//! `bench seq --tls` can add to `bench seq`. Compare it with the server CPU per call that
//! `windlass-calc bench seq` prints (BENCHMARKS.md).

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::{ClientConnection, ServerConnection};

const REQUEST_BYTES: usize = 416;
const RESPONSE_BYTES: usize = 192;

fn main() {
    let rounds: u32 = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .map_or(200_000, |a| {
            a.parse().unwrap_or_else(|e| {
                eprintln!("error: round trips {a:?}: {e}");
                std::process::exit(2)
            })
        });
    let (mut client, mut server) = connected_pair();
    let suite = client
        .negotiated_cipher_suite()
        .map_or_else(|| "?".to_string(), |s| format!("{:?}", s.suite()));
    let request = vec![7u8; REQUEST_BYTES];
    let response = vec![9u8; RESPONSE_BYTES];
    let mut buf = vec![0u8; 4096];
    let mut wire = Vec::with_capacity(4096);
    // A short warm-up, then the timed rounds.
    for count in [rounds / 10 + 1, rounds.max(1)] {
        let start = Instant::now();
        for _ in 0..count {
            exchange(&mut client, &mut server, &request, &mut wire, &mut buf);
            exchange(&mut server, &mut client, &response, &mut wire, &mut buf);
        }
        let elapsed = start.elapsed();
        if count == rounds.max(1) {
            println!(
                "tls records: {suite}, {REQUEST_BYTES} B out and {RESPONSE_BYTES} B back per round \
                 trip: {:.0} ns per round trip ({count} round trips; client and server together, \
                 2 records encrypted and 2 decrypted)",
                elapsed.as_nanos() as f64 / f64::from(count)
            );
        }
    }
}

/// `payload` written as plaintext on `from`, carried as TLS records to `to`, read back there.
fn exchange<A, B, DA, DB>(
    from: &mut A,
    to: &mut B,
    payload: &[u8],
    wire: &mut Vec<u8>,
    buf: &mut [u8],
) where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<DA>>,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<DB>>,
    DA: rustls::SideData,
    DB: rustls::SideData,
{
    from.writer()
        .write_all(payload)
        .expect("plaintext accepted");
    transfer(from, to, wire);
    let mut got = 0;
    while got < payload.len() {
        got += to.reader().read(&mut buf[got..]).expect("plaintext ready");
    }
    assert_eq!(&buf[..got], payload);
}

/// Moves every pending TLS byte from `from` to `to` and lets `to` process it.
fn transfer<A, B, DA, DB>(from: &mut A, to: &mut B, wire: &mut Vec<u8>)
where
    A: std::ops::DerefMut<Target = rustls::ConnectionCommon<DA>>,
    B: std::ops::DerefMut<Target = rustls::ConnectionCommon<DB>>,
    DA: rustls::SideData,
    DB: rustls::SideData,
{
    wire.clear();
    while from.wants_write() {
        from.write_tls(wire).expect("write to a Vec");
    }
    let mut bytes = &wire[..];
    while !bytes.is_empty() {
        to.read_tls(&mut bytes).expect("read from a slice");
        to.process_new_packets().expect("valid records");
    }
}

/// A client and a server connection with the handshake done, on a fresh self-signed certificate.
fn connected_pair() -> (ClientConnection, ServerConnection) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).expect("certificate");
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(vec![der.clone()], key)
        .expect("server certificate");
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).expect("root");
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("localhost").expect("server name");
    let mut client = ClientConnection::new(Arc::new(client_config), name).expect("client");
    let mut server = ServerConnection::new(Arc::new(server_config)).expect("server");
    let mut wire = Vec::new();
    while client.is_handshaking() || server.is_handshaking() {
        transfer(&mut client, &mut server, &mut wire);
        transfer(&mut server, &mut client, &mut wire);
    }
    // The server's session tickets.
    transfer(&mut server, &mut client, &mut wire);
    (client, server)
}
