//! Handing leadership to another voter (`operator raft transfer-leader`,
//! and a leader's graceful leave). openraft 0.9 has no transfer, so it is
//! made from what it has: a follower grants votes once the leader lease
//! (election_timeout_max) has passed without word from the leader, but
//! only elects itself a random election timeout after that. The leader
//! stops its heartbeats, waits out the lease, then tells the target to
//! elect itself at once, inside that window; the target wins with the
//! other followers' votes. New writes during the wait renew the lease, in
//! which case the transfer times out and the leader carries on.

use std::time::Duration;

use tessera_proto::v1::TransferLeaderRequest;
use tessera_store::types::NodeId;
use tessera_store::types::ServerNode;

use crate::consensus::forward;
use crate::consensus::Attempt;
use crate::consensus::Server;
use crate::consensus::ServerError;

/// Past the lease, before the target's call goes out.
const LEASE_MARGIN: Duration = Duration::from_millis(20);
/// How long the target may take to be caught up before it is refused.
const CATCH_UP: Duration = Duration::from_secs(2);

/// Turns heartbeats back on however the transfer ends.
struct HeartbeatsOff<'a>(&'a Server);

impl Drop for HeartbeatsOff<'_> {
    fn drop(&mut self) {
        self.0.raft.runtime_config().heartbeat(true);
    }
}

impl Server {
    /// Hands leadership to the voter `node_id` (any other voter when None);
    /// returns the new leader. Runs on the leader; others forward.
    pub async fn transfer_leader(&self, node_id: Option<String>) -> Result<ServerNode, ServerError> {
        self.on_leader(
            "transfer leader",
            || async { self.transfer_here(node_id.as_deref()).await.map_err(Attempt::Fail) },
            |leader| {
                let request = TransferLeaderRequest { node_id: node_id.clone().unwrap_or_default() };
                async move {
                    let answer = forward::transfer_leader(&self.pool, &leader, request).await?;
                    answer
                        .leader
                        .map(|info| forward::from_info(&info))
                        .ok_or_else(|| Attempt::Fail(ServerError::Internal("the leader named no successor".into())))
                }
            },
        )
        .await
    }

    async fn transfer_here(&self, node_id: Option<&str>) -> Result<ServerNode, ServerError> {
        let (target_id, target) = self.transfer_target(node_id)?;
        self.wait_caught_up(target_id).await?;
        let term = self.raft.metrics().borrow().current_term;
        let lease = Duration::from_millis(self.raft.config().election_timeout_max);
        let _restore = HeartbeatsOff(self);
        self.raft.runtime_config().heartbeat(false);
        tokio::time::sleep(lease + LEASE_MARGIN).await;
        forward::timeout_now(&self.pool, &target, term)
            .await
            .map_err(|e| ServerError::Unavailable(format!("cannot reach {}: {}", target.name, e.message())))?;
        let new_leader = self.wait_for_new_leader(lease * 4).await?;
        tracing::info!(to = %new_leader.name, "leadership transferred");
        match new_leader.node_id == target.node_id || node_id.is_none() {
            true => Ok(new_leader),
            false => {
                Err(ServerError::Internal(format!("leadership went to {} instead of {}", new_leader.name, target.name)))
            }
        }
    }

    /// The voter named, or the most caught-up other one.
    fn transfer_target(&self, node_id: Option<&str>) -> Result<(NodeId, ServerNode), ServerError> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<(NodeId, ServerNode)> = membership
            .voter_ids()
            .filter(|id| *id != self.raft_id)
            .filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone())))
            .collect();
        if let Some(wanted) = node_id {
            return voters
                .into_iter()
                .find(|(_, n)| n.node_id.eq_ignore_ascii_case(wanted))
                .ok_or_else(|| ServerError::NotFound(format!("cannot find peer {wanted}")));
        }
        let matched = |id: &NodeId| {
            metrics.replication.as_ref().and_then(|r| r.get(id).cloned().flatten()).map_or(0, |l| l.index)
        };
        voters
            .into_iter()
            .max_by_key(|(id, _)| matched(id))
            .ok_or_else(|| ServerError::BadRequest("cannot transfer leadership: there is no other voter".into()))
    }

    async fn wait_caught_up(&self, target: NodeId) -> Result<(), ServerError> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        loop {
            let (last, matched) = {
                let m = metrics.borrow();
                let matched = m.replication.as_ref().and_then(|r| r.get(&target).cloned().flatten());
                (m.last_log_index.unwrap_or(0), matched.map_or(0, |l| l.index))
            };
            if matched >= last {
                return Ok(());
            }
            if !changed_before(deadline, &mut metrics).await {
                return Err(ServerError::Unavailable(format!(
                    "cannot transfer leadership: the target is behind (at {matched} of {last})"
                )));
            }
        }
    }

    async fn wait_for_new_leader(&self, within: Duration) -> Result<ServerNode, ServerError> {
        let mut metrics = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some((id, node)) = self.leader().filter(|(id, _)| *id != self.raft_id) {
                let _ = id;
                return Ok(node);
            }
            if !changed_before(deadline, &mut metrics).await {
                return Err(ServerError::Unavailable(
                    "leadership transfer timed out (writes during it keep the leader); try again".into(),
                ));
            }
        }
    }

    /// On the target: elect itself now, if still in the term of the leader
    /// that asked (a late or stray request changes nothing).
    pub async fn timeout_now(&self, term: u64) -> Result<(), ServerError> {
        let current = self.raft.metrics().borrow().current_term;
        if current != term || self.is_leader() {
            return Err(ServerError::BadRequest(format!("not in term {term} as a follower (term {current})")));
        }
        self.raft.trigger().elect().await.map_err(|e| ServerError::Internal(e.to_string()))
    }
}

/// Whether Raft's metrics changed before `deadline`. A closed channel
/// (Raft stopped) ends the wait too: it would never change again.
async fn changed_before<T>(deadline: tokio::time::Instant, metrics: &mut tokio::sync::watch::Receiver<T>) -> bool {
    matches!(tokio::time::timeout_at(deadline, metrics.changed()).await, Ok(Ok(())))
}
