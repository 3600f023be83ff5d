//! One upstream: a plain TCP listener for the local application; each
//! connection is carried over mutual TLS to an instance of the destination,
//! chosen by [`Balancer`], and the far end must prove it is that service.
//! A failed connect or handshake moves on to another endpoint; when none is
//! left the local connection is closed.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::balancer::Balancer;
use crate::balancer::Picked;
use crate::config::Upstream;
use crate::metrics::Metrics;
use crate::read_ahead::ReadAhead;
use crate::relay::relay;
use crate::state::Current;
use crate::state::Snapshots;
use crate::tls;
use crate::tls::DialError;
use crate::verify::FailureReason;

pub struct Outbound {
    pub config: Upstream,
    /// The proxy's relay idle timeout (`ProxyConfig::idle_timeout`).
    pub idle_timeout: Option<std::time::Duration>,
    pub balancer: Balancer,
    pub snapshots: Arc<Snapshots>,
    pub metrics: Arc<Metrics>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

impl Outbound {
    /// Accepts until shutdown; each connection gets its own task.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        while let Some((tcp, peer)) = crate::accept(&listener, &self.shutdown).await {
            let this = self.clone();
            self.tracker.spawn(async move { this.handle(tcp, peer).await });
        }
    }

    async fn handle(&self, tcp: TcpStream, peer: SocketAddr) {
        let _open = self.metrics.outbound.opened();
        tokio::select! {
            _ = self.shutdown.cancelled() => {}
            _ = self.proxy(tcp, peer) => {}
        }
    }

    async fn proxy(&self, mut local: TcpStream, peer: SocketAddr) {
        let _ = local.set_nodelay(true);
        let current = self.snapshots.current();
        let Some((mut remote, picked)) = self.dial(&current).await else {
            debug!(%peer, upstream = %self.config.destination_name, "no reachable endpoint, closing");
            return;
        };
        let m = &self.metrics.outbound;
        if let Err(err) =
            relay(&mut remote, &mut local, m.bytes_rx.inner(), m.bytes_tx.inner(), self.idle_timeout).await
        {
            debug!(%peer, endpoint = %picked.endpoint().addr, error = %err, "outbound relay ended with an error");
        }
    }

    /// Tries endpoints until one completes the handshake.
    async fn dial(&self, current: &Current) -> Option<(TlsStream<ReadAhead<TcpStream>>, Picked)> {
        let mut attempts = self.balancer.attempts();
        while let Some(picked) = attempts.next() {
            let endpoint = picked.endpoint();
            let service = expected_service(&endpoint.service, &self.config.destination_name);
            let timeout = self.config.connect_timeout;
            match tls::connect(&current.tls, endpoint.addr, service, timeout, ReadAhead::new).await {
                Ok(stream) => {
                    self.metrics.outbound.handshake_done(tls::resumed(stream.get_ref().1));
                    return Some((stream, picked));
                }
                Err(err) => self.dial_failed(&err),
            }
        }
        None
    }

    fn dial_failed(&self, err: &DialError) {
        if let DialError::Handshake(_, io) = err {
            self.metrics.outbound.handshake_failed(FailureReason::of(io));
        }
        debug!(upstream = %self.config.destination_name, error = %err, "endpoint attempt failed");
    }
}

/// The identity an endpoint must present: its own `service`, or the
/// destination's name when the feed left it empty.
pub fn expected_service<'a>(endpoint_service: &'a str, destination: &'a str) -> &'a str {
    if endpoint_service.is_empty() {
        destination
    } else {
        endpoint_service
    }
}
