//! `/v1/operator/autopilot/*`: server health as Consul's autopilot reports
//! it, measured when asked: every voter is probed over the server port
//! (`Cluster.Status`), and a server is healthy when it answers within the
//! last-contact threshold, knows a leader, and has applied to within
//! `MaxTrailingLogs` of the leader. The configuration is Consul's defaults;
//! changing it is not supported yet.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use axum::extract::State;
use axum::Json;
use futures::future::join_all;
use serde_json::json;
use serde_json::Map;
use serde_json::Value;
use tessera_mesh::catalog::duration;
use tessera_store::types::ServerNode;

use crate::consensus::forward;
use crate::consensus::Server;
use crate::version::CONSUL_API_VERSION;

const LAST_CONTACT_THRESHOLD: Duration = Duration::from_millis(200);
const MAX_TRAILING_LOGS: u64 = 250;

pub async fn configuration() -> Json<Value> {
    Json(json!({
        "CleanupDeadServers": true,
        "LastContactThreshold": duration::format(LAST_CONTACT_THRESHOLD),
        "MaxTrailingLogs": MAX_TRAILING_LOGS,
        "MinQuorum": 0,
        "ServerStabilizationTime": "10s",
        "RedundancyZoneTag": "",
        "DisableUpgradeMigration": false,
        "UpgradeVersionTag": "",
        "CreateIndex": 0,
        "ModifyIndex": 0,
    }))
}

/// One voter as a probe found it.
struct Probed {
    node: ServerNode,
    leader: bool,
    /// How long it took to answer; None if it did not.
    contact: Option<Duration>,
    term: u64,
    index: u64,
    knows_leader: bool,
}

impl Probed {
    fn healthy(&self, leader_index: u64) -> bool {
        self.contact.is_some_and(|c| c <= LAST_CONTACT_THRESHOLD)
            && self.knows_leader
            && leader_index.saturating_sub(self.index) <= MAX_TRAILING_LOGS
    }
}

async fn probe_voters(server: &Server) -> Vec<Probed> {
    let metrics = server.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership().clone();
    let leader = metrics.current_leader;
    let probes = membership.voter_ids().filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone()))).map(
        |(id, node)| async move {
            let started = Instant::now();
            let answer = forward::status(&server.pool, &node.rpc_addr, LAST_CONTACT_THRESHOLD * 5).await.ok();
            Probed {
                leader: Some(id) == leader,
                contact: answer.as_ref().map(|_| started.elapsed()),
                term: answer.as_ref().map_or(0, |a| a.term),
                index: answer.as_ref().map_or(0, |a| a.applied_index),
                knows_leader: answer.as_ref().is_some_and(|a| !a.leader_id.is_empty()),
                node,
            }
        },
    );
    join_all(probes).await
}

/// What both answers share: each server's health, and how many may fail.
struct Report {
    servers: Vec<(Probed, bool)>,
    failure_tolerance: usize,
    healthy: bool,
}

async fn report(server: &Server) -> Report {
    let probed = probe_voters(server).await;
    let leader_index = probed.iter().find(|p| p.leader).map_or(0, |p| p.index);
    let servers: Vec<(Probed, bool)> = probed
        .into_iter()
        .map(|p| {
            let healthy = p.healthy(leader_index);
            (p, healthy)
        })
        .collect();
    let healthy_count = servers.iter().filter(|(_, h)| *h).count();
    let quorum = servers.len() / 2 + 1;
    Report { failure_tolerance: healthy_count.saturating_sub(quorum), healthy: healthy_count == servers.len(), servers }
}

fn last_contact(p: &Probed) -> String {
    match (p.leader, p.contact) {
        (true, _) => "0s".into(),
        (false, Some(c)) => duration::format(c),
        (false, None) => "never".into(),
    }
}

/// `/v1/operator/autopilot/health`, Consul's `OperatorHealthReply`.
pub async fn health(State(server): State<Arc<Server>>) -> Json<Value> {
    let report = report(&server).await;
    let servers: Vec<Value> = report
        .servers
        .iter()
        .map(|(p, healthy)| {
            json!({
                "ID": p.node.node_id, "Name": p.node.name, "Address": p.node.rpc_addr,
                "SerfStatus": if p.contact.is_some() { "alive" } else { "failed" },
                "Version": CONSUL_API_VERSION, "Leader": p.leader, "LastContact": last_contact(p),
                "LastTerm": p.term, "LastIndex": p.index, "Healthy": healthy, "Voter": true,
            })
        })
        .collect();
    Json(json!({"Healthy": report.healthy, "FailureTolerance": report.failure_tolerance, "Servers": servers}))
}

/// `/v1/operator/autopilot/state`: the same, keyed by server id.
pub async fn state(State(server): State<Arc<Server>>) -> Json<Value> {
    let report = report(&server).await;
    let mut servers = Map::new();
    for (p, healthy) in &report.servers {
        let status = if p.leader { "leader" } else { "voter" };
        servers.insert(
            p.node.node_id.clone(),
            json!({
                "ID": p.node.node_id, "Name": p.node.name, "Address": p.node.rpc_addr,
                "NodeStatus": if p.contact.is_some() { "alive" } else { "failed" },
                "Version": CONSUL_API_VERSION, "LastContact": last_contact(p), "LastTerm": p.term,
                "LastIndex": p.index, "Healthy": healthy, "Status": status, "NodeType": "voter",
                "ReadReplica": false, "Meta": {},
            }),
        );
    }
    let leader = report.servers.iter().find(|(p, _)| p.leader).map(|(p, _)| p.node.node_id.clone());
    let voters: Vec<String> = report.servers.iter().map(|(p, _)| p.node.node_id.clone()).collect();
    Json(json!({
        "Healthy": report.healthy,
        "FailureTolerance": report.failure_tolerance,
        "OptimisticFailureTolerance": report.failure_tolerance,
        "Servers": servers,
        "Leader": leader.unwrap_or_default(),
        "Voters": voters,
    }))
}
