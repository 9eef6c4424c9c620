//! What the CLI tests share: the binary, running it, and `serve` as a child process.
// Each test binary uses a different subset.
#![allow(dead_code)]

pub mod web;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_windlass-calc");

pub fn calc(args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run windlass-calc")
}

/// An address on 127.0.0.1 that refuses connections: the returned socket holds the port (bound,
/// never listening) for as long as it lives, so no other test or server can be given that port
/// meanwhile, which a bound-then-closed listener's port could be (the kernel reuses it).
pub fn refusing_address() -> (tokio::net::TcpSocket, std::net::SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind(([127, 0, 0, 1], 0).into())
        .expect("bind 127.0.0.1:0");
    let addr = socket.local_addr().expect("local address");
    (socket, addr)
}

/// A `serve` process on a free port, killed on drop if the test did not stop it.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: BufReader<std::process::ChildStderr>,
}

impl Server {
    pub fn start() -> Self {
        Self::start_with(&[]).0
    }

    /// Starts `serve` with extra arguments; returns it and its first stdout line, if any.
    pub fn start_with(extra: &[&str]) -> (Self, String) {
        Self::start_on("127.0.0.1:0", extra)
    }

    /// Starts `serve --listen LISTEN` with extra arguments.
    pub fn start_on(listen: &str, extra: &[&str]) -> (Self, String) {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", listen])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start serve");
        let mut first_stdout = String::new();
        if extra.contains(&"--tls-cert") {
            let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
            out.read_line(&mut first_stdout).expect("read serve stdout");
        }
        let mut log = BufReader::new(child.stderr.take().expect("stderr piped"));
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(
                Instant::now() < deadline,
                "serve did not log its address in time"
            );
            let n = log.read_line(&mut line).expect("read serve log");
            assert!(n > 0, "serve exited before listening");
            if let Some(rest) = line.split("addr=").nth(1) {
                break rest
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_string();
            }
        };
        (Server { child, addr, log }, first_stdout)
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for exit (bounded) and returns the exit status and the rest of the log.
    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "serve did not exit after the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.log, &mut rest);
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
