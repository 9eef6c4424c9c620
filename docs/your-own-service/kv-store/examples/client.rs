//! `cargo run -p kv-store --example client -- [ADDR]`: a one-shot call, then a long-lived
//! connection that watches while another connection writes.

use std::cell::RefCell;
use std::rc::Rc;

use kv_store::kv_capnp::store;
use kv_store::{get, put, PrintChanges};

// ANCHOR: one_shot
async fn one_shot(addr: &str) -> Result<(), windlass::Error> {
    // Connect, call, close: works on any tokio runtime.
    let value = windlass::client::run(addr, |kv: store::Client| async move {
        put(&kv, "greeting", b"hello").await?;
        get(&kv, "greeting").await
    })
    .await?;
    assert_eq!(value.as_deref(), Some(&b"hello"[..]));
    Ok(())
}
// ANCHOR_END: one_shot

// ANCHOR: long_lived
async fn watch_and_write(addr: &str) -> Result<Vec<(String, Vec<u8>)>, windlass::Error> {
    // capnp-rpc clients are !Send: a long-lived connection lives in a LocalSet.
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let watching = windlass::Connector::new(addr).connect().await?;
            let kv: store::Client = watching.bootstrap();
            let heard = Rc::new(RefCell::new(Vec::new()));
            let mut request = kv.watch_request();
            let watcher = PrintChanges {
                heard: heard.clone(),
            };
            request
                .get()
                .set_watcher(windlass::capnp_rpc::new_client(watcher));
            // Keep the subscription: dropping it stops the callbacks.
            let subscription = request.send().promise.await?.get()?.get_subscription()?;

            // Another connection (likely served by another worker) writes.
            let writing = windlass::Connector::new(addr).connect().await?;
            put(&writing.bootstrap(), "colour", b"blue").await?;

            drop(subscription);
            writing.close().await?;
            watching.close().await?;
            let heard = heard.borrow().clone();
            Ok(heard)
        })
        .await
}
// ANCHOR_END: long_lived

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:4100".into());
    one_shot(&addr).await?;
    let heard = watch_and_write(&addr).await?;
    println!("callbacks received: {heard:?}");
    if heard.is_empty() {
        return Err("the watcher heard nothing".into());
    }
    Ok(())
}
