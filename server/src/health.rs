//! Service health as the catalog tells it: each instance with the checks
//! that decide whether it is healthy (its own and its node's). The health
//! HTTP API and DNS both answer from here.

use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceKind;

use tessera_store::Row;
use tessera_store::StoreError;
use tessera_store::View;

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
pub fn instances(view: &View<'_>, name: &str, connect: bool) -> Result<Vec<Instance>, StoreError> {
    // Both indexes list instances by node name, then service id.
    let rows = match connect {
        false => view.instances(name)?,
        // A proxy without a port only dials out (an ad-hoc upstream-only
        // proxy): nothing to connect to there.
        true => view
            .connect_instances(name)?
            .into_iter()
            .filter(|(_, s)| s.value.kind != ServiceKind::ConnectProxy || s.value.port != 0)
            .collect(),
    };
    let mut out = Vec::with_capacity(rows.len());
    // Instances come grouped by node: each node's checks are read once.
    let mut node_checks: Option<(String, Vec<HealthCheck>)> = None;
    for (node, service) in rows {
        if node_checks.as_ref().is_none_or(|(name, _)| *name != node.value.name) {
            let checks = view.node_checks(&node.value.name)?.into_iter().map(|r| r.value).collect();
            node_checks = Some((node.value.name.clone(), checks));
        }
        let (_, all) = node_checks.as_ref().expect("just read");
        let checks =
            all.iter().filter(|c| c.service_id.is_empty() || c.service_id == service.value.id).cloned().collect();
        out.push(Instance { node, service, checks });
    }
    Ok(out)
}
