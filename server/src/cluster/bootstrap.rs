//! Forming the cluster (-bootstrap-expect) and joining one (-retry-join).
//!
//! A server with no Raft state probes its -retry-join addresses, and every
//! probe swaps the lists of servers both sides know, so all converge on one
//! view. Once a server sees at least N servers and that view held for two
//! rounds, the server with the lowest node id initializes Raft with all of
//! them; the others are in that membership and simply hear from the leader.
//! A server that finds a formed cluster asks it to add it instead. A server
//! that already has Raft state never bootstraps again.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::future::join_all;
use tessera_proto::v1::HelloRequest;
use tessera_proto::v1::HelloResponse;
use tokio_util::sync::CancellationToken;

use crate::consensus::discovery::bootstrapper;
use crate::consensus::forward;
use crate::consensus::forward::from_info;
use crate::consensus::forward::to_info;
use crate::consensus::Server;
use tessera_store::types::raft_id_of;
use tessera_store::types::ServerNode;

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(
        "this data dir belongs to cluster {ours}, but the server at {peer} is in cluster {theirs}; \
         refusing to join (use a fresh -data-dir to join that cluster)"
    )]
    ForeignCluster { peer: String, ours: String, theirs: String },
    #[error("raft: {0}")]
    Raft(String),
}

pub async fn run(server: Arc<Server>, shutdown: CancellationToken) -> Result<(), BootstrapError> {
    if server.config.bootstraps_alone() {
        bootstrap_alone(&server).await?;
        if server.config.retry_join.is_empty() {
            return Ok(());
        }
        // Probe the peers once all the same: a data dir of another cluster
        // must be refused even when this server needs no one to start.
    }
    let had_state = server.store.has_raft_state().map_err(|e| BootstrapError::Raft(e.to_string()))?;
    let mut ticker = tokio::time::interval(server.config.retry_interval);
    let mut last_view: Vec<String> = Vec::new();
    let mut stable_rounds = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            _ = ticker.tick() => {}
        }
        let replies = probe_peers(&server).await;
        check_same_cluster(&server, &replies)?;
        if is_voter(&server) {
            tracing::debug!("this server is a voter of the cluster; bootstrap done");
            return Ok(());
        }
        if let Some(member) = replies.iter().find(|(_, r)| r.initialized).and_then(|(_, r)| r.server.as_ref()) {
            match forward::join(&server.pool, &from_info(member), &server.me, &server.config.datacenter).await {
                Ok(()) => tracing::info!(via = %member.rpc_addr, "joined the cluster"),
                Err(_) => tracing::info!(via = %member.rpc_addr, "join not accepted yet; retrying"),
            }
            continue;
        }
        if had_state || server.config.bootstrap_expect == 0 {
            continue;
        }
        let view = server.discovery.servers();
        let ids: Vec<String> = view.iter().map(|n| n.node_id.clone()).collect();
        stable_rounds = if ids == last_view { stable_rounds + 1 } else { 0 };
        last_view = ids;
        let expect = server.config.bootstrap_expect as usize;
        if view.len() < expect {
            tracing::info!(known = view.len(), expect, "waiting for servers to bootstrap");
            continue;
        }
        if stable_rounds >= 1 && bootstrapper(&view).is_some_and(|b| b.node_id == server.me.node_id) {
            initialize(&server, &view).await?;
            return Ok(());
        }
    }
}

async fn bootstrap_alone(server: &Server) -> Result<(), BootstrapError> {
    let initialized = server.raft.is_initialized().await.map_err(|e| BootstrapError::Raft(e.to_string()))?;
    if initialized {
        return Ok(());
    }
    initialize(server, std::slice::from_ref(&server.me)).await
}

async fn initialize(server: &Server, view: &[ServerNode]) -> Result<(), BootstrapError> {
    let members: BTreeMap<_, _> =
        view.iter().filter_map(|n| raft_id_of(&n.node_id).map(|id| (id, n.clone()))).collect();
    let names: Vec<&str> = view.iter().map(|n| n.name.as_str()).collect();
    server.raft.initialize(members).await.map_err(|e| BootstrapError::Raft(e.to_string()))?;
    tracing::info!(servers = ?names, "bootstrapped the cluster");
    Ok(())
}

async fn probe_peers(server: &Server) -> Vec<(String, HelloResponse)> {
    let dc = &server.config.datacenter;
    let probes = server.config.retry_join.iter().map(|addr| async move {
        let request = HelloRequest {
            from: Some(to_info(&server.me, dc)),
            known: server.discovery.servers().iter().map(|n| to_info(n, dc)).collect(),
        };
        match forward::hello(&server.pool, addr, request).await {
            Ok(reply) => Some((addr.clone(), reply)),
            Err(status) => {
                tracing::debug!(%addr, error = %status.message(), "retry-join probe failed");
                None
            }
        }
    });
    let replies: Vec<_> = join_all(probes).await.into_iter().flatten().collect();
    for (_, reply) in &replies {
        server.discovery.merge(reply.server.iter().chain(&reply.known).map(from_info));
    }
    replies
}

fn check_same_cluster(server: &Server, replies: &[(String, HelloResponse)]) -> Result<(), BootstrapError> {
    let ours = server.stamp.get();
    for (peer, reply) in replies {
        if !ours.is_empty() && !reply.cluster_id.is_empty() && reply.cluster_id != ours {
            return Err(BootstrapError::ForeignCluster { peer: peer.clone(), ours, theirs: reply.cluster_id.clone() });
        }
    }
    Ok(())
}

/// How long `agent/join` waits for the address it was given.
const JOIN_PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// `PUT /v1/agent/join/:addr` on a server: a server of this cluster is
/// already joined; a server outside any cluster joins the cluster `addr`
/// is in. Two formed clusters cannot merge (Raft has one configuration):
/// that, and a server of another datacenter, are refused by name.
pub async fn join_via(server: &Server, addr: &str) -> Result<(), String> {
    let peer = forward::status(&server.pool, addr, JOIN_PROBE_TIMEOUT)
        .await
        .map_err(|e| format!("Failed to join {addr}: {}", e.message()))?;
    let info = peer.server.ok_or_else(|| format!("Failed to join {addr}: it did not say who it is"))?;
    if info.datacenter != server.config.datacenter {
        return Err(format!(
            "Failed to join {addr}: it is in datacenter {:?}, this agent in {:?} (WAN join is not supported)",
            info.datacenter, server.config.datacenter
        ));
    }
    let ours = server.stamp.get();
    if !ours.is_empty() && peer.cluster_id == ours {
        return Ok(());
    }
    if is_voter(server) {
        return Err(format!(
            "Failed to join {addr}: it is in another cluster ({:?}); formed clusters cannot merge",
            peer.cluster_id
        ));
    }
    if peer.cluster_id.is_empty() {
        return Err(format!(
            "Failed to join {addr}: it is not in a cluster yet; form one with -bootstrap-expect and -retry-join"
        ));
    }
    forward::join(&server.pool, &from_info(&info), &server.me, &server.config.datacenter).await.map_err(
        |e| match e {
            crate::consensus::Attempt::Retry(reason) => format!("Failed to join {addr}: {reason}"),
            crate::consensus::Attempt::Fail(e) => format!("Failed to join {addr}: {e}"),
        },
    )?;
    tracing::info!(via = %addr, "joined the cluster (agent/join)");
    Ok(())
}

fn is_voter(server: &Server) -> bool {
    let metrics = server.raft.metrics();
    let metrics = metrics.borrow();
    let voter = metrics.membership_config.membership().voter_ids().any(|id| id == server.raft_id);
    voter
}
