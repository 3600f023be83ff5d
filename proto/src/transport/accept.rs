//! Accepting connections whose handshake takes a while (TLS) without one
//! holding up another: handshakes run side by side, at most
//! [`MAX_HANDSHAKES`] at once, each bounded by the listener's handshake
//! timeout; each connection is counted against its client address
//! ([`conn_limit`](super::conn_limit)) from the moment it is accepted, so
//! connections that never handshake count too. Every TCP listener of the
//! agent accepts through [`accepting`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;

use super::conn_limit::Limited;
use super::conn_limit::PerAddress;

/// TLS handshakes in flight on one listener; more connections wait in the
/// kernel's backlog rather than holding memory and a descriptor here.
pub const MAX_HANDSHAKES: usize = 256;
/// Consul's `limits.rpc_handshake_timeout` and `https_handshake_timeout`
/// default: a client that has not finished its TLS handshake by then is
/// cut. Kept short, as Consul says, because it bounds how long an
/// unauthenticated client holds a connection.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection as accepted: it holds its address's slot while it lives.
pub type Accepted = Limited<TcpStream>;

/// What a handshake ends with: the connection, or None when it failed (the
/// handshake logs why).
pub type Handshake<C> = BoxFuture<'static, Option<C>>;

/// The bounds a listener accepts under.
#[derive(Debug, Clone)]
pub struct Limits {
    pub per_address: Arc<PerAddress>,
    /// Zero: none.
    pub handshake_timeout: Duration,
    /// Written, best effort and without waiting, to a connection refused
    /// for its address's count just before it is closed (HTTP's 429).
    pub refusal: Option<&'static [u8]>,
}

/// The pause after a failed accept: from 5 ms, doubling to 1 s while accept
/// keeps failing (out of descriptors: EMFILE/ENFILE), reset by a success; as
/// Go's net/http server waits. Retrying at once would spin a core on a
/// condition only closing connections can clear.
#[derive(Debug, Default)]
pub struct Backoff {
    next: Option<Duration>,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);
    const MAX: Duration = Duration::from_secs(1);

    /// The pause to take now, after one more failure.
    pub fn failed(&mut self) -> Duration {
        let pause = self.next.map_or(Self::FIRST, |d| (d * 2).min(Self::MAX));
        self.next = Some(pause);
        pause
    }

    pub fn succeeded(&mut self) {
        self.next = None;
    }
}

/// The connections of `listener` as their handshakes finish. `what` names
/// the listener in logs.
pub fn accepting<C, H>(
    listener: TcpListener,
    what: &'static str,
    limits: Limits,
    handshake: H,
) -> impl futures::Stream<Item = C> + Send
where
    C: Send + 'static,
    H: Fn(Accepted, SocketAddr) -> Handshake<C> + Send + 'static,
{
    let pending: FuturesUnordered<Handshake<C>> = FuturesUnordered::new();
    let state = (listener, handshake, pending, Backoff::default());
    futures::stream::unfold(state, move |(listener, handshake, mut pending, mut backoff)| {
        let limits = limits.clone();
        async move {
            loop {
                tokio::select! {
                    Some(done) = pending.next(), if !pending.is_empty() => {
                        if let Some(conn) = done {
                            return Some((conn, (listener, handshake, pending, backoff)));
                        }
                    }
                    accepted = listener.accept(), if pending.len() < MAX_HANDSHAKES => match accepted {
                        Ok((stream, addr)) => {
                            backoff.succeeded();
                            let Some(guard) = limits.per_address.try_acquire(addr.ip()) else {
                                if let Some(refusal) = limits.refusal {
                                    let _ = stream.try_write(refusal);
                                }
                                continue;
                            };
                            // The builders' tcp_nodelay only applies to listeners they
                            // bind themselves. Without it a response split into headers,
                            // data and trailers waits out the peer's delayed ACK.
                            let _ = stream.set_nodelay(true);
                            let stream = Limited::new(stream, guard);
                            let timeout = limits.handshake_timeout;
                            pending.push(bounded(what, addr, timeout, handshake(stream, addr)));
                        }
                        Err(e) => {
                            let pause = backoff.failed();
                            tracing::warn!(error = %e, ?pause, "{what}: accept failed");
                            tokio::time::sleep(pause).await;
                        }
                    },
                }
            }
        }
    })
}

fn bounded<C: Send + 'static>(
    what: &'static str,
    addr: SocketAddr,
    timeout: Duration,
    handshake: Handshake<C>,
) -> Handshake<C> {
    Box::pin(async move {
        if timeout.is_zero() {
            // Zero turns the timeout off, as Consul's 0 does.
            return handshake.await;
        }
        match tokio::time::timeout(timeout, handshake).await {
            Ok(conn) => conn,
            Err(_) => {
                tracing::info!(peer = %addr, "{what}: TLS handshake timed out");
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_second_and_resets() {
        let mut backoff = Backoff::default();
        let pauses: Vec<_> = (0..10).map(|_| backoff.failed().as_millis()).collect();
        assert_eq!(pauses, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        backoff.succeeded();
        assert_eq!(backoff.failed(), Duration::from_millis(5));
    }
}
