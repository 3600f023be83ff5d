//! The public listener: mutual TLS in, intentions checked, plain TCP to the
//! local application. One task per connection (handshake, then the relay
//! in both directions); with close-denied on, each registers in the
//! [`Registry`] so a later deny can cut it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;

use crate::config::PublicListener;
use crate::conns::Registry;
use crate::metrics::Metrics;
use crate::read_ahead::ReadAhead;
use crate::relay::relay;
use crate::state::Snapshots;
use crate::tls;
use crate::verify::FailureReason;

pub struct Inbound {
    pub config: PublicListener,
    pub snapshots: Arc<Snapshots>,
    pub metrics: Arc<Metrics>,
    /// Present when close-denied is on.
    pub registry: Option<Arc<Registry>>,
    pub tracker: TaskTracker,
    pub shutdown: CancellationToken,
}

impl Inbound {
    /// Accepts until shutdown; each connection gets its own task.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        while let Some((tcp, peer)) = crate::accept(&listener, &self.shutdown).await {
            let this = self.clone();
            self.tracker.spawn(async move { this.handle(tcp, peer).await });
        }
    }

    async fn handle(&self, tcp: TcpStream, peer: SocketAddr) {
        let _open = self.metrics.inbound.opened();
        // A child of shutdown: a policy close cancels only this connection.
        let cancel = self.shutdown.child_token();
        tokio::select! {
            _ = cancel.cancelled() => debug!(%peer, "inbound connection closed (policy or shutdown)"),
            _ = self.proxy(tcp, peer, &cancel) => {}
        }
    }

    async fn proxy(&self, tcp: TcpStream, peer: SocketAddr, cancel: &CancellationToken) {
        let _ = tcp.set_nodelay(true);
        let current = self.snapshots.current();
        let transport = ReadAhead::new(tcp);
        let (mut tls, identity) = match tls::accept(&current.tls, transport, self.config.handshake_timeout).await {
            Ok(accepted) => accepted,
            Err(err) => {
                let reason = FailureReason::of(&err);
                self.metrics.inbound.handshake_failed(reason);
                debug!(%peer, %reason, error = %err, "inbound TLS handshake failed");
                return;
            }
        };
        self.metrics.inbound.handshake_done(tls::resumed(tls.get_ref().1));
        // Register before deciding: a deny pushed after this decision is
        // then caught by the close-denied sweep.
        let _registration = self.registry.as_ref().map(|r| r.register(&identity.service, cancel.clone()));
        // Intentions may have changed during the handshake: decide on the latest.
        let latest = self.snapshots.current();
        if !latest.allows(&identity.service) {
            self.metrics.authz_denied.inc();
            let reason = latest.authorize(&identity.service).reason;
            debug!(%peer, source = %identity, %reason, "inbound connection denied");
            return;
        }
        let connect = TcpStream::connect(self.config.local_app);
        let mut app = match tokio::time::timeout(self.config.local_connect_timeout, connect).await {
            Ok(Ok(app)) => app,
            Ok(Err(err)) => return debug!(app = %self.config.local_app, error = %err, "local app refused"),
            Err(_) => return debug!(app = %self.config.local_app, "local app connect timed out"),
        };
        let _ = app.set_nodelay(true);
        let m = &self.metrics.inbound;
        if let Err(err) = relay(&mut tls, &mut app, m.bytes_rx.inner(), m.bytes_tx.inner()).await {
            debug!(%peer, source = %identity, error = %err, "inbound relay ended with an error");
        }
    }
}
