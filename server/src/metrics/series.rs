//! Series with one recording point each: check runs (the agent's runners)
//! and leaf signing (the CA on the leader).

use std::borrow::Cow;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

use crate::metrics::millis_since;
use crate::metrics::timer;
use crate::metrics::Builder;
use crate::metrics::Labels;

/// Check runner results, by check type and the status reported.
#[derive(Debug)]
pub struct CheckMetrics {
    runs: Family<Labels<2>, Counter>,
}

impl CheckMetrics {
    pub(crate) fn register(b: &mut Builder<'_>) -> CheckMetrics {
        let m = CheckMetrics { runs: Family::default() };
        b.register(
            "tessera.agent.check.runs",
            "Check results reported by the runners, by type and status",
            m.runs.clone(),
        );
        m
    }

    /// A runner of a `kind` check (`tcp`, `http`, `ttl`) reported `status`.
    pub fn ran(&self, kind: &'static str, status: &'static str) {
        self.runs.get_or_create(&[("type", Cow::Borrowed(kind)), ("status", Cow::Borrowed(status))]).inc();
    }
}

/// Leaf certificates signed by this server's CA, and how long each took;
/// the leaf managers this agent runs.
#[derive(Debug)]
pub struct LeafMetrics {
    signs: Family<Labels<1>, Counter>,
    sign_time: Family<Labels<1>, Histogram, fn() -> Histogram>,
    managers: Gauge,
}

impl LeafMetrics {
    pub(crate) fn register(b: &mut Builder<'_>) -> LeafMetrics {
        let m = LeafMetrics {
            signs: Family::default(),
            sign_time: Family::new_with_constructor(timer),
            managers: Gauge::default(),
        };
        b.register("tessera.connect.leaf.sign", "Leaf certificate requests signed (or refused) here", m.signs.clone());
        let time_help = "Milliseconds to check a CSR and sign its leaf certificate";
        b.register("tessera.connect.leaf.sign_time", time_help, m.sign_time.clone());
        let managers_help = "Services whose leaf certificate this agent keeps renewed";
        b.register("tessera.agent.connect.leaf.managers", managers_help, m.managers.clone());
        m
    }

    /// The gauge the agent's leaf cache keeps at its number of managers.
    pub fn managers(&self) -> Gauge {
        self.managers.clone()
    }

    /// A CSR taken at `start` was signed (`errored` false) or refused.
    pub fn signed(&self, start: Instant, errored: bool) {
        let labels = [("errored", Cow::Borrowed(if errored { "true" } else { "false" }))];
        self.signs.get_or_create(&labels).inc();
        self.sign_time.get_or_create(&labels).observe(millis_since(start));
    }
}
