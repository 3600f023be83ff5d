//! The agent's metrics: one `prometheus-client` registry per agent process,
//! with the series named as Consul names them where Consul has one
//! (`consul.raft.apply` is exposed as `consul_raft_apply_total`), and
//! `tessera.*` where it has none. [`Metrics::prometheus`] renders the text
//! exposition, [`Metrics::summary`] Consul's `/v1/agent/metrics` JSON.
//!
//! The registry is passed explicitly (an `Arc<Metrics>` built in `start`
//! and handed to the Raft node, the agent, the HTTP routers and the gRPC
//! servers) rather than held in a process-wide static: tests run several
//! agents in one process, and each must count only its own work. Every
//! layer reaches it through something it already holds (the `Server`, the
//! `Agent`), so passing it costs one field each.
//!
//! Timers are histograms in milliseconds, Consul's unit for them in both
//! of its formats.

mod catalog;
mod grpc;
mod http;
mod json;
mod raft;
mod series;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Weak;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Metric;
use prometheus_client::registry::Registry;
use tessera_store::Store;
use tokio::time::Instant;

pub use crate::metrics::grpc::RpcLayer;
pub use crate::metrics::grpc::RpcMetrics;
pub use crate::metrics::http::record_http;
pub use crate::metrics::http::HttpMetrics;
pub use crate::metrics::raft::RaftMetrics;
pub use crate::metrics::raft::RaftSample;
pub use crate::metrics::series::CheckMetrics;
pub use crate::metrics::series::LeafMetrics;

/// The `Content-Type` of [`Metrics::prometheus`], as Consul sends it.
pub const PROMETHEUS_CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// Every series of one agent, grouped by the layer that records them.
#[derive(Debug)]
pub struct Metrics {
    pub raft: RaftMetrics,
    pub rpc: Arc<RpcMetrics>,
    pub http: Arc<HttpMetrics>,
    pub checks: CheckMetrics,
    pub leaf: LeafMetrics,
    registry: Registry,
    /// Exposed family name -> Consul's dotted name, for the JSON form.
    names: HashMap<String, String>,
    started: Instant,
}

impl Metrics {
    /// A client agent's metrics: no Raft node, no catalog of its own.
    pub fn client() -> Metrics {
        Metrics::build(None)
    }

    /// A server's: its catalog sizes are read from `store` at each scrape
    /// (a weak reference: metrics never keep the store from closing).
    pub fn server(store: Weak<Store>) -> Metrics {
        Metrics::build(Some(store))
    }

    fn build(store: Option<Weak<Store>>) -> Metrics {
        let mut names = Names::default();
        let mut registry = Registry::default();
        let mut builder = Builder { registry: &mut registry, names: &mut names };
        let raft = RaftMetrics::register(&mut builder);
        let rpc = Arc::new(RpcMetrics::register(&mut builder));
        let http = Arc::new(HttpMetrics::register(&mut builder));
        let checks = CheckMetrics::register(&mut builder);
        let leaf = LeafMetrics::register(&mut builder);
        if let Some(store) = store {
            catalog::register(&mut builder, store);
        }
        Metrics { raft, rpc, http, checks, leaf, registry, names: names.0, started: Instant::now() }
    }

    /// The Prometheus text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        prometheus_text::encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }

    /// Consul's `/v1/agent/metrics` JSON (go-metrics' `MetricsSummary`),
    /// from the same exposition: values since the agent started, not over
    /// Consul's last 10-second interval.
    pub fn summary(&self) -> serde_json::Value {
        let uptime = self.started.elapsed().as_secs_f64().max(1.0);
        json::summary(&self.prometheus(), &self.names, uptime)
    }
}

/// Maps the family names the exposition shows to Consul's dotted names.
#[derive(Debug, Default)]
struct Names(HashMap<String, String>);

/// Registers series under Consul's dotted names, remembering each one for
/// the JSON form.
pub(crate) struct Builder<'a> {
    registry: &'a mut Registry,
    names: &'a mut Names,
}

impl Builder<'_> {
    /// Registers `metric` as `dotted` (`consul.raft.apply`), exposed with
    /// underscores; `help` without a final period (the registry adds one).
    pub(crate) fn register(&mut self, dotted: &str, help: &str, metric: impl Metric) {
        let kind = metric.metric_type();
        let name = self.remember(dotted, kind);
        self.registry.register(name, help, metric);
    }

    /// Records the name of a family a collector writes at scrape time.
    pub(crate) fn remember(&mut self, dotted: &str, kind: MetricType) -> String {
        let name = dotted.replace(['.', '-'], "_");
        let exposed = match kind {
            MetricType::Counter => format!("{name}_total"),
            _ => name.clone(),
        };
        self.names.0.insert(exposed, dotted.to_string());
        name
    }

    pub(crate) fn registry(&mut self) -> &mut Registry {
        self.registry
    }
}

/// Upper bounds, in milliseconds, of the timers' buckets: from a local
/// fsync to a write held through an election.
pub(crate) fn timer() -> Histogram {
    Histogram::new([0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0])
}

/// Milliseconds since `start`, as timers record them.
pub(crate) fn millis_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

/// A label set: static names, values static or built per request.
pub(crate) type Labels<const N: usize> = [(&'static str, std::borrow::Cow<'static, str>); N];
