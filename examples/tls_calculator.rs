//! The Calculator over mutual TLS, server and client in one program, with the development
//! certificates from `certs/`.
//!
//! ```text
//! cargo run --example tls_calculator
//! ```
//!
//! The server asks for a client certificate signed by `certs/ca.crt` and its bootstrap factory
//! sees who connected; the client trusts the same CA and presents `certs/client.crt`. Swap in
//! your own PEM files to run it for real.

use windlass::client::Connector;
use windlass::server::{ConnectionInfo, Options};
use windlass::tls::{ClientAuth, ClientTls, ServerTls};
use windlass_calculator::{self as calculator, Calculator};

fn main() -> anyhow::Result<()> {
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/certs");
    let server_tls = ServerTls::builder(
        format!("{certs}/server.crt").as_str(),
        format!("{certs}/server.key").as_str(),
    )
    .client_auth(format!("{certs}/ca.crt").as_str(), ClientAuth::Required)
    .build()?;
    if let Some(fingerprint) = server_tls.fingerprint() {
        println!("server certificate SHA-256: {fingerprint}");
    }

    let server = windlass::Server::bind(
        "127.0.0.1:0",
        Options::new().with_tls(server_tls),
        |info: &ConnectionInfo| {
            if let Some(cert) = info.peer_certificate() {
                // A real service would decide here what this client may do.
                println!(
                    "server: client {} connected ({:?})",
                    cert.subject(),
                    info.peer()
                );
            }
            calculator::new_client().client
        },
    )?;

    let client_tls = ClientTls::builder()
        .ca(format!("{certs}/ca.crt").as_str())
        .client_cert(
            format!("{certs}/client.crt").as_str(),
            format!("{certs}/client.key").as_str(),
        )
        .build()?;
    let addr = server.local_addr().to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    tokio::task::LocalSet::new().block_on(&runtime, async {
        let conn = Connector::new(&addr).with_tls(client_tls).connect().await?;
        let calc: Calculator = conn.bootstrap();
        let expr = calculator::parse("(4 + 5) * 3 - 1 / 2")?;
        println!(
            "client: {expr} = {}",
            calculator::evaluate(&calc, &expr).await?
        );
        drop(calc);
        conn.close().await?;
        anyhow::Ok(())
    })?;
    server.shutdown()?;
    Ok(())
}
