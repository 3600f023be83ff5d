//! `/v1/status/*` and `/v1/operator/raft/*`: who leads, who votes, and
//! removing a server. `/v1/status/*` needs no token (as Consul); the raft
//! configuration needs operator:read, changing it operator:write.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::api::operator::RaftConfiguration;
use tessera_mesh::api::operator::RaftServer;
use tessera_mesh::api::operator::TransferLeaderResponse;

use crate::cluster::membership::PeerRef;
use crate::consensus::Server;
use crate::http::authz::Authz;
use crate::http::query::QueryParams;
use crate::http::ApiError;

pub async fn leader(State(server): State<Arc<Server>>) -> Json<String> {
    Json(server.leader().map(|(_, node)| node.rpc_addr).unwrap_or_default())
}

pub async fn peers(State(server): State<Arc<Server>>) -> Json<Vec<String>> {
    let metrics = server.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    let voters: Vec<String> =
        membership.voter_ids().filter_map(|id| membership.get_node(&id)).map(|n| n.rpc_addr.clone()).collect();
    Json(voters)
}

pub async fn raft_configuration(
    State(server): State<Arc<Server>>,
    authz: Authz,
) -> Result<Json<RaftConfiguration>, ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    let metrics = server.raft.metrics().borrow().clone();
    let leader = metrics.current_leader;
    let config = &metrics.membership_config;
    let membership = config.membership();
    let servers = membership
        .nodes()
        .map(|(id, node)| RaftServer {
            id: node.node_id.clone(),
            node: node.name.clone(),
            address: node.rpc_addr.clone(),
            leader: Some(*id) == leader,
            voter: membership.voter_ids().any(|v| v == *id),
            protocol_version: "3".to_string(),
        })
        .collect();
    Ok(Json(RaftConfiguration { servers, index: config.log_id().map_or(0, |l| l.index) }))
}

pub async fn remove_peer(State(server): State<Arc<Server>>, authz: Authz, params: QueryParams) -> Result<(), ApiError> {
    let peer = match (params.get("id"), params.get("address")) {
        (Some(id), None) if !id.is_empty() => PeerRef::NodeId(id.clone()),
        (None, Some(addr)) if !addr.is_empty() => PeerRef::Address(addr.clone()),
        _ => {
            return Err(ApiError::bad_request(
                "Must specify either ?id with the server's ID or ?address with IP:port of peer",
            ))
        }
    };
    authz.require(Resource::Operator, "", Access::Write)?;
    server.remove_voter(peer).await?;
    Ok(())
}

/// `POST /v1/operator/raft/transfer-leader[?id=<server id>]`: leadership to
/// that voter, or to the most caught-up other one.
pub async fn transfer_leader(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Json<TransferLeaderResponse>, ApiError> {
    authz.require(Resource::Operator, "", Access::Write)?;
    let id = params.get("id").filter(|id| !id.is_empty()).cloned();
    server.transfer_leader(id).await?;
    Ok(Json(TransferLeaderResponse { success: true }))
}
