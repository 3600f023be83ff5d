//! Accepting connections whose handshake takes a while (TLS) without one
//! holding up another: handshakes run side by side, at most
//! [`MAX_HANDSHAKES`] at once, each bounded by [`HANDSHAKE_TIMEOUT`]. Every
//! listener of the agent accepts through [`accepting`].

use std::net::SocketAddr;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;

/// TLS handshakes in flight on one listener; more connections wait in the
/// kernel's backlog rather than holding memory and a descriptor here.
pub const MAX_HANDSHAKES: usize = 256;
/// A connection that has not finished its handshake by then is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After accept fails (EMFILE), before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What a handshake ends with: the connection, or None when it failed (the
/// handshake logs why).
pub type Handshake<C> = BoxFuture<'static, Option<C>>;

/// The connections of `listener` as their handshakes finish. `what` names
/// the listener in logs.
pub fn accepting<C, H>(listener: TcpListener, what: &'static str, handshake: H) -> impl futures::Stream<Item = C> + Send
where
    C: Send + 'static,
    H: Fn(TcpStream, SocketAddr) -> Handshake<C> + Send + 'static,
{
    let pending: FuturesUnordered<Handshake<C>> = FuturesUnordered::new();
    futures::stream::unfold((listener, handshake, pending), move |(listener, handshake, mut pending)| async move {
        loop {
            tokio::select! {
                Some(done) = pending.next(), if !pending.is_empty() => {
                    if let Some(conn) = done {
                        return Some((conn, (listener, handshake, pending)));
                    }
                }
                accepted = listener.accept(), if pending.len() < MAX_HANDSHAKES => match accepted {
                    Ok((stream, addr)) => {
                        // The builders' tcp_nodelay only applies to listeners they
                        // bind themselves. Without it a response split into headers,
                        // data and trailers waits out the peer's delayed ACK.
                        let _ = stream.set_nodelay(true);
                        pending.push(bounded(what, addr, handshake(stream, addr)));
                    }
                    Err(e) => {
                        // Out of descriptors, most likely: back off instead of spinning.
                        tracing::warn!(error = %e, "{what}: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
    })
}

fn bounded<C: Send + 'static>(what: &'static str, addr: SocketAddr, handshake: Handshake<C>) -> Handshake<C> {
    Box::pin(async move {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
            Ok(conn) => conn,
            Err(_) => {
                tracing::info!(peer = %addr, "{what}: TLS handshake timed out");
                None
            }
        }
    })
}
