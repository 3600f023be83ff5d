//! Work that follows Raft state: the first leader records the cluster id,
//! and every server stamps its Raft traffic with it once known.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::command::Command;
use crate::server::Server;

pub async fn run(server: Arc<Server>, shutdown: CancellationToken) {
    let mut metrics = server.raft.metrics();
    loop {
        refresh_stamp(&server);
        if server.stamp.get().is_empty() && server.is_leader() {
            // Decided here, before proposing: apply must stay deterministic.
            let cluster_id = uuid::Uuid::new_v4().to_string();
            match server.write(Command::InitCluster { cluster_id }).await {
                Ok(_) => refresh_stamp(&server),
                Err(e) => tracing::warn!(error = %e, "could not record the cluster id yet"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = metrics.changed() => if changed.is_err() { return },
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
