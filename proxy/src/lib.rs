//! The Tessera sidecar proxy and the Connect-native library.
//!
//! # Layout
//!
//! - [`config`]: what the proxy is told: the listener layout and the
//!   snapshot (identity, leaf, roots, intentions) the agent feed replaces.
//! - `verify`: chain and SPIFFE identity checks, for both directions.
//! - `tls`: rustls configs built once per leaf/roots change; the two handshakes.
//! - `state`: the current snapshot and its derived configs, cached per version.
//! - `inbound`: public mTLS listener → intentions → local app.
//! - `outbound`: upstream local listeners → chosen endpoint over mTLS
//!   (`balancer`: power of two choices, failover).
//! - `relay`: the byte copy both ways, with half-close; `read_ahead`: the
//!   socket buffer under TLS that exists only during bulk transfers.
//! - `conns`: open inbound connections, closed when a change denies them.
//! - [`metrics`]: the series (prometheus-client) and their Prometheus exposition.
//! - [`native`]: the same TLS and authorization for applications without a sidecar.
//! - [`agent`]: the feed from the local agent (ProxyApi stream, upstream
//!   health) that keeps snapshots and endpoints current.
//!
//! [`run`] binds then serves; [`Proxy`] splits the two so a caller (tests,
//! the CLI printing its banner) can learn the bound addresses first.
#![forbid(unsafe_code)]

pub mod agent;
pub mod config;
pub mod metrics;
pub mod native;

mod balancer;
mod conns;
mod inbound;
mod outbound;
mod read_ahead;
mod relay;
mod state;
mod tls;
mod verify;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;
use tracing::warn;

pub use crate::config::Endpoint;
pub use crate::config::Leaf;
pub use crate::config::ProxyConfig;
pub use crate::config::ProxySnapshot;
pub use crate::config::PublicListener;
pub use crate::config::Root;
pub use crate::config::Roots;
pub use crate::config::Upstream;
pub use crate::metrics::Metrics;
pub use crate::native::NativeService;
pub use crate::verify::FailureReason;

/// Binds every listener of `config`, then serves until `shutdown`.
///
/// Binding comes first and fails with the address in the message. Logs
/// `"{local_bind}->service:default/{destination_name} starting on
/// {local_bind}"` per upstream and `"Proxy loaded config and ready to
/// serve"` once everything is bound and the first snapshot's certificates
/// are loaded. `endpoints` maps each upstream's `destination_name` to its
/// instances; an upstream without an entry closes every connection.
pub async fn run(
    config: ProxyConfig,
    snapshots: watch::Receiver<ProxySnapshot>,
    endpoints: HashMap<String, watch::Receiver<Vec<Endpoint>>>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    Proxy::bind(config).await?.serve(snapshots, endpoints, shutdown).await
}

/// A proxy whose listeners are bound but not yet serving.
#[derive(Debug)]
pub struct Proxy {
    config: ProxyConfig,
    public: Option<TcpListener>,
    upstreams: Vec<(Upstream, TcpListener)>,
    metrics_listener: Option<TcpListener>,
    metrics: Arc<Metrics>,
}

impl Proxy {
    pub async fn bind(config: ProxyConfig) -> anyhow::Result<Proxy> {
        let public = match &config.public_listener {
            Some(public) => Some(bind(public.bind, "public listener").await?),
            None => None,
        };
        let mut upstreams = Vec::with_capacity(config.upstreams.len());
        for upstream in &config.upstreams {
            let what = format!("upstream {}", upstream.destination_name);
            let listener = bind(upstream.local_bind, &what).await?;
            let addr = listener.local_addr()?;
            info!("{addr}->service:default/{} starting on {addr}", upstream.destination_name);
            upstreams.push((upstream.clone(), listener));
        }
        let metrics_listener = match config.metrics_bind {
            Some(addr) => Some(bind(addr, "metrics").await?),
            None => None,
        };
        Ok(Proxy { config, public, upstreams, metrics_listener, metrics: Arc::default() })
    }

