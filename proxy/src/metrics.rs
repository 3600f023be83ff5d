//! Counters in atomics and their Prometheus text exposition, served on
//! `metrics_bind` at `GET /metrics`. No metrics crate: a fixed set of series
//! with fixed labels needs nothing more than relaxed atomic adds on the hot
//! path.

use std::fmt::Write;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::verify::FailureReason;

/// Which side of the sidecar a connection came in on: `inbound` through the
/// public mTLS listener, `outbound` through an upstream's local listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The series of one direction. `rx`/`tx` are seen from the mesh side:
/// `rx` counts bytes received from the TLS peer, `tx` bytes sent to it.
#[derive(Debug, Default)]
pub struct DirectionMetrics {
    pub connections_total: AtomicU64,
    pub connections_open: AtomicU64,
    pub bytes_rx: AtomicU64,
    pub bytes_tx: AtomicU64,
    /// Completed handshakes: full, and resumed from a session ticket (the
    /// cheap kind, no certificate signature or chain check).
    pub handshakes_full: AtomicU64,
    pub handshakes_resumed: AtomicU64,
    handshake_failures: [AtomicU64; FailureReason::ALL.len()],
}

impl DirectionMetrics {
    /// Counts a new connection; the guard keeps it in the open gauge.
    pub fn opened(&self) -> OpenGuard<'_> {
        self.connections_total.fetch_add(1, Ordering::Relaxed);
        self.connections_open.fetch_add(1, Ordering::Relaxed);
        OpenGuard { metrics: self }
    }

    pub fn handshake_done(&self, resumed: bool) {
        let counter = if resumed { &self.handshakes_resumed } else { &self.handshakes_full };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn handshake_failed(&self, reason: FailureReason) {
        self.handshake_failures[Self::index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    pub fn handshake_failures(&self, reason: FailureReason) -> u64 {
        self.handshake_failures[Self::index(reason)].load(Ordering::Relaxed)
    }

    fn index(reason: FailureReason) -> usize {
        FailureReason::ALL.iter().position(|r| *r == reason).unwrap_or(FailureReason::ALL.len() - 1)
    }
}

/// Decrements the open gauge when the connection ends, however it ends.
#[derive(Debug)]
pub struct OpenGuard<'a> {
    metrics: &'a DirectionMetrics,
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.metrics.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// All of a proxy's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    pub inbound: DirectionMetrics,
    pub outbound: DirectionMetrics,
    /// Inbound connections refused by an intention (or the default policy).
    pub authz_denied: AtomicU64,
    /// Open inbound connections closed because an intention change denied them.
    pub closed_by_policy: AtomicU64,
}

impl Metrics {
    pub fn direction(&self, direction: Direction) -> &DirectionMetrics {
        match direction {
            Direction::Inbound => &self.inbound,
            Direction::Outbound => &self.outbound,
        }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let dirs = [Direction::Inbound, Direction::Outbound];
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);

        family(&mut out, "tessera_proxy_connections_total", "counter", "Connections accepted.");
        for d in dirs {
            sample(
                &mut out,
                "tessera_proxy_connections_total",
                &[("direction", d.label())],
                load(&self.direction(d).connections_total),
            );
        }
        family(&mut out, "tessera_proxy_connections_open", "gauge", "Connections currently open.");
        for d in dirs {
            sample(
                &mut out,
                "tessera_proxy_connections_open",
                &[("direction", d.label())],
                load(&self.direction(d).connections_open),
            );
        }
        family(&mut out, "tessera_proxy_bytes_total", "counter", "Bytes relayed; rx from and tx to the mesh peer.");
        for d in dirs {
            let m = self.direction(d);
            sample(
                &mut out,
                "tessera_proxy_bytes_total",
                &[("direction", d.label()), ("way", "rx")],
                load(&m.bytes_rx),
            );
            sample(
                &mut out,
                "tessera_proxy_bytes_total",
                &[("direction", d.label()), ("way", "tx")],
                load(&m.bytes_tx),
            );
        }
        family(&mut out, "tessera_proxy_handshakes_total", "counter", "Completed TLS handshakes, full or resumed.");
        for d in dirs {
            let m = self.direction(d);
            sample(
                &mut out,
                "tessera_proxy_handshakes_total",
                &[("direction", d.label()), ("kind", "full")],
                load(&m.handshakes_full),
            );
            sample(
                &mut out,
                "tessera_proxy_handshakes_total",
                &[("direction", d.label()), ("kind", "resumed")],
                load(&m.handshakes_resumed),
            );
        }
        family(&mut out, "tessera_proxy_handshake_failures_total", "counter", "Failed TLS handshakes by reason.");
        for d in dirs {
            for reason in FailureReason::ALL {
                let labels = [("direction", d.label()), ("reason", reason.label())];
                sample(
                    &mut out,
                    "tessera_proxy_handshake_failures_total",
                    &labels,
                    self.direction(d).handshake_failures(reason),
                );
            }
        }
        family(&mut out, "tessera_proxy_authz_denied_total", "counter", "Inbound connections denied by intentions.");
        sample(&mut out, "tessera_proxy_authz_denied_total", &[("reason", "intention")], load(&self.authz_denied));
        family(
            &mut out,
            "tessera_proxy_connections_closed_by_policy_total",
            "counter",
            "Open connections closed after an intention change denied them.",
        );
        sample(&mut out, "tessera_proxy_connections_closed_by_policy_total", &[], load(&self.closed_by_policy));
        out
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: u64) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(out, "{sep}{k}=\"{v}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Serves `GET /metrics` until `shutdown`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: CancellationToken) -> std::io::Result<()> {
    use axum::http::header;
    use axum::routing::get;

    let handler = move || {
        let metrics = metrics.clone();
        async move { ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], metrics.render()) }
    };
    let app = axum::Router::new().route("/metrics", get(handler));
    axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_series_with_labels() {
        let metrics = Metrics::default();
        let guard = metrics.inbound.opened();
        metrics.inbound.bytes_rx.fetch_add(5, Ordering::Relaxed);
        metrics.outbound.handshake_failed(FailureReason::BadIdentity);
        let text = metrics.render();
        assert!(text.contains("tessera_proxy_connections_total{direction=\"inbound\"} 1\n"), "{text}");
        assert!(text.contains("tessera_proxy_connections_open{direction=\"inbound\"} 1\n"));
        assert!(text.contains("tessera_proxy_bytes_total{direction=\"inbound\",way=\"rx\"} 5\n"));
        assert!(
            text.contains("tessera_proxy_handshake_failures_total{direction=\"outbound\",reason=\"bad_identity\"} 1\n")
        );
        assert!(text.contains("tessera_proxy_authz_denied_total{reason=\"intention\"} 0\n"));
        assert!(text.contains("tessera_proxy_connections_closed_by_policy_total 0\n"));
        drop(guard);
        assert!(metrics.render().contains("tessera_proxy_connections_open{direction=\"inbound\"} 0\n"));
    }
}
