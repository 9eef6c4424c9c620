//! `Shared<T>`: capabilities used from other threads, runtimes and server workers — every result
//! checked, so a call that silently goes nowhere fails the test.

mod common;

use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{connect, eval, run_local};
use windlass::server::{ConnectionInfo, Options, Server};
use windlass::{Connector, HomeThread, Shared};
use windlass_calculator::calculator_capnp::calculator::function;
use windlass_calculator::{self as calculator, Calculator};

const BOUND: Duration = Duration::from_secs(10);

/// A `Function` that adds its arguments, counts its calls and reports its drop on a channel.
struct Counting {
    calls: Arc<AtomicUsize>,
    dropped: mpsc::Sender<()>,
}

impl Drop for Counting {
    fn drop(&mut self) {
        let _ = self.dropped.send(());
    }
}

impl function::Server for Counting {
    async fn call(
        self: Rc<Self>,
        params: function::CallParams,
        mut results: function::CallResults,
    ) -> Result<(), capnp::Error> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let sum: f64 = params.get()?.get_params()?.iter().sum();
        results.get().set_value(sum);
        Ok(())
    }
}

fn counting() -> (
    impl FnOnce() -> function::Client + Send,
    Arc<AtomicUsize>,
    mpsc::Receiver<()>,
) {
    let calls = Arc::new(AtomicUsize::new(0));
    let (dropped, on_drop) = mpsc::channel();
    let counter = calls.clone();
    let make = move || {
        windlass::capnp_rpc::new_client(Counting {
            calls: counter,
            dropped,
        })
    };
    (make, calls, on_drop)
}

async fn call_function(f: &function::Client, args: &[f64]) -> Result<f64, capnp::Error> {
    let mut request = f.call_request();
    let mut params = request.get().init_params(args.len() as u32);
    for (i, a) in args.iter().enumerate() {
        params.set(i as u32, *a);
    }
    Ok(request.send().promise.await?.get()?.get_value())
}

fn multi_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn sixty_four_tasks_on_a_multi_threaded_runtime_call_through_one_shared() {
    let home = HomeThread::spawn("test-home").expect("home thread");
    let calc: Shared<Calculator> = home.share(calculator::new_client).expect("share");
    let runtime = multi_thread_runtime();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let calc = calc.clone();
                tokio::spawn(async move {
                    let text = format!("{i} * 3 + 1");
                    let got = calc
                        .call(move |calc: Calculator| async move { eval(&calc, &text).await })
                        .await;
                    (i, got)
                })
            })
            .collect();
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.expect("task"));
        }
        results
    });
    assert_eq!(results.len(), 64);
    for (i, got) in results {
        let value = got.expect("owner alive").expect("call succeeds");
        assert_eq!(value, f64::from(i) * 3.0 + 1.0, "task {i}");
    }
}

#[test]
fn a_proxy_on_another_thread_pipelines_and_passes_callbacks_back() {
    let home = HomeThread::spawn("calc-home").expect("home thread");
    let calc: Shared<Calculator> = home.share(calculator::new_client).expect("share");
    // A callback owned by this test's thread, shared so the home thread can call it.
    let std_thread = std::thread::spawn(move || {
        run_local(async move {
            let proxy = calc.client();
            // `evaluate` pipelines getOperator and read(): one round trip through the bridge.
            assert_eq!(
                eval(&proxy, "(4 + 5) * 3 - 1 / 2")
                    .await
                    .expect("pipelined"),
                26.5
            );
            // A client-side function, called back by the calculator on the home thread.
            let pow = calculator::function("pow", 2, |args| args[0].powf(args[1]));
            let mut request = proxy.evaluate_request();
            {
                let mut call = request.get().init_expression().init_call();
                call.set_function(pow);
                let mut params = call.init_params(2);
                params.reborrow().get(0).set_literal(2.0);
                params.get(1).set_literal(10.0);
            }
            let value = request.send().pipeline.get_value();
            let result = value.read_request().send().promise.await.expect("read");
            result.get().expect("results").get_value()
        })
    });
    assert_eq!(std_thread.join().expect("thread"), 1024.0);
}

