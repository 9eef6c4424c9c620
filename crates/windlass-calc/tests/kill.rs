//! `windlass-calc serve` SIGKILLed with a call in flight: the call fails with `Disconnected`
//! within the bound, and a `Reconnecting` client resumes on a new server at the same address.

#[path = "../../../tests/common/mod.rs"]
mod common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{eval, gated_call, run_local};
use windlass::client::{Backoff, Connector, Reconnecting};
use windlass_calculator::Calculator;

const BOUND: Duration = Duration::from_secs(10);

/// `windlass-calc serve` as a child process that can be killed without warning.
struct Child(std::process::Child);

impl Child {
    fn serve(listen: &str) -> (Child, String) {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_windlass-calc"))
            .args(["serve", "--listen", listen])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start serve");
        let mut log = std::io::BufReader::new(child.stderr.take().expect("piped"));
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                log.read_line(&mut line).expect("log") > 0,
                "serve exited early"
            );
            if let Some(rest) = line.split("serving the Calculator addr=").nth(1) {
                break rest.split_whitespace().next().expect("address").to_string();
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in log.lines() {});
        (Child(child), addr)
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_killed_server_fails_calls_fast_and_the_reconnecting_client_recovers() {
    let (first, addr) = Child::serve("127.0.0.1:0");
    let first = Rc::new(Cell::new(Some(first)));
    run_local(async move {
        let connects = Rc::new(Cell::new(0));
        let losses = Rc::new(Cell::new(0));
        let (c, l) = (connects.clone(), losses.clone());
        let backoff = Backoff::new()
            .with_initial(Duration::from_millis(20))
            .with_max_delay(Duration::from_millis(200))
            .with_max_attempts(100);
        let client: Reconnecting<Calculator> = Reconnecting::new(Connector::new(&addr), backoff)
            .on_connect(move |_| c.set(c.get() + 1))
            .on_disconnect(move |_| l.set(l.get() + 1));

        let value = client
            .call(|calc| async move { eval(&calc, "20 + 1").await })
            .await;
        assert_eq!(value.expect("first server"), 21.0);

        // A call in flight when the server dies.
        let calc = client.client().await.expect("live");
        let (value, gate) = gated_call(&calc);
        let value = tokio::task::spawn_local(value);
        tokio::time::timeout(BOUND, gate.called.notified())
            .await
            .expect("called back");
        drop(first.take()); // SIGKILL
        let value = tokio::time::timeout(BOUND, value)
            .await
            .expect("fails fast")
            .expect("task");
        let err = value.expect_err("the server is gone");
        assert_eq!(err.kind, capnp::ErrorKind::Disconnected, "{err}");

        // A new server on the same address; the next call goes to it.
        let (_second, _) = Child::serve(&addr);
        let value = client
            .call(|calc| async move { eval(&calc, "40 + 2").await })
            .await;
        assert_eq!(value.expect("second server"), 42.0);
        assert_eq!(connects.get(), 2);
        assert_eq!(losses.get(), 1);
    });
}
