//! A client that reconnects after a loss, with capped exponential backoff and jitter.
//!
//! # What is retried
//!
//! Nothing, unless you say so. A call that fails because the connection dropped returns its
//! `Disconnected` error to the caller — it may or may not have run on the server, and only the
//! caller knows whether running it twice is harmless. The *next* call goes to a new connection.
//! [`Reconnecting::call_idempotent`] marks a call as safe to repeat: it is retried once on a new
//! connection after a `Disconnected` failure.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use capnp::capability::FromClientHook;
use futures::FutureExt;
use tracing::{info, warn};

use super::{Connection, Connector, Disconnect};
use crate::error::{ConnectError, Error};

/// When to try again: `initial × factor^attempt`, capped at `max_delay`, each delay scaled by a
/// random factor in `[1 - jitter, 1]` so that many clients losing one server do not return in
/// lockstep. Defaults: 100 ms, ×2, 10 s cap, 10 attempts, jitter 0.5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    initial: Duration,
    factor: f64,
    max_delay: Duration,
    max_attempts: u32,
    jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(100),
            factor: 2.0,
            max_delay: Duration::from_secs(10),
            max_attempts: 10,
            jitter: 0.5,
        }
    }
}

impl Backoff {
    /// The defaults (see the type's docs).
    pub fn new() -> Self {
        Self::default()
    }

    /// The delay before the second attempt. Default: 100 ms.
    pub fn with_initial(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self
    }

    /// How much each delay grows. Default: 2. Values below 1 mean 1.
    pub fn with_factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// The longest delay. Default: 10 s.
    pub fn with_max_delay(mut self, delay: Duration) -> Self {
        self.max_delay = delay;
        self
    }

    /// How many connection attempts in a row before giving up (at least 1). Default: 10.
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// How much of each delay is random, from 0 (none) to 1 (anywhere in `[0, delay]`).
    /// Default: 0.5.
    pub fn with_jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// The delay after failed attempt number `attempt` (0-based), given a uniform random number
    /// `random` in `[0, 1)`. Pure, so the schedule can be tested exactly.
    pub fn delay(&self, attempt: u32, random: f64) -> Duration {
        let exponent = i32::try_from(attempt).unwrap_or(i32::MAX);
        let base = self.initial.as_secs_f64() * self.factor.powi(exponent);
        let capped = base.min(self.max_delay.as_secs_f64());
        let scale = 1.0 - self.jitter * random.clamp(0.0, 1.0);
        Duration::from_secs_f64((capped * scale).max(0.0))
    }
}

