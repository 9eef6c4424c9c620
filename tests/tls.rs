//! TLS and mutual TLS over real handshakes on 127.0.0.1: the full Calculator scenario, and every
//! misconfiguration a person can make, each with a message that says what to do.
#![cfg(feature = "tls")]

#[path = "common/certgen.rs"]
mod certgen;
mod common;

use std::sync::Arc;
use std::time::Duration;

use common::tls_servers::{mtls_server, server};
use common::{eval, run_local};
use tokio::io::AsyncReadExt;
use windlass::client::{Connection, Connector};
use windlass::server::{Options, ServerHandle};
use windlass::tls::{self, ClientAuth, ClientTls, Fingerprint, PemSource, ServerTls};
use windlass::ConnectError;
use windlass_calculator::Calculator;

fn pem(label: &str, text: &str) -> PemSource {
    PemSource::memory(label, text.as_bytes().to_vec())
}

fn dev_server() -> ServerHandle {
    let tls = tls::dev::server().build().expect("dev server config");
    server(Options::new().with_tls(tls)).0
}

async fn connect(addr: &str, tls: ClientTls) -> Result<Connection, ConnectError> {
    Connector::new(addr).with_tls(tls).connect().await
}

fn dev_client() -> ClientTls {
    tls::dev::client().build().expect("dev client config")
}

