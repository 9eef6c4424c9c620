//! The guide's service over real sockets: a watcher on one worker hears a put made through
//! another (the case that silently failed before `Shared`), the store is one across workers,
//! streaming loads every entry, TLS works, and a multi-threaded app calls through one connection.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use kv_store::kv_capnp::store;
use kv_store::{get, load_all, put, serve, PrintChanges};
use windlass::server::Options;

fn local<F: std::future::Future>(f: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    tokio::task::LocalSet::new().block_on(&runtime, f)
}

#[test]
fn a_watcher_on_one_worker_hears_puts_made_through_another() {
    let (server, _home) = serve("127.0.0.1:0", Options::new().with_workers(2)).expect("serve");
    let addr = server.local_addr().to_string();
    let heard = local(async {
        let mut watchers = Vec::new();
        // Two watching connections and two writing ones: with least-loaded placement they are
        // spread over both workers.
        for _ in 0..2 {
            let conn = windlass::client::connect(&addr).await.expect("connect");
            let kv: store::Client = conn.bootstrap();
            let heard = Rc::new(RefCell::new(Vec::new()));
            let mut request = kv.watch_request();
            request
                .get()
                .set_watcher(windlass::capnp_rpc::new_client(PrintChanges {
                    heard: heard.clone(),
                }));
            let subscription = request.send().promise.await.expect("watch");
            watchers.push((conn, subscription, heard));
        }
        for i in 0..2u8 {
            let conn = windlass::client::connect(&addr).await.expect("connect");
            put(&conn.bootstrap(), &format!("k{i}"), &[i])
                .await
                .expect("put");
            assert_eq!(
                get(&conn.bootstrap(), &format!("k{i}")).await.expect("get"),
                Some(vec![i])
            );
        }
        watchers
            .iter()
            .map(|(_, _, heard)| heard.borrow().clone())
            .collect::<Vec<_>>()
    });
    let expected = vec![("k0".to_string(), vec![0]), ("k1".to_string(), vec![1])];
    assert_eq!(
        heard,
        vec![expected.clone(), expected],
        "callbacks received on every worker"
    );
    server.shutdown().expect("shutdown");
}

#[test]
fn streaming_loads_every_entry() {
    let (server, _home) = serve("127.0.0.1:0", Options::new().with_workers(2)).expect("serve");
    let addr = server.local_addr().to_string();
    local(async {
        let conn = windlass::client::connect(&addr).await.expect("connect");
        let kv: store::Client = conn.bootstrap();
        let entries = (0..2000u32).map(|i| (format!("bulk-{i}"), i.to_le_bytes().to_vec()));
        load_all(&kv, entries).await.expect("load");
        for i in [0u32, 999, 1999] {
            let got = get(&kv, &format!("bulk-{i}")).await.expect("get");
            assert_eq!(got, Some(i.to_le_bytes().to_vec()));
        }
    });
    server.shutdown().expect("shutdown");
}

#[test]
fn the_tls_snippets_make_a_working_pair() {
    let certs = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../certs");
    let options = kv_store::tls_options(
        &format!("{certs}/server.crt"),
        &format!("{certs}/server.key"),
    )
    .expect("tls options");
    let (server, _home) = serve("127.0.0.1:0", options).expect("serve");
    let addr = format!("localhost:{}", server.local_addr().port());
    let connector = kv_store::tls_connector(&addr, &format!("{certs}/ca.crt")).expect("connector");
    let value = local(async move {
        connector
            .run(|kv: store::Client| async move {
                put(&kv, "secret", b"s3").await?;
                get(&kv, "secret").await
            })
            .await
            .expect("TLS call")
    });
    assert_eq!(value, Some(b"s3".to_vec()));
    server.shutdown().expect("shutdown");
}

#[test]
fn a_multi_threaded_app_calls_through_one_connection() {
    let (server, _home) = serve("127.0.0.1:0", Options::new()).expect("serve");
    let addr = server.local_addr().to_string();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let kv: windlass::Shared<store::Client> = windlass::Connector::new(&addr)
            .connect_shared()
            .await
            .expect("connect_shared");
        let tasks: Vec<_> = (0..16u8)
            .map(|i| {
                let kv = kv.clone();
                tokio::spawn(async move {
                    kv.call(move |kv: store::Client| async move {
                        put(&kv, &format!("t{i}"), &[i]).await?;
                        get(&kv, &format!("t{i}")).await
                    })
                    .await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let value = tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("in time")
                .expect("task")
                .expect("owner")
                .expect("call");
            assert_eq!(value, Some(vec![i as u8]));
        }
        kv.close().await.expect("close");
    });
    assert_eq!(server.stats().accepted, 1);
    server.shutdown().expect("shutdown");
}

#[cfg(unix)]
#[test]
fn the_store_serves_over_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("kv-store-unix-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let addr = format!("unix:{}", dir.join("kv.sock").display());
    let (server, _home) = serve(&addr, Options::new()).expect("serve");
    let value = local(async {
        windlass::Connector::new(&addr)
            .run(|kv: store::Client| async move {
                put(&kv, "over", b"unix").await?;
                get(&kv, "over").await
            })
            .await
            .expect("call")
    });
    assert_eq!(value, Some(b"unix".to_vec()));
    server.shutdown().expect("shutdown");
    let _ = std::fs::remove_dir_all(&dir);
}
