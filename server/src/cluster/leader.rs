//! Work that follows Raft state: the first leader records the cluster id
//! and creates the CA's first root; the leader prunes retired roots; every
//! server stamps its Raft traffic with the cluster id once known.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use tessera_store::command::Command;
use crate::server::Server;

/// How often the leader looks for retired roots to prune.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

pub async fn run(server: Arc<Server>, shutdown: CancellationToken) {
    let mut metrics = server.raft.metrics();
    let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
    // Metrics change on every replicated write; the setup work is done once
    // per term of leadership, not on each of those.
    let mut set_up = false;
    loop {
        refresh_stamp(&server);
        match server.is_leader() {
            true if !set_up => set_up = set_up_cluster(&server).await,
            true => {}
            false => set_up = false,
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
            _ = prune_tick.tick() => if server.is_leader() { prune(&server).await },
        }
    }
}

/// Records the cluster id and creates the CA's first root if missing;
/// true once both exist.
async fn set_up_cluster(server: &Server) -> bool {
    if server.stamp.get().is_empty() {
        // Decided here, before proposing: apply must stay deterministic.
        let cluster_id = uuid::Uuid::new_v4().to_string();
        match server.write(Command::InitCluster { cluster_id }).await {
            Ok(_) => refresh_stamp(server),
            Err(e) => {
                tracing::warn!(error = %e, "could not record the cluster id yet");
                return false;
            }
        }
    }
    match crate::connect::ca::initialize_if_needed(server).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not create the CA root yet");
            false
        }
    }
}

async fn prune(server: &Server) {
    if let Err(e) = crate::connect::ca::prune(server).await {
        tracing::warn!(error = %e, "could not prune retired CA roots");
    }
}

fn refresh_stamp(server: &Server) {
    if !server.stamp.get().is_empty() {
        return;
    }
    if let Ok(Some(id)) = server.store.cluster_id() {
        tracing::info!(cluster_id = %id, "cluster id");
        server.stamp.set(&id);
    }
}
