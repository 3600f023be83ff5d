//! The sidecar's series on a `prometheus-client` registry, served on
//! `metrics_bind` at `GET /metrics` in the Prometheus text format (0.0.4).
//!
//! Every labelled child is created once, here, when the proxy starts: the
//! hot path holds the child itself (an `Arc` around one atomic) and adds to
//! it, with no label lookup per connection or per byte. The relay adds
//! straight to the byte counters' atomics.

use std::borrow::Cow;
use std::sync::Arc;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
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
    pub const ALL: [Direction; 2] = [Direction::Inbound, Direction::Outbound];

    pub fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A label set: static names, static values.
type Labels = Vec<(&'static str, Cow<'static, str>)>;

fn labels(pairs: &[(&'static str, &'static str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, Cow::Borrowed(*v))).collect()
}

/// The series of one direction. `rx`/`tx` are seen from the mesh side:
/// `rx` counts bytes received from the TLS peer, `tx` bytes sent to it.
#[derive(Debug)]
pub struct DirectionMetrics {
    pub connections_total: Counter,
    pub connections_open: Gauge,
    pub bytes_rx: Counter,
    pub bytes_tx: Counter,
    /// Completed handshakes: full, and resumed from a session ticket (the
    /// cheap kind, no certificate signature or chain check).
    pub handshakes_full: Counter,
    pub handshakes_resumed: Counter,
    handshake_failures: [Counter; FailureReason::ALL.len()],
}

impl DirectionMetrics {
    /// Counts a new connection; the guard keeps it in the open gauge.
    pub fn opened(&self) -> OpenGuard<'_> {
        self.connections_total.inc();
        self.connections_open.inc();
        OpenGuard { metrics: self }
    }

    pub fn handshake_done(&self, resumed: bool) {
        let counter = if resumed { &self.handshakes_resumed } else { &self.handshakes_full };
        counter.inc();
    }

    pub fn handshake_failed(&self, reason: FailureReason) {
        self.handshake_failures[Self::index(reason)].inc();
    }

    pub fn handshake_failures(&self, reason: FailureReason) -> u64 {
        self.handshake_failures[Self::index(reason)].get()
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
        self.metrics.connections_open.dec();
    }
}

/// The families, kept only to create each direction's children from.
struct Families {
    connections: Family<Labels, Counter>,
    open: Family<Labels, Gauge>,
    bytes: Family<Labels, Counter>,
    handshakes: Family<Labels, Counter>,
    failures: Family<Labels, Counter>,
    denied: Family<Labels, Counter>,
}

impl Families {
    /// Registers every family under the names the sidecar has always
    /// exposed (the registry appends `_total` to counters).
    fn register(registry: &mut Registry) -> Families {
        let families = Families {
            connections: Family::default(),
            open: Family::default(),
            bytes: Family::default(),
            handshakes: Family::default(),
            failures: Family::default(),
            denied: Family::default(),
        };
        registry.register("tessera_proxy_connections", "Connections accepted", families.connections.clone());
        registry.register("tessera_proxy_connections_open", "Connections currently open", families.open.clone());
        let bytes_help = "Bytes relayed; rx from and tx to the mesh peer";
        registry.register("tessera_proxy_bytes", bytes_help, families.bytes.clone());
        let handshakes_help = "Completed TLS handshakes, full or resumed";
        registry.register("tessera_proxy_handshakes", handshakes_help, families.handshakes.clone());
        let failures_help = "Failed TLS handshakes by reason";
        registry.register("tessera_proxy_handshake_failures", failures_help, families.failures.clone());
        let denied_help = "Inbound connections denied by intentions";
        registry.register("tessera_proxy_authz_denied", denied_help, families.denied.clone());
        families
    }

    fn direction(&self, direction: Direction) -> DirectionMetrics {
        let d = direction.label();
        let failure = |reason: FailureReason| {
            self.failures.get_or_create_owned(&labels(&[("direction", d), ("reason", reason.label())]))
        };
        DirectionMetrics {
            connections_total: self.connections.get_or_create_owned(&labels(&[("direction", d)])),
            connections_open: self.open.get_or_create_owned(&labels(&[("direction", d)])),
            bytes_rx: self.bytes.get_or_create_owned(&labels(&[("direction", d), ("way", "rx")])),
            bytes_tx: self.bytes.get_or_create_owned(&labels(&[("direction", d), ("way", "tx")])),
            handshakes_full: self.handshakes.get_or_create_owned(&labels(&[("direction", d), ("kind", "full")])),
            handshakes_resumed: self.handshakes.get_or_create_owned(&labels(&[("direction", d), ("kind", "resumed")])),
            handshake_failures: FailureReason::ALL.map(failure),
        }
    }
}

/// All of a proxy's series, and the registry that renders them.
#[derive(Debug)]
pub struct Metrics {
    pub inbound: DirectionMetrics,
    pub outbound: DirectionMetrics,
    /// Inbound connections refused by an intention (or the default policy).
    pub authz_denied: Counter,
    /// Open inbound connections closed because an intention change denied them.
    pub closed_by_policy: Counter,
    registry: Registry,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let families = Families::register(&mut registry);
        let closed_by_policy = Counter::default();
        let closed_help = "Open connections closed after an intention change denied them";
        registry.register("tessera_proxy_connections_closed_by_policy", closed_help, closed_by_policy.clone());
        Metrics {
            inbound: families.direction(Direction::Inbound),
            outbound: families.direction(Direction::Outbound),
            authz_denied: families.denied.get_or_create_owned(&labels(&[("reason", "intention")])),
            closed_by_policy,
            registry,
        }
    }
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
        let mut out = String::with_capacity(4096);
        prometheus_text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

/// Serves `GET /metrics` until `shutdown`.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, shutdown: CancellationToken) -> std::io::Result<()> {
    use axum::http::header;
    use axum::routing::get;

    let handler = move || {
        let metrics = metrics.clone();
        async move { ([(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)], metrics.render()) }
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
        metrics.inbound.bytes_rx.inc_by(5);
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

    #[test]
    fn keeps_the_families_names_types_and_help() {
        let text = Metrics::default().render();
        for (family, kind) in [
            ("tessera_proxy_connections_total", "counter"),
            ("tessera_proxy_connections_open", "gauge"),
            ("tessera_proxy_bytes_total", "counter"),
            ("tessera_proxy_handshakes_total", "counter"),
            ("tessera_proxy_handshake_failures_total", "counter"),
            ("tessera_proxy_authz_denied_total", "counter"),
            ("tessera_proxy_connections_closed_by_policy_total", "counter"),
        ] {
            assert!(text.contains(&format!("# TYPE {family} {kind}\n")), "{family} in\n{text}");
            assert!(text.contains(&format!("# HELP {family} ")), "{family} in\n{text}");
        }
        assert!(text.contains("# HELP tessera_proxy_connections_total Connections accepted.\n"), "{text}");
        for direction in Direction::ALL {
            for reason in FailureReason::ALL {
                let d = direction.label();
                let series = format!(
                    "tessera_proxy_handshake_failures_total{{direction=\"{d}\",reason=\"{}\"}} 0\n",
                    reason.label()
                );
                assert!(text.contains(&series), "{series} in\n{text}");
            }
        }
    }
}
