//! windlass: two-party Cap'n Proto capability RPC over TCP, TLS and unix sockets, made easy.
//!
//! **Bringing your own schema?** Start with the guide, `docs/your-own-service.md` in the
//! repository: schema, `build.rs` (the `windlass-build` crate), server, clients, state shared
//! across workers, streaming, errors — every snippet a file of a crate CI builds and tests.
//!
//! `capnp` and `capnp-rpc` speak the protocol; windlass owns everything around them:
//!
//! - [`server`]: a multi-threaded server runtime — [`Server::bind`] with [`ServerOptions`]
//!   (workers, TLS, connection limit, handshake/idle/drain timeouts, message size limit, error
//!   redaction) and a [`ServerHandle`] for counters and graceful shutdown.
//! - [`client`]: a [`Connector`] with connect/handshake timeouts and TLS, long-lived
//!   [`Connection`]s that report why they ended, one-shot [`client::run`], call timeouts
//!   ([`client::with_timeout`]) and a [`client::Reconnecting`] client with backoff.
//! - [`Shared`] ([`shared`]): capabilities that cross threads — `Send + Sync + Clone` handles
//!   usable from any thread or runtime ([`Shared::call`]) or as a local proxy on another
//!   worker ([`Shared::client`]); [`HomeThread`] owns state every connection shares, and
//!   [`Connector::connect_shared`] gives a multi-threaded application a `Shared` connection.
//! - [`tls`] (feature `tls`, on by default): rustls configurations from PEM, mutual TLS,
//!   certificate pinning.
//! - [`framing`]: a zero-copy Cap'n Proto stream codec, segments API and segment transports.
//!
//! A service author needs [`server`] or [`client`] (plus [`tls`]), the top-level re-exports
//! ([`Server`], [`Connector`], [`Error`], …) and [`capnp`] / [`capnp_rpc`] for their own
//! schema's generated code; [`framing`] is for moving Cap'n Proto messages without RPC.
//! Everything else is private. The Calculator reference service is a crate of its own
//! (`windlass-calculator`), so a service links none of it.
//!
//! # Features
//!
//! - `tls` (default): TLS and mutual TLS with rustls (ring provider).
//! - `dev-certs`: the repository's development CA, certificates and **private keys** as
//!   constants (`tls::dev`), for examples, tests and demos. Off by default, so a production
//!   binary cannot link them by accident.
//! - `proxy-protocol`: PROXY protocol v1/v2 from trusted load balancers
//!   (`server::Options::with_proxy_protocol`, with the `ppp` parser).
//! - `admin`: the admin HTTP endpoint (`/healthz`, `/readyz`, Prometheus `/metrics`).
//! - `zmq`: the segment transport over real ZeroMQ sockets (pure-Rust `zeromq`).
//!
//! # Crates
//!
//! This crate is the root package of a Cargo workspace and the one a service depends on (plus
//! `windlass-build` in its `build.rs`). The benchmarks and the CLI are member crates that depend
//! on it, never the other way round. An arrow points at what a crate depends on:
//!
//! ```text
//! windlass-schema           pure-Rust .capnp compiler → CodeGeneratorRequest
//!   ▲
//! windlass-build            build.rs helper: compiles .capnp schemas (capnpc), yours too
//!   ▲ build-dep      ▲ build-dep              ▲ build-dep
//! windlass           windlass-addressbook     windlass-chat-room (examples/chat_room)
//!   ▲                                          │ this crate │ the address book model │ example
//! windlass-calculator       the Calculator reference service (its own schema and build.rs)
//!   ▲
//! windlass-bench            load generator, compare against bare capnp-rpc, charts
//!   ▲                ▲
//! windlass-calc      windlass-grpc-bench      the binary (serve/eval/demo/bench/schema) │ tonic
//! ```
//!
//! `windlass-calc` and `windlass-grpc-bench` use `windlass` and `windlass-calculator` directly
//! too; `windlass-chat-room` depends on `windlass`; `windlass-calc schema` uses
//! `windlass-schema`. The bench crates, the address book and the chat room are
//! `publish = false`.
//!
//! # Quick start
//!
//! ```no_run
//! # fn demo() -> Result<(), windlass::Error> {
//! // The Calculator reference service, from the `windlass-calculator` crate.
//! use windlass_calculator::{self as calculator, Calculator};
//! use windlass::server::{ConnectionInfo, Options, Server};
//!
//! // A Calculator server on a free port: an acceptor thread and one worker per core.
//! let server = Server::bind("127.0.0.1:0", Options::new(), |_: &ConnectionInfo| {
//!     calculator::new_client().client
//! })?;
//!
//! // A one-shot client: connect, call, close.
//! let addr = server.local_addr().to_string();
//! let runtime = tokio::runtime::Runtime::new().expect("runtime");
//! let value = runtime.block_on(windlass::client::run(&addr, |calc: Calculator| async move {
//!     let expr = calculator::parse("(4 + 5) * 3 - 1 / 2").expect("valid");
//!     calculator::evaluate(&calc, &expr).await
//! }))?;
//! assert_eq!(value, 26.5);
//! server.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Threading model
//!
//! Every capability is an `Rc` (capnp-rpc is `!Send`), so all RPC state of a connection lives on
//! one thread. The server's acceptor thread accepts TCP connections, refuses those over the
//! limit, and hands each socket (as a `std` socket) to the least-loaded worker. Each worker is a
//! current-thread tokio runtime with a `LocalSet`; it does the TLS handshake, calls the bootstrap
//! factory (`Send + Sync`, shared) and runs the connection's `RpcSystem`. One worker is the same
//! code with N = 1.
//!
//! ```text
//!                         ┌─► worker 0: current_thread runtime + LocalSet
//! acceptor thread         │     ├─ conn 1: [TLS] ─► VatNetwork ─► RpcSystem(bootstrap(info))
//!   accept ─► limit ─► least-loaded    └─ conn 3: ...
//!                         └─► worker 1: current_thread runtime + LocalSet
//!                               └─ conn 2: ...
//! ```
//!
//! Shutdown ([`ServerHandle::shutdown`]): the acceptor stops accepting; each connection lets the
//! calls in flight finish until the drain deadline, then disconnects; the workers and the
//! acceptor are joined, so no thread or task outlives the call. Clients likewise run inside a
//! `LocalSet`; [`client::run`] brings its own.

#![forbid(unsafe_code)]

mod addr;
mod calls;
pub mod client;
mod error;
mod flow_limit;
pub mod framing;
mod instrument;
mod rpc;
mod schemas;
pub mod server;
pub mod shared;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;

/// The Cap'n Proto serialization crate windlass is built with. Name it through this re-export
/// (`windlass::capnp`) in your code and in `capnp::generated_code!` so the generated code and
/// windlass agree on one version: two versions in one build give errors such as "expected
/// `capnp::capability::Client`, found a different `capnp::capability::Client`".
pub use capnp;
/// The Cap'n Proto RPC crate windlass is built with (see [`capnp`] for why to use this path).
pub use capnp_rpc;

pub use addr::UNIX_PREFIX;
pub use client::{Connection, Connector};
pub use error::{CallError, ConnectError, Error, ServeError};
pub use instrument::ConnectionStats;
pub use server::{Options as ServerOptions, Server, ServerHandle};
pub use shared::{HomeThread, Shared};
pub use transport::DEFAULT_STREAM_WINDOW;

/// The README's Rust examples, compiled by `cargo test` so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
