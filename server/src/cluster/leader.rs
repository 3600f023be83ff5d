//! Work that follows Raft state: the first leader records the cluster id,
//! and every server stamps its Raft traffic with it once known; with ACLs
//! on, the leader makes the `initial_management` token. (The CA's
//! leader work is `connect::leader`.)

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::consensus::Server;
use tessera_store::command::Command;

pub async fn run(server: Arc<Server>, shutdown: CancellationToken) {
    let mut metrics = server.raft.metrics();
    // Metrics change on every replicated write; the setup work is done once
    // per term of leadership, not on each of those.
    let mut set_up = false;
    loop {
        refresh_stamp(&server);
        match server.is_leader() {
            true if !set_up => set_up = set_up_cluster(&server).await && set_up_acl(&server).await,
            true => {}
            false => set_up = false,
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
        }
    }
}

/// Records the cluster id if missing; true once it exists.
async fn set_up_cluster(server: &Server) -> bool {
    if !server.stamp.get().is_empty() {
        return true;
    }
    // Decided here, before proposing: apply must stay deterministic.
    let cluster_id = uuid::Uuid::new_v4().to_string();
    match server.write(Command::InitCluster { cluster_id }).await {
        Ok(_) => {
            refresh_stamp(server);
            true
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not record the cluster id yet");
            false
        }
    }
}

/// Consul's `acl.tokens.initial_management`: the leader makes sure a
/// management token with that secret exists; true once it does.
async fn set_up_acl(server: &Server) -> bool {
    let acl = &server.config.acl;
    let Some(secret) = acl.tokens.initial_management.as_deref().filter(|_| acl.enabled) else { return true };
    match crate::acl::writes::ensure_initial_management(server, secret).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "could not create the initial management token yet");
            false
        }
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
