//! CA work only the leader does: once the cluster id is recorded (the trust
//! domain is made from it), create the first root if there is none; every
//! few seconds, prune retired roots whose leaves have all expired.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::consensus::Server;

/// How often the leader looks for retired roots to prune.
const PRUNE_EVERY: Duration = Duration::from_secs(10);

pub async fn run(server: Arc<Server>, shutdown: CancellationToken) {
    let mut metrics = server.raft.metrics();
    let mut prune_tick = tokio::time::interval(PRUNE_EVERY);
    // Metrics change on every replicated write; the root is looked for once
    // per term of leadership, not on each of those.
    let mut set_up = false;
    loop {
        match server.is_leader() {
            true if !set_up => set_up = initialize(&server).await,
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

/// True once the root exists; false to try again on the next change.
async fn initialize(server: &Server) -> bool {
    // The trust domain is made from the cluster id, which `cluster::leader`
    // records; its apply moves the metrics this loop waits on.
    if !matches!(server.store.cluster_id(), Ok(Some(_))) {
        return false;
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
