//! Catalog sizes, read from the store at each scrape (Consul's
//! `consul.state.*` gauges): a collector, so nothing has to keep them up
//! to date between scrapes.

use std::sync::Weak;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::encoding::EncodeMetric;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tessera_store::CatalogSizes;
use tessera_store::Store;

use crate::metrics::Builder;

const SERIES: [(&str, &str); 3] = [
    ("consul.state.nodes", "Nodes in the catalog."),
    ("consul.state.services", "Service names in the catalog."),
    ("consul.state.service_instances", "Service instances in the catalog."),
];

pub(crate) fn register(b: &mut Builder<'_>, store: Weak<Store>) {
    let names = SERIES.map(|(dotted, help)| (b.remember(dotted, MetricType::Gauge), help));
    b.registry().register_collector(Box::new(CatalogSizesCollector { store, names }));
}

#[derive(Debug)]
struct CatalogSizesCollector {
    store: Weak<Store>,
    /// The exposed names with their help, in [`SERIES`] order.
    names: [(String, &'static str); 3],
}

impl CatalogSizesCollector {
    /// None once the store is gone or unreadable: the gauges are left out.
    fn read(&self) -> Option<CatalogSizes> {
        let store = self.store.upgrade()?;
        let sizes = store.view().catalog_sizes();
        sizes.map_err(|e| tracing::debug!(error = %e, "catalog sizes unreadable")).ok()
    }
}

impl Collector for CatalogSizesCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sizes) = self.read() else { return Ok(()) };
        let values = [sizes.nodes, sizes.services, sizes.instances];
        for ((name, help), value) in self.names.iter().zip(values) {
            let gauge = ConstGauge::new(value as i64);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}
