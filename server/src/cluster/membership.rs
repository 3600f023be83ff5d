//! Adding and removing voters. Both run on the leader; other servers forward.

use std::collections::BTreeSet;

use openraft::ChangeMembers;
use tessera_proto::v1::RemovePeerRequest;

use crate::consensus::forward;
use crate::consensus::Attempt;
use crate::consensus::Server;
use crate::consensus::ServerError;
use tessera_store::types::raft_id_of;
use tessera_store::types::NodeId;
use tessera_store::types::ServerNode;

/// Which server to remove: Consul's `-id=` or `-address=`.
#[derive(Debug, Clone)]
pub enum PeerRef {
    NodeId(String),
    Address(String),
}

impl PeerRef {
    fn to_request(&self) -> RemovePeerRequest {
        match self {
            PeerRef::NodeId(id) => RemovePeerRequest { node_id: id.clone(), rpc_addr: String::new() },
            PeerRef::Address(addr) => RemovePeerRequest { node_id: String::new(), rpc_addr: addr.clone() },
        }
    }

    pub fn from_request(request: &RemovePeerRequest) -> Option<PeerRef> {
        match (request.node_id.is_empty(), request.rpc_addr.is_empty()) {
            (false, true) => Some(PeerRef::NodeId(request.node_id.clone())),
            (true, false) => Some(PeerRef::Address(request.rpc_addr.clone())),
            _ => None,
        }
    }

    fn matches(&self, node: &ServerNode) -> bool {
        match self {
            PeerRef::NodeId(id) => node.node_id.eq_ignore_ascii_case(id),
            PeerRef::Address(addr) => node.rpc_addr == *addr,
        }
    }
}

impl std::fmt::Display for PeerRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerRef::NodeId(id) => write!(f, "id {id}"),
            PeerRef::Address(addr) => write!(f, "address {addr}"),
        }
    }
}

fn retry(e: impl std::fmt::Display) -> Attempt {
    Attempt::Retry(e.to_string())
}

impl Server {
    fn is_voter(&self, id: NodeId) -> bool {
        let metrics = self.raft.metrics();
        let voter = metrics.borrow().membership_config.membership().voter_ids().any(|v| v == id);
        voter
    }

    /// Makes `node` a voter: first a learner that catches up, then a voter.
    pub async fn add_voter(&self, node: ServerNode) -> Result<(), ServerError> {
        let id = raft_id_of(&node.node_id)
            .ok_or_else(|| ServerError::BadRequest(format!("node id {:?} is not a UUID", node.node_id)))?;
        self.on_leader(
            "join",
            || async {
                if self.is_voter(id) {
                    return Ok(());
                }
                self.raft.add_learner(id, node.clone(), true).await.map_err(retry)?;
                self.raft
                    .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                    .await
                    .map_err(retry)?;
                tracing::info!(server = %node, "server joined the cluster as a voter");
                Ok(())
            },
            |leader| {
                let node = &node;
                async move { forward::join(&self.pool, &leader, node, &self.config.datacenter).await }
            },
        )
        .await
    }

    /// Removes a server from the Raft configuration.
    pub async fn remove_voter(&self, peer: PeerRef) -> Result<(), ServerError> {
        self.on_leader(
            "remove peer",
            || async {
                let id = self.find_member(&peer).ok_or_else(|| {
                    Attempt::Fail(ServerError::NotFound(format!("no server with {peer} in the Raft configuration")))
                })?;
                let change = ChangeMembers::RemoveVoters(BTreeSet::from([id]));
                self.raft.change_membership(change, false).await.map_err(retry)?;
                tracing::info!(%peer, "server removed from the Raft configuration");
                Ok(())
            },
            |leader| {
                let request = peer.to_request();
                async move { forward::remove_peer(&self.pool, &leader, request).await }
            },
        )
        .await
    }

    fn find_member(&self, peer: &PeerRef) -> Option<NodeId> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let found =
            metrics.membership_config.membership().nodes().find(|(_, node)| peer.matches(node)).map(|(id, _)| *id);
        found
    }
}
