//! Client agents send heartbeats; the leader marks the `serfHealth` check
//! of a node whose heartbeats stopped critical (which makes every service on
//! it unhealthy), and passing again when they resume. A node still silent
//! `reconnect_timeout` after it failed is reaped: removed from the catalog
//! with its services and checks, as Consul reaps a failed member.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tessera_mesh::catalog::model::serf_health;
use tessera_mesh::catalog::model::SERF_HEALTH_ID;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::consensus::Server;
use tessera_store::command::Command;

#[derive(Default)]
pub struct Liveness {
    last_seen: Mutex<HashMap<String, Instant>>,
}

impl Liveness {
    pub fn heartbeat(&self, node: &str) {
        self.last_seen.lock().expect("liveness lock").insert(node.to_string(), Instant::now());
    }

    fn seen(&self, node: &str) -> Option<Instant> {
        self.last_seen.lock().expect("liveness lock").get(node).copied()
    }

    fn forget_all(&self) {
        self.last_seen.lock().expect("liveness lock").clear();
    }
}

/// On the leader, every second: compare each client node's serfHealth with
/// its heartbeats. A new leader gives every node a full timeout first (and
/// the reconnect timeout starts again: it cannot know when a node failed).
pub async fn run(server: Arc<Server>, liveness: Arc<Liveness>, shutdown: CancellationToken) {
    let mut leading_since: Option<Instant> = None;
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if !server.is_leader() {
            leading_since = None;
            liveness.forget_all();
            continue;
        }
        let since = *leading_since.get_or_insert_with(Instant::now);
        if let Err(e) = check_nodes(&server, &liveness, since).await {
            tracing::warn!(error = %e, "node liveness check failed");
        }
    }
}

async fn check_nodes(server: &Server, liveness: &Liveness, leading_since: Instant) -> Result<(), String> {
    let timeout = server.config.node_ttl;
    let servers: Vec<String> = {
        let metrics = server.raft.metrics();
        let names = metrics.borrow().membership_config.membership().nodes().map(|(_, n)| n.name.clone()).collect();
        names
    };
    let view = server.store.view();
    for node in view.nodes().map_err(|e| e.to_string())? {
        let name = &node.value.name;
        if servers.contains(name) {
            continue;
        }
        let Some(serf) = view.check(name, SERF_HEALTH_ID).map_err(|e| e.to_string())? else { continue };
        let last = liveness.seen(name).unwrap_or(leading_since).max(leading_since);
        if last.elapsed() >= timeout + server.config.reconnect_timeout {
            tracing::info!(node = %name, "reaping a node that failed more than reconnect_timeout ago");
            let command = Command::CatalogDeregister { node: name.clone(), service_id: None, check_id: None };
            server.write(command).await.map_err(|e| e.to_string())?;
            continue;
        }
        let check = serf_health(name, last.elapsed() < timeout);
        if serf.value.status != check.status {
            tracing::info!(node = %name, status = check.status.as_str(), "node liveness changed");
            let command = Command::CatalogRegister { node: node.value.clone(), service: None, checks: vec![check] };
            server.write(command).await.map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}