#[test]
fn a_callback_shared_by_one_thread_is_called_from_another() {
    let (make, calls, _dropped) = counting();
    let owner = HomeThread::spawn("callback-owner").expect("home");
    let callback: Shared<function::Client> = owner.share(make).expect("share");
    let handles: Vec<_> = (0..3)
        .map(|t| {
            let callback = callback.clone();
            std::thread::spawn(move || {
                run_local(async move {
                    let proxy = callback.client();
                    let mut sum = 0.0;
                    for i in 0..10 {
                        sum += call_function(&proxy, &[f64::from(t), f64::from(i)])
                            .await
                            .expect("call on the owner");
                    }
                    sum
                })
            })
        })
        .collect();
    for (t, handle) in handles.into_iter().enumerate() {
        let expected = (0..10).map(|i| t as f64 + f64::from(i)).sum::<f64>();
        assert_eq!(handle.join().expect("thread"), expected);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 30);
}

#[test]
fn the_capability_is_released_when_every_handle_and_proxy_is_gone() {
    let (make, calls, dropped) = counting();
    let owner = HomeThread::spawn("release-owner").expect("home");
    let shared: Shared<function::Client> = owner.share(make).expect("share");
    let second = shared.clone();
    // A proxy on another thread outlives every Shared handle; the capability must live on.
    let (go, wait) = mpsc::channel::<()>();
    let user = std::thread::spawn(move || {
        run_local(async move {
            let proxy = second.client();
            assert_eq!(
                call_function(&proxy, &[1.0, 2.0]).await.expect("first"),
                3.0
            );
            drop(second);
            // Wait (off the runtime) until the test has dropped its own handle too.
            tokio::task::spawn_blocking(move || wait.recv())
                .await
                .expect("join")
                .expect("go");
            let after = call_function(&proxy, &[3.0, 4.0]).await;
            drop(proxy);
            after
        })
    });
    drop(shared);
    assert!(
        dropped.recv_timeout(Duration::from_millis(300)).is_err(),
        "released while a proxy still held it"
    );
    go.send(()).expect("user thread waits");
    assert_eq!(
        user.join().expect("thread").expect("proxy still works"),
        7.0
    );
    dropped
        .recv_timeout(BOUND)
        .expect("the server object is dropped once the last proxy is");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[test]
fn calls_fail_with_disconnected_once_the_owner_thread_ends() {
    let owner = HomeThread::spawn("short-lived").expect("home");
    let calc: Shared<Calculator> = owner.share(calculator::new_client).expect("share");
    // A proxy made while the owner lives, on a thread of its own.
    let (made, proxy_ready) = mpsc::channel();
    let (go, wait) = mpsc::channel::<()>();
    let for_proxy = calc.clone();
    let user = std::thread::spawn(move || {
        run_local(async move {
            let proxy = for_proxy.client();
            assert_eq!(eval(&proxy, "1 + 1").await.expect("owner alive"), 2.0);
            made.send(()).expect("test waits");
            tokio::task::spawn_blocking(move || wait.recv())
                .await
                .expect("join")
                .expect("go");
            tokio::time::timeout(BOUND, eval(&proxy, "2 + 2")).await
        })
    });
    proxy_ready.recv_timeout(BOUND).expect("proxy made");
    drop(owner); // stops and joins the owner thread

    let runtime = multi_thread_runtime();
    let err = runtime
        .block_on(async {
            tokio::time::timeout(
                BOUND,
                calc.call(|calc: Calculator| async move { eval(&calc, "1 + 2").await }),
            )
            .await
        })
        .expect("fails at once, does not hang")
        .expect_err("the owner is gone");
    assert!(
        matches!(&err, windlass::Error::Rpc(e) if e.kind == capnp::ErrorKind::Disconnected),
        "{err}"
    );
    go.send(()).expect("user waits");
    let proxied = user
        .join()
        .expect("thread")
        .expect("the proxy's call fails within the bound, it does not hang");
    let err = proxied.expect_err("the owner is gone");
    assert_eq!(err.kind, capnp::ErrorKind::Disconnected, "{err}");
}

#[test]
fn every_connection_on_every_worker_reaches_one_shared_capability() {
    let (make, calls, _dropped) = counting();
    let home = HomeThread::spawn("server-home").expect("home");
    let shared: Shared<function::Client> = home.share(make).expect("share");
    let workers_seen = Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let seen = workers_seen.clone();
    let server = Server::bind(
        "127.0.0.1:0",
        Options::new().with_workers(2),
        move |info: &ConnectionInfo| {
            seen.lock().expect("lock").insert(info.worker());
            shared.client().client
        },
    )
    .expect("bind");
    let addr = server.local_addr();
    run_local(async move {
        let mut conns = Vec::new();
        for i in 0..8 {
            let conn = windlass::client::connect(&addr.to_string())
                .await
                .expect("connect");
            let f: function::Client = conn.bootstrap();
            let sum = call_function(&f, &[f64::from(i), 1.0]).await.expect("call");
            assert_eq!(sum, f64::from(i) + 1.0);
            conns.push((conn, f));
        }
    });
    assert_eq!(
        calls.load(Ordering::SeqCst),
        8,
        "every call reached the one object"
    );
    assert_eq!(
        workers_seen.lock().expect("lock").len(),
        2,
        "connections landed on both workers"
    );
    server.shutdown().expect("shutdown");
}

#[test]
fn connect_shared_serves_a_multi_threaded_app_and_closes() {
    let server = common::calculator_server();
    let addr = server.local_addr().to_string();
    let runtime = multi_thread_runtime();
    runtime.block_on(async {
        let calc: Shared<Calculator> = Connector::new(&addr)
            .connect_shared()
            .await
            .expect("connect_shared");
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let calc = calc.clone();
                tokio::spawn(async move {
                    calc.call(move |calc: Calculator| async move {
                        eval(&calc, &format!("{i} + {i}")).await
                    })
                    .await
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let value = task.await.expect("task").expect("owner").expect("call");
            assert_eq!(value, 2.0 * i as f64);
        }
        calc.close().await.expect("clean close");
    });
    assert!(
        server.wait_idle(BOUND),
        "the connection is closed on the server: {:?}",
        server.stats()
    );
    assert_eq!(
        server.stats().accepted,
        1,
        "one connection for all 64 tasks"
    );

    // Dropping the last handle closes the connection too.
    runtime.block_on(async {
        let calc: Shared<Calculator> = Connector::new(&addr)
            .connect_shared()
            .await
            .expect("connect_shared");
        let v = calc
            .call(|calc: Calculator| async move { eval(&calc, "40 + 2").await })
            .await
            .expect("owner")
            .expect("call");
        assert_eq!(v, 42.0);
    });
    assert!(server.wait_idle(BOUND), "{:?}", server.stats());
    assert_eq!(server.stats().closed, 2);
}

#[test]
fn connect_shared_reports_connection_errors() {
    let runtime = multi_thread_runtime();
    let err = runtime
        .block_on(
            Connector::new("127.0.0.1:1")
                .with_connect_timeout(Duration::from_secs(5))
                .connect_shared::<Calculator>(),
        )
        .expect_err("nothing listens on port 1");
    assert!(
        matches!(err, windlass::ConnectError::Connect { .. }),
        "{err}"
    );
}

#[test]
fn on_the_owner_thread_client_is_the_capability_itself() {
    run_local(async {
        let server = common::calculator_server();
        let (_conn, calc) = connect(server.local_addr()).await;
        let shared = Shared::new(calc);
        // Same thread: no bridge, the call goes straight to the connection.
        let local: Calculator = shared.client();
        assert_eq!(eval(&local, "3 * 4").await.expect("direct"), 12.0);
    });
}
