//! `cargo run -p kv-store --example threads -- [ADDR]`: the store used from many tasks of a
//! multi-threaded tokio application, through one connection.

// ANCHOR: threads
use kv_store::kv_capnp::store;
use kv_store::{get, put};
use windlass::{Connector, Shared};

#[tokio::main] // a multi-threaded runtime: no LocalSet anywhere
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4100".into());
    // The connection lives on a windlass thread; `kv` is Send + Sync + Clone.
    let kv: Shared<store::Client> = Connector::new(&addr).connect_shared().await?;
    let mut tasks = Vec::new();
    for i in 0..16 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            // The closure runs on the connection's thread; only plain data crosses back.
            kv.call(move |kv: store::Client| async move {
                let key = format!("key-{i}");
                put(&kv, &key, &[i as u8]).await?;
                get(&kv, &key).await
            })
            .await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let value = task.await???;
        assert_eq!(value, Some(vec![i as u8]));
    }
    kv.close().await?; // or just drop the last handle
    Ok(())
}
// ANCHOR_END: threads