    /// The public listener's bound address.
    pub fn public_addr(&self) -> Option<SocketAddr> {
        self.public.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound address of the upstream for `destination_name`.
    pub fn upstream_addr(&self, destination_name: &str) -> Option<SocketAddr> {
        let (_, listener) = self.upstreams.iter().find(|(u, _)| u.destination_name == destination_name)?;
        listener.local_addr().ok()
    }

    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The live counters (also served on `metrics_bind`).
    pub fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    /// Serves until `shutdown`, then closes every connection and returns.
    pub async fn serve(
        self,
        snapshots: watch::Receiver<ProxySnapshot>,
        mut endpoints: HashMap<String, watch::Receiver<Vec<Endpoint>>>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let state = Arc::new(state::Snapshots::new(snapshots.clone()).context("loading the first snapshot")?);
        let tracker = TaskTracker::new();
        // Open connections are tracked only when a deny should cut them.
        let registry = self.config.close_denied.then(|| Arc::new(conns::Registry::default()));
        if let Some(registry) = &registry {
            let sweep =
                close_denied(snapshots, state.clone(), registry.clone(), self.metrics.clone(), shutdown.clone());
            tracker.spawn(sweep);
        }
        if let (Some(listener), Some(config)) = (self.public, self.config.public_listener.clone()) {
            let inbound = inbound::Inbound {
                pending: Arc::new(tokio::sync::Semaphore::new(config.max_pending_handshakes)),
                refused: Default::default(),
                idle_timeout: self.config.idle_timeout,
                config,
                snapshots: state.clone(),
                metrics: self.metrics.clone(),
                registry,
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
            };
            tracker.spawn(Arc::new(inbound).serve(listener));
        }
        for (upstream, listener) in self.upstreams {
            let rx = endpoints.remove(&upstream.destination_name);
            if rx.is_none() {
                warn!(upstream = %upstream.destination_name, "no endpoint feed for this upstream; its connections will be closed");
            }
            let outbound = outbound::Outbound {
                balancer: balancer::Balancer::new(rx),
                config: upstream,
                idle_timeout: self.config.idle_timeout,
                snapshots: state.clone(),
                metrics: self.metrics.clone(),
                tracker: tracker.clone(),
                shutdown: shutdown.clone(),
            };
            tracker.spawn(Arc::new(outbound).serve(listener));
        }
        if let Some(listener) = self.metrics_listener {
            let (metrics, shutdown) = (self.metrics.clone(), shutdown.clone());
            tracker.spawn(async move {
                if let Err(err) = metrics::serve(listener, metrics, shutdown).await {
                    warn!(error = %err, "metrics server stopped");
                }
            });
        }
        info!("Proxy loaded config and ready to serve");
        shutdown.cancelled().await;
        tracker.close();
        tracker.wait().await;
        Ok(())
    }
}

async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr).await.with_context(|| format!("binding the {what} on {addr}"))
}

/// Applies each new snapshot as it arrives: derives its TLS configs ahead
/// of the next connection and, with `close_denied`, cuts the open inbound
/// connections it now denies.
async fn close_denied(
    mut rx: watch::Receiver<ProxySnapshot>,
    state: Arc<state::Snapshots>,
    registry: Arc<conns::Registry>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = rx.changed() => if changed.is_err() { return },
        }
        let current = state.current();
        let closed = registry.close_denied(|source| current.allows(source));
        if closed > 0 {
            metrics.closed_by_policy.inc_by(closed as u64);
            info!(closed, "closed open connections denied by an intention change");
        }
    }
}

/// The next accepted connection, or `None` at shutdown. Accept errors (out
/// of file descriptors, mostly) are logged and retried after a pause
/// growing from 5 ms to 1 s (the agent's `accept::Backoff`) rather than
/// ending the listener.
async fn accept(listener: &TcpListener, shutdown: &CancellationToken) -> Option<(TcpStream, SocketAddr)> {
    let mut backoff = tessera_proto::transport::accept::Backoff::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(conn) => return Some(conn),
                Err(err) => {
                    let pause = backoff.failed();
                    warn!(error = %err, ?pause, "accept failed");
                    tokio::select! {
                        _ = shutdown.cancelled() => return None,
                        _ = tokio::time::sleep(pause) => {}
                    }
                }
            },
        }
    }
}