/// The handshake error's message, which must be one.
fn handshake_error(result: Result<Connection, ConnectError>) -> String {
    match result {
        Ok(_) => panic!("the connection should have failed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn optional_client_auth_serves_clients_with_and_without_certificates() {
    let (server, seen) = mtls_server(ClientAuth::Optional);
    let addr = server.local_addr().to_string();
    run_local(async move {
        let conn = connect(&addr, dev_client())
            .await
            .expect("without a certificate");
        assert_eq!(eval(&conn.bootstrap(), "1 + 2").await.expect("served"), 3.0);
        let (cert, key) = tls::dev::client_identity();
        let with = tls::dev::client()
            .client_cert(cert, key)
            .build()
            .expect("config");
        let conn = connect(&addr, with).await.expect("with a certificate");
        assert_eq!(eval(&conn.bootstrap(), "2 + 2").await.expect("served"), 4.0);
    });
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen[0], "none");
    assert!(seen[1].contains("windlass development client"), "{seen:?}");
}

#[test]
fn a_client_without_a_certificate_is_refused_when_one_is_required() {
    let (server, _) = mtls_server(ClientAuth::Required);
    let addr = server.local_addr().to_string();
    run_local(async move {
        // In TLS 1.3 the client finishes its side of the handshake before the server checks for
        // a certificate, so the refusal may arrive at connect or at the first call.
        let message = match connect(&addr, dev_client()).await {
            Err(e) => e.to_string(),
            Ok(conn) => {
                let calc: Calculator = conn.bootstrap();
                let result = tokio::time::timeout(Duration::from_secs(10), eval(&calc, "1"))
                    .await
                    .expect("fails fast, no hang");
                result.expect_err("refused").to_string()
            }
        };
        assert!(message.contains("client certificate"), "{message}");
    });
}

#[test]
fn a_plain_client_on_a_tls_port_is_told_to_use_tls() {
    let server = dev_server();
    let addr = server.local_addr();
    run_local(async move {
        let conn = windlass::client::connect(&addr.to_string())
            .await
            .expect("TCP connects");
        let calc: Calculator = conn.bootstrap();
        let err = tokio::time::timeout(Duration::from_secs(10), eval(&calc, "1 + 1"))
            .await
            .expect("fails fast, no hang")
            .expect_err("a TLS server cannot answer plain RPC");
        assert!(
            err.to_string().contains("this server requires TLS"),
            "{err}"
        );
    });
}

#[test]
fn a_tls_client_on_a_plain_port_is_told_it_is_plain() {
    let server = common::calculator_server();
    let addr = server.local_addr().to_string();
    run_local(async move {
        let result = tokio::time::timeout(Duration::from_secs(10), connect(&addr, dev_client()))
            .await
            .expect("fails fast, no hang");
        let message = handshake_error(result);
        assert!(message.contains("plain-TCP server"), "{message}");
    });
}

#[test]
fn an_unknown_ca_is_reported_as_such() {
    let server = dev_server();
    let addr = server.local_addr().to_string();
    let other = certgen::Authority::new("some other CA", certgen::LONG).expect("CA");
    run_local(async move {
        let client = ClientTls::builder()
            .ca(pem("other-ca.crt", &other.pem.cert))
            .build()
            .expect("config");
        let message = handshake_error(connect(&addr, client).await);
        assert!(message.contains("not signed by a trusted CA"), "{message}");
    });
}

#[test]
fn a_wrong_server_name_is_reported_with_the_names_the_certificate_has() {
    let server = dev_server();
    let addr = server.local_addr().to_string();
    run_local(async move {
        let client = tls::dev::client()
            .server_name("example.com")
            .build()
            .expect("config");
        let message = handshake_error(connect(&addr, client).await);
        assert!(message.contains("not valid for the name"), "{message}");
        assert!(message.contains("example.com"), "{message}");
        assert!(message.contains("--server-name"), "{message}");

        // The override in the right direction: connect by IP, verify `localhost`.
        let client = tls::dev::client()
            .server_name("localhost")
            .build()
            .expect("config");
        let conn = connect(&addr, client).await.expect("verified as localhost");
        assert_eq!(
            eval(&conn.bootstrap(), "5 * 5").await.expect("served"),
            25.0
        );
    });
}

#[test]
fn an_expired_certificate_is_reported_as_expired() {
    let ca = certgen::Authority::new("expiry CA", certgen::LONG).expect("CA");
    let leaf = ca
        .server(&["localhost", "127.0.0.1"], certgen::EXPIRED)
        .expect("leaf");
    let tls = ServerTls::builder(
        pem("expired.crt", &leaf.cert),
        pem("expired.key", &leaf.key),
    )
    .build()
    .expect("rustls serves expired certificates; clients refuse them");
    let (server, _) = server(Options::new().with_tls(tls));
    let addr = server.local_addr().to_string();
    run_local(async move {
        let client = ClientTls::builder()
            .ca(pem("ca.crt", &ca.pem.cert))
            .build()
            .expect("config");
        let message = handshake_error(connect(&addr, client).await);
        assert!(message.contains("expired"), "{message}");
    });
}

#[test]
fn pinning_accepts_exactly_the_pinned_self_signed_certificate() {
    let own = certgen::self_signed_server(&["localhost"]).expect("self-signed");
    let tls = ServerTls::builder(pem("self.crt", &own.cert), pem("self.key", &own.key))
        .build()
        .expect("config");
    let fingerprint = tls.fingerprint().expect("built from PEM");
    let (server, _) = server(Options::new().with_tls(tls));
    let addr = server.local_addr().to_string();
    run_local(async move {
        let pinned = ClientTls::builder()
            .pin_sha256(fingerprint)
            .build()
            .expect("config");
        let conn = connect(&addr, pinned).await.expect("the pin matches");
        assert_eq!(
            eval(&conn.bootstrap(), "6 * 7").await.expect("served"),
            42.0
        );

        let wrong = Fingerprint::from_hex(&"ab".repeat(32)).expect("hex");
        let client = ClientTls::builder()
            .pin_sha256(wrong)
            .build()
            .expect("config");
        let message = handshake_error(connect(&addr, client).await);
        assert!(message.contains("pin mismatch"), "{message}");
        assert!(
            message.contains(&wrong.to_string()),
            "shows the expected one: {message}"
        );
        assert!(
            message.contains(&fingerprint.to_string()),
            "shows the actual one: {message}"
        );
    });
}

#[test]
fn a_tls13_only_server_refuses_a_tls12_only_client_cleanly() {
    let tls = tls::dev::server().tls13_only().build().expect("config");
    let (server, _) = server(Options::new().with_tls(tls));
    let addr = server.local_addr().to_string();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .expect("versions")
    .with_root_certificates({
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::pem::PemObject::pem_slice_iter(tls::dev::CA_CERT) {
            roots
                .add(cert.expect("dev CA parses"))
                .expect("usable root");
        }
        roots
    })
    .with_no_client_auth();
    config.alpn_protocols.clear();
    run_local(async move {
        let message =
            handshake_error(connect(&addr, ClientTls::from_config(Arc::new(config))).await);
        assert!(
            message.contains("ProtocolVersion") || message.contains("version"),
            "{message}"
        );
    });
}

#[test]
fn a_silent_peer_is_dropped_after_the_handshake_timeout() {
    let tls = tls::dev::server().build().expect("config");
    let options = Options::new()
        .with_tls(tls)
        .with_handshake_timeout(Duration::from_millis(200));
    let (server, _) = server(options);
    let addr = server.local_addr();
    run_local(async move {
        let mut silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut buf = [0u8; 16];
        let closed = tokio::time::timeout(Duration::from_secs(10), silent.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "server kept a silent peer: {closed:?}"
        );
    });
}

#[test]
fn pem_problems_name_the_file_and_the_problem() {
    let dir = std::env::temp_dir().join(format!("windlass-pem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let missing = dir.join("missing.crt");
    let err = ServerTls::builder(missing.as_path(), missing.as_path())
        .build()
        .expect_err("missing");
    assert!(err.to_string().contains("missing.crt"), "{err}");
    assert!(err.to_string().starts_with("cannot read"), "{err}");

    let garbage = dir.join("garbage.crt");
    std::fs::write(&garbage, "this is not PEM").expect("write");
    let err = ServerTls::builder(garbage.as_path(), garbage.as_path())
        .build()
        .expect_err("garbage");
    assert!(
        err.to_string()
            .contains("garbage.crt: no PEM section found"),
        "{err}"
    );

    // A key file that holds a certificate.
    let cert = dir.join("server.crt");
    std::fs::write(&cert, tls::dev::SERVER_CERT).expect("write");
    let err = ServerTls::builder(cert.as_path(), cert.as_path())
        .build()
        .expect_err("no key");
    assert!(
        err.to_string()
            .contains("no PRIVATE KEY found; the file holds: CERTIFICATE"),
        "{err}"
    );

    // The client's key with the server's certificate.
    let key = dir.join("client.key");
    std::fs::write(&key, tls::dev::CLIENT_KEY).expect("write");
    let err = ServerTls::builder(cert.as_path(), key.as_path())
        .build()
        .expect_err("mismatch");
    let text = err.to_string();
    assert!(text.contains("does not match the certificate"), "{text}");
    assert!(
        text.contains("client.key") && text.contains("server.crt"),
        "{text}"
    );

    let err = ClientTls::builder()
        .ca(garbage.as_path())
        .build()
        .expect_err("bad CA file");
    assert!(err.to_string().contains("garbage.crt"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keys_in_pkcs8_pkcs1_and_sec1_all_serve_real_handshakes() {
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let own = certgen::self_signed_server(&["localhost", "127.0.0.1"]).expect("self-signed");
    assert!(own.key.contains("BEGIN PRIVATE KEY"), "rcgen writes PKCS#8");
    let configs = [
        (
            "PKCS#8",
            ServerTls::builder(pem("p8.crt", &own.cert), pem("p8.key", &own.key)),
        ),
        (
            "SEC1",
            ServerTls::builder(fixtures.join("ec.crt"), fixtures.join("ec-sec1.key")),
        ),
        (
            "PKCS#1",
            ServerTls::builder(fixtures.join("rsa.crt"), fixtures.join("rsa-pkcs1.key")),
        ),
    ];
    for (encoding, builder) in configs {
        let tls = builder
            .build()
            .unwrap_or_else(|e| panic!("{encoding}: {e}"));
        let fingerprint = tls.fingerprint().expect("from PEM");
        let (server, _) = server(Options::new().with_tls(tls));
        let addr = server.local_addr().to_string();
        run_local(async move {
            let client = ClientTls::builder()
                .pin_sha256(fingerprint)
                .build()
                .expect("config");
            let conn = connect(&addr, client)
                .await
                .unwrap_or_else(|e| panic!("{encoding}: {e}"));
            assert_eq!(
                eval(&conn.bootstrap(), "3 * 3").await.expect("served"),
                9.0,
                "{encoding}"
            );
        });
    }
}

#[test]
fn bad_peers_do_not_disturb_an_open_tls_connection() {
    let (server, _) = mtls_server(ClientAuth::Required);
    let addr = server.local_addr().to_string();
    run_local(async move {
        let (cert, key) = tls::dev::client_identity();
        let good = tls::dev::client()
            .client_cert(cert, key)
            .build()
            .expect("config");
        let conn = connect(&addr, good).await.expect("mTLS");
        let calc: Calculator = conn.bootstrap();
        assert_eq!(eval(&calc, "1 + 1").await.expect("before"), 2.0);

        // A plain client, a client with no certificate, one with the wrong name, garbage.
        let plain = windlass::client::connect(&addr).await.expect("TCP");
        let _ = eval(&plain.bootstrap(), "1").await;
        if let Ok(conn) = connect(&addr, dev_client()).await {
            let _ = eval(&conn.bootstrap(), "1").await;
        }
        let wrong = tls::dev::client()
            .server_name("example.com")
            .build()
            .expect("config");
        assert!(connect(&addr, wrong).await.is_err());
        let mut raw = tokio::net::TcpStream::connect(&addr).await.expect("raw");
        tokio::io::AsyncWriteExt::write_all(&mut raw, &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 0])
            .await
            .expect("write");

        assert_eq!(eval(&calc, "2 + 2").await.expect("after"), 4.0);
    });
}

#[test]
fn a_caller_built_rustls_server_config_is_used_as_is() {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = rustls_pki_types::pem::PemObject::pem_slice_iter(tls::dev::SERVER_CERT)
        .collect::<Result<Vec<rustls_pki_types::CertificateDer<'static>>, _>>()
        .expect("dev chain");
    let key: rustls_pki_types::PrivateKeyDer<'static> =
        rustls_pki_types::pem::PemObject::from_pem_slice(tls::dev::SERVER_KEY).expect("dev key");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("config");
    let tls = ServerTls::from_config(Arc::new(config));
    assert!(
        tls.fingerprint().is_none(),
        "not known for a caller-built config"
    );
    let (server, _) = server(Options::new().with_tls(tls));
    let addr = server.local_addr().to_string();
    run_local(async move {
        let conn = connect(&addr, dev_client())
            .await
            .expect("handshake with the caller's config");
        assert_eq!(eval(&conn.bootstrap(), "8 / 2").await.expect("served"), 4.0);
    });
}
