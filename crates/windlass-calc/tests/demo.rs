//! The demo scenario (`windlass_calc::demo`, what `windlass-calc demo` runs) against windlass's
//! own Calculator server: plain TCP, TLS and mutual TLS, each check passing.

#[path = "../../../tests/common/mod.rs"]
mod common;

use common::{calculator_server, connect, run_local};

#[test]
fn every_demo_check_passes() {
    let server = calculator_server();
    run_local(async {
        let (conn, calc) = connect(server.local_addr()).await;
        let checks = windlass_calc::demo::run(&calc).await;
        assert_eq!(checks.len(), 6);
        for check in &checks {
            assert!(check.passed(), "{check}");
        }
        drop(calc);
        conn.close().await.expect("clean close");
    });
    server.shutdown().expect("clean shutdown");
}

#[cfg(feature = "tls")]
mod tls {
    use super::common::run_local;
    use super::common::tls_servers::{mtls_server, server};
    use windlass::client::Connector;
    use windlass::server::Options;
    use windlass::tls::{self, ClientAuth, ClientTls};
    use windlass_calculator::Calculator;

    async fn connect(
        addr: &str,
        tls: ClientTls,
    ) -> Result<windlass::Connection, windlass::ConnectError> {
        Connector::new(addr).with_tls(tls).connect().await
    }

    fn dev_client() -> ClientTls {
        tls::dev::client().build().expect("dev client config")
    }

    #[test]
    fn the_full_scenario_runs_over_tls_and_the_factory_sees_no_client_certificate() {
        let (server, seen) =
            server(Options::new().with_tls(tls::dev::server().build().expect("config")));
        let addr = server.local_addr().to_string();
        run_local(async move {
            let conn = connect(&addr, dev_client()).await.expect("TLS connect");
            let calc: Calculator = conn.bootstrap();
            let checks = windlass_calc::demo::run(&calc).await;
            assert!(checks.iter().all(|c| c.passed()), "{checks:?}");
            drop(calc);
            conn.close().await.expect("close");
        });
        assert_eq!(*seen.lock().expect("lock"), vec!["none".to_string()]);
    }

    #[test]
    fn the_full_scenario_runs_over_mutual_tls_and_the_factory_sees_the_client() {
        let (server, seen) = mtls_server(ClientAuth::Required);
        let addr = server.local_addr().to_string();
        run_local(async move {
            let (cert, key) = tls::dev::client_identity();
            let client = tls::dev::client()
                .client_cert(cert, key)
                .build()
                .expect("client config");
            let conn = connect(&addr, client).await.expect("mTLS connect");
            let calc: Calculator = conn.bootstrap();
            let checks = windlass_calc::demo::run(&calc).await;
            assert!(checks.iter().all(|c| c.passed()), "{checks:?}");
        });
        let seen = seen.lock().expect("lock").clone();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].contains("CN=windlass development client"),
            "{seen:?}"
        );
    }
}
