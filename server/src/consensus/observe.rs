//! Follows openraft's metrics watch into the Raft series: every change of
//! the node's state (term, log, leader) is one reading.

use std::sync::Arc;

use openraft::ServerState;
use tessera_store::types::Raft;
use tokio_util::sync::CancellationToken;

use crate::metrics::Metrics;
use crate::metrics::RaftSample;

/// Runs until `shutdown` or until Raft stops publishing.
pub async fn follow(raft: Raft, metrics: Arc<Metrics>, shutdown: CancellationToken) {
    let mut watch = raft.metrics();
    drop(raft);
    loop {
        let sample = {
            let m = watch.borrow_and_update();
            RaftSample {
                term: m.current_term,
                last_index: m.last_log_index.unwrap_or(0),
                applied_index: m.last_applied.map_or(0, |l| l.index),
                leader: m.current_leader,
                is_leader: m.state == ServerState::Leader,
                is_candidate: m.state == ServerState::Candidate,
            }
        };
        metrics.raft.observe(sample);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = watch.changed() => if changed.is_err() { return },
        }
    }
}
