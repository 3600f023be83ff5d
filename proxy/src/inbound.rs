//! The public listener: mutual TLS in, intentions checked, plain TCP to the
//! local application. One task per connection (handshake, then the relay
//! in both directions); with close-denied on, each registers in the
//! [`Registry`] so a later deny can cut it. At most
//! `max_pending_handshakes` connections wait for their handshake at once
//! (each for at most `handshake_timeout`); one more is closed at accept, so
//! a flood of silent clients cannot take the descriptors.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::debug;
use tracing::warn;

use crate::config::PublicListener;
use crate::conns::Registry;
use crate::metrics::Metrics;
use crate::read_ahead::ReadAhead;
use crate::relay::relay;
use crate::state::Snapshots;
use crate::tls;
use crate::verify::FailureReason;

/// Refusals for a full handshake queue are logged at most this often.
const REFUSED_LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Inbound {
    pub config: PublicListener,
    /// One permit per connection waiting for its handshake.
    pub pending: Arc<Semaphore>,
    /// When a refusal was last logged, and how many since.
    pub refused: Mutex<(Option<Instant>, u64)>,
    /// The relay idle timeout (`ProxyConfig::idle_timeout`).
    pub idle_timeout: Option<Duration>,
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
            let Ok(permit) = self.pending.clone().try_acquire_owned() else {
                self.log_refused(peer);
                continue;
            };
            let this = self.clone();
            self.tracker.spawn(async move { this.handle(tcp, peer, permit).await });
        }
    }

    fn log_refused(&self, peer: SocketAddr) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.1 += 1;
        if refused.0.is_some_and(|at| at.elapsed() < REFUSED_LOG_EVERY) {
            return;
        }
        warn!(
            %peer,
            refused = refused.1,
            max = self.config.max_pending_handshakes,
            "inbound connection closed: too many waiting for their TLS handshake"
        );
        *refused = (Some(Instant::now()), 0);
    }

    async fn handle(&self, tcp: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit) {
        let _open = self.metrics.inbound.opened();
        // A child of shutdown: a policy close cancels only this connection.
        let cancel = self.shutdown.child_token();
        tokio::select! {
            _ = cancel.cancelled() => debug!(%peer, "inbound connection closed (policy or shutdown)"),
            _ = self.proxy(tcp, peer, permit, &cancel) => {}
        }
    }

    async fn proxy(&self, tcp: TcpStream, peer: SocketAddr, permit: OwnedSemaphorePermit, cancel: &CancellationToken) {
        let _ = tcp.set_nodelay(true);
        let current = self.snapshots.current();
        let transport = ReadAhead::new(tcp);
        let accepted = tls::accept(&current.tls, transport, self.config.handshake_timeout).await;
        // Handshake over, whichever way: the next connection may start its own.
        drop(permit);
        let (mut tls, identity) = match accepted {
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
        if let Err(err) = relay(&mut tls, &mut app, m.bytes_rx.inner(), m.bytes_tx.inner(), self.idle_timeout).await {
            debug!(%peer, source = %identity, error = %err, "inbound relay ended with an error");
        }
    }
}
