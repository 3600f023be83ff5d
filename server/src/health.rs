//! Service health as the catalog tells it: each instance with the checks
//! that decide whether it is healthy (its own and its node's). The health
//! HTTP API and DNS both answer from here.

use tessera_proto::catalog::CheckStatus;
use tessera_proto::catalog::HealthCheck;
use tessera_proto::catalog::Node;
use tessera_proto::catalog::Service;
use tessera_proto::catalog::ServiceKind;

use crate::store::engine::Engine;
use crate::store::engine::EngineError;
use crate::store::tables::catalog;
use crate::store::tables::catalog::Row;

/// One instance with the checks that decide its health: its own and its node's.
pub struct Instance {
    pub node: Row<Node>,
    pub service: Row<Service>,
    pub checks: Vec<HealthCheck>,
}

impl Instance {
    pub fn status(&self) -> CheckStatus {
        self.checks.iter().map(|c| c.status).max().unwrap_or(CheckStatus::Passing)
    }
}

/// Instances of `name`; with `connect`, the proxies for it and its native instances.
pub fn instances(engine: &Engine, name: &str, connect: bool) -> Result<Vec<Instance>, EngineError> {
    let rows = match connect {
        false => catalog::instances(engine, name)?,
        true => {
            let mut rows: Vec<_> = catalog::all_services(engine)?
                .into_iter()
                .filter(|(_, s)| {
                    // A proxy without a port only dials out (an ad-hoc
                    // upstream-only proxy): nothing to connect to there.
                    let proxies_for = s.value.kind == ServiceKind::ConnectProxy
                        && s.value.port != 0
                        && s.value.proxy.as_ref().is_some_and(|p| p.destination_service_name == name);
                    proxies_for || (s.value.connect_native && s.value.name == name)
                })
                .filter_map(|(node, s)| catalog::node(engine, &node).ok().flatten().map(|n| (n, s)))
                .collect();
            rows.sort_by(|a, b| a.0.value.name.cmp(&b.0.value.name));
            rows
        }
    };
    let mut out = Vec::new();
    for (node, service) in rows {
        let checks = catalog::node_checks(engine, &node.value.name)?
            .into_iter()
            .map(|r| r.value)
            .filter(|c| c.service_id.is_empty() || c.service_id == service.value.id)
            .collect();
        out.push(Instance { node, service, checks });
    }
    Ok(out)
}
