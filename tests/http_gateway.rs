//! The HTTP gateway example (`examples/http_gateway.rs`) driven with real HTTP requests from 64
//! concurrent tasks on a multi-threaded runtime, every answer checked.

// The example's `main` and argument parser are not used here, only its router.
#[allow(dead_code)]
#[path = "../examples/http_gateway.rs"]
mod gateway;

mod common;

use gateway::{Answer, Failure};
use windlass::{Connector, Shared};
use windlass_calculator::Calculator;

async fn get(client: &reqwest::Client, base: &str, expr: &str) -> (u16, String) {
    let response = client
        .get(format!("{base}/eval"))
        .query(&[("expr", expr)])
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[test]
fn sixty_four_concurrent_requests_are_each_answered_correctly() {
    let backend = common::calculator_server();
    let backend_addr = backend.local_addr().to_string();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let calc: Shared<Calculator> = Connector::new(&backend_addr)
            .connect_shared()
            .await
            .expect("backend");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = gateway::router(calc.clone());
        let serving = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let client = reqwest::Client::new();
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (client, base) = (client.clone(), base.clone());
                tokio::spawn(async move {
                    let (status, body) = get(&client, &base, &format!("({i} + 1) * 2")).await;
                    (i, status, body)
                })
            })
            .collect();
        for task in tasks {
            let (i, status, body) = task.await.expect("task");
            assert_eq!(status, 200, "{body}");
            let answer: Answer = serde_json::from_str(&body).expect("json");
            assert_eq!(answer.value, f64::from(i + 1) * 2.0, "{body}");
        }

        // A typo is a 400 naming the column; nothing reaches the backend.
        let (status, body) = get(&client, &base, "(4 + ) * 3").await;
        assert_eq!(status, 400, "{body}");
        let failure: Failure = serde_json::from_str(&body).expect("json");
        assert_eq!(failure.column, Some(6), "{body}");

        // The backend gone: 503, not a hang.
        calc.clone().close().await.expect("close backend");
        let (status, body) = get(&client, &base, "1 + 1").await;
        assert_eq!(status, 503, "{body}");

        let _ = stop.send(());
        serving.await.expect("task").expect("served");
    });
    backend.shutdown().expect("shutdown");
}