/// A small xorshift generator for jitter: no dependency, and randomness quality does not
/// matter here, only that clients differ.
fn next_random(state: &Cell<u64>) -> f64 {
    let mut x = state.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    state.set(x);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

type ConnectHook = Box<dyn Fn(Option<SocketAddr>)>;
type DisconnectHook = Box<dyn Fn(&Disconnect)>;

/// A connection to one server that is re-established, and re-bootstrapped, after it is lost.
///
/// `T` is the bootstrap capability's client type. Must be used inside a `LocalSet`.
pub struct Reconnecting<T> {
    connector: Connector,
    backoff: Backoff,
    live: RefCell<Option<(Connection, T)>>,
    /// The connector's address index of the last connection, skipped after it is lost.
    last_index: Cell<Option<usize>>,
    on_connect: Option<ConnectHook>,
    on_disconnect: Option<DisconnectHook>,
    random: Cell<u64>,
}

impl<T: FromClientHook + Clone> Reconnecting<T> {
    /// Connects lazily, on first use, with `connector`'s settings.
    pub fn new(connector: Connector, backoff: Backoff) -> Self {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
            | 1;
        Reconnecting {
            connector,
            backoff,
            live: RefCell::new(None),
            last_index: Cell::new(None),
            on_connect: None,
            on_disconnect: None,
            random: Cell::new(seed),
        }
    }

    /// Called with the server's address after every successful (re)connection: with a
    /// [`Connector::new_multi`] pool, the address it reached; `None` for a unix socket.
    pub fn on_connect(mut self, hook: impl Fn(Option<SocketAddr>) + 'static) -> Self {
        self.on_connect = Some(Box::new(hook));
        self
    }

    /// Called with the reason when a connection is found to be lost.
    pub fn on_disconnect(mut self, hook: impl Fn(&Disconnect) + 'static) -> Self {
        self.on_disconnect = Some(Box::new(hook));
        self
    }

    /// The bootstrap capability of a live connection, connecting (with backoff) if there is
    /// none or the last one was lost.
    ///
    /// # Errors
    /// The last [`ConnectError`] once [`Backoff::with_max_attempts`] attempts have failed.
    pub async fn client(&self) -> Result<T, ConnectError> {
        if let Some(client) = self.current() {
            return Ok(client);
        }
        if let Some(index) = self.last_index.take() {
            // Lost: start with the next address of a pool, so a dead server is not tried first.
            if self.connector.addresses().len() > 1 {
                self.connector.skip(index);
            }
        }
        let mut attempt = 0;
        loop {
            match self.connector.connect().await {
                Ok(conn) => {
                    self.last_index.set(Some(conn.address_index()));
                    let client: T = conn.bootstrap();
                    let peer = conn.peer();
                    *self.live.borrow_mut() = Some((conn, client.clone()));
                    info!(peer = %crate::addr::ShowPeer(peer), "connected");
                    if let Some(hook) = &self.on_connect {
                        hook(peer);
                    }
                    return Ok(client);
                }
                Err(e) if attempt + 1 >= self.backoff.max_attempts => return Err(e),
                Err(e) => {
                    let delay = self.backoff.delay(attempt, next_random(&self.random));
                    warn!(error = %e, attempt = attempt + 1, ?delay, "connect failed; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }

    /// The live connection's client, after noticing and reporting a loss.
    fn current(&self) -> Option<T> {
        let mut live = self.live.borrow_mut();
        let lost = match live.as_ref() {
            Some((conn, client)) if !conn.is_disconnected() => return Some(client.clone()),
            Some((conn, _)) => conn.is_disconnected(),
            None => false,
        };
        if lost {
            if let Some((conn, _)) = live.take() {
                drop(live);
                let reason = match conn.disconnected().now_or_never() {
                    Some(reason) => reason,
                    None => Disconnect::ClosedByPeer,
                };
                warn!(%reason, "connection lost");
                if let Some(hook) = &self.on_disconnect {
                    hook(&reason);
                }
            }
        }
        None
    }

    /// Runs `f` on the current connection's capability. Not retried: a `Disconnected` failure
    /// is returned as is, and the next call reconnects.
    ///
    /// # Errors
    /// [`Error::Connect`] if no connection could be made, else `f`'s error.
    pub async fn call<R, F, Fut>(&self, f: F) -> Result<R, Error>
    where
        F: FnOnce(T) -> Fut,
        Fut: Future<Output = Result<R, capnp::Error>>,
    {
        let client = self.client().await?;
        let result = f(client).await;
        if let Err(e) = &result {
            if e.kind == capnp::ErrorKind::Disconnected {
                self.forget();
            }
        }
        Ok(result?)
    }

    /// Like [`Reconnecting::call`], for calls that are safe to run twice: after a
    /// `Disconnected` failure it reconnects and runs `f` once more.
    ///
    /// # Errors
    /// As [`Reconnecting::call`], from the second attempt.
    pub async fn call_idempotent<R, F, Fut>(&self, f: F) -> Result<R, Error>
    where
        F: Fn(T) -> Fut,
        Fut: Future<Output = Result<R, capnp::Error>>,
    {
        match self.call(&f).await {
            Err(Error::Rpc(e)) if e.kind == capnp::ErrorKind::Disconnected => self.call(&f).await,
            other => other,
        }
    }

    /// Drops the current connection (reporting the loss) so the next use reconnects.
    fn forget(&self) {
        let taken = self.live.borrow_mut().take();
        if let Some((conn, _)) = taken {
            let reason = conn.disconnected().now_or_never().unwrap_or_else(|| {
                Disconnect::Failed(capnp::Error::disconnected(
                    "a call failed with Disconnected".into(),
                ))
            });
            warn!(%reason, "connection lost");
            if let Some(hook) = &self.on_disconnect {
                hook(&reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff::new()
            .with_initial(Duration::from_millis(100))
            .with_factor(2.0)
            .with_max_delay(Duration::from_secs(1))
            .with_jitter(0.5);
        assert_eq!(b.delay(0, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(800));
        assert_eq!(b.delay(4, 0.0), Duration::from_secs(1), "capped");
        assert_eq!(b.delay(60, 0.0), Duration::from_secs(1), "no overflow");
        assert_eq!(
            b.delay(0, 1.0),
            Duration::from_millis(50),
            "at most half taken off"
        );
        let none = b.with_jitter(0.0);
        assert_eq!(none.delay(2, 0.9), Duration::from_millis(400));
        assert_eq!(Backoff::new().with_max_attempts(0).max_attempts, 1);
        assert_eq!(Backoff::new().with_factor(f64::NAN).factor, 1.0);
    }

    #[test]
    fn jitter_randoms_are_in_range_and_vary() {
        let state = Cell::new(12345);
        let values: Vec<f64> = (0..1000).map(|_| next_random(&state)).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        let distinct = values
            .iter()
            .map(|v| (v * 100.0) as u32)
            .collect::<std::collections::BTreeSet<_>>();
        assert!(
            distinct.len() > 90,
            "spread over the range: {}",
            distinct.len()
        );
    }
}
