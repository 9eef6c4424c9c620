//! windlass: two-party Cap'n Proto capability RPC over TCP, made easy.
//!
//! `capnp` and `capnp-rpc` speak the protocol; windlass owns everything around them: schemas
//! compiled at build time ([`schemas`]), an accept loop that runs one `RpcSystem` per connection
//! ([`server`]), a client connector ([`client`]) and the Calculator reference service
//! ([`calculator`]), wire-compatible with the calculator samples of C++ capnproto and pycapnp.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() -> Result<(), windlass::Error> {
//! // A Calculator server on a free port, on a thread of its own.
//! let listener = windlass::server::bind("127.0.0.1:0")?;
//! let server = windlass::server::spawn(listener, |_conn| windlass::calculator::new_client().client)?;
//!
//! // A client: capnp-rpc is `!Send`, so it runs inside a `LocalSet`.
//! let addr = server.local_addr().to_string();
//! tokio::task::LocalSet::new()
//!     .run_until(async move {
//!         let conn = windlass::client::connect(&addr).await?;
//!         let calc: windlass::calculator::Calculator = conn.bootstrap();
//!         let expr = windlass::calculator::parse("(4 + 5) * 3 - 1 / 2")?;
//!         let value = windlass::calculator::evaluate(&calc, &expr).await?;
//!         assert_eq!(value, 26.5);
//!         conn.close().await?;
//!         Ok::<_, windlass::Error>(())
//!     })
//!     .await?;
//! server.shutdown()?;
//! # Ok(())
//! # }
//! ```
//!
//! # Threading model
//!
//! Every capability is an `Rc`, so all RPC state of a connection lives on one thread: the server
//! runs its accept loop and one local task per connection inside a `tokio::task::LocalSet`, and
//! the bootstrap factory is called on that thread once per connection.
//!
//! ```text
//! TcpListener ──accept──► conn task (LocalSet) ──► VatNetwork(BufReader, BufWriter)
//!                                                  └─ RpcSystem(bootstrap from the factory)
//! ```

#![forbid(unsafe_code)]

pub mod addressbook;
pub mod calculator;
pub mod client;
pub mod demo;
mod error;
pub mod framing;
mod instrument;
mod rpc;
pub mod schemas;
pub mod server;
#[cfg(feature = "tls")]
pub mod tls;

pub use client::{Connection, Connector};
pub use error::{CallError, ConnectError, Error, ServeError};
pub use instrument::ConnectionStats;
pub use rpc::{KEEPALIVE_INTERVAL, KEEPALIVE_TIME};
pub use server::{Options as ServerOptions, Server, ServerHandle};

/// The README's Rust examples, compiled by `cargo test` so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
