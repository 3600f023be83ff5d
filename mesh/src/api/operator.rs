//! `/v1/status/*`, `/v1/operator/raft/*`, `/v1/operator/autopilot/*` and
//! `/v1/operator/usage` answers.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// `/v1/operator/raft/configuration` (`api.RaftConfiguration`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftConfiguration {
    pub servers: Vec<RaftServer>,
    pub index: u64,
}

/// One server of the Raft configuration (`api.RaftServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub node: String,
    pub address: String,
    pub leader: bool,
    pub voter: bool,
    pub protocol_version: String,
}

/// `POST /v1/operator/raft/transfer-leader` (`api.TransferLeaderResponse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TransferLeaderResponse {
    pub success: bool,
}

/// `GET /v1/operator/autopilot/configuration` (`api.AutopilotConfiguration`;
/// durations as Go prints them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutopilotConfiguration {
    pub cleanup_dead_servers: bool,
    pub last_contact_threshold: String,
    pub max_trailing_logs: u64,
    pub min_quorum: u64,
    pub server_stabilization_time: String,
    pub redundancy_zone_tag: String,
    pub disable_upgrade_migration: bool,
    pub upgrade_version_tag: String,
    pub create_index: u64,
    pub modify_index: u64,
}

/// `/v1/operator/autopilot/health` (`api.OperatorHealthReply`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OperatorHealthReply {
    pub healthy: bool,
    pub failure_tolerance: u64,
    pub servers: Vec<ServerHealth>,
}

/// One server of the health reply (`api.ServerHealth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerHealth {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub serf_status: String,
    pub version: String,
    pub leader: bool,
    /// A Go duration (`0s` on the leader), or `never`.
    pub last_contact: String,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub voter: bool,
}

/// `/v1/operator/autopilot/state` (`api.AutopilotState`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutopilotState {
    pub healthy: bool,
    pub failure_tolerance: u64,
    pub optimistic_failure_tolerance: u64,
    /// By server id.
    pub servers: BTreeMap<String, AutopilotServer>,
    pub leader: String,
    pub voters: Vec<String>,
}

/// One server of the autopilot state (`api.AutopilotServer`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AutopilotServer {
    #[serde(rename = "ID")]
    pub id: String,
    pub name: String,
    pub address: String,
    pub node_status: String,
    pub version: String,
    pub last_contact: String,
    pub last_term: u64,
    pub last_index: u64,
    pub healthy: bool,
    pub read_replica: bool,
    /// `leader` or `voter`.
    pub status: String,
    pub meta: BTreeMap<String, String>,
    pub node_type: String,
}

/// `/v1/operator/usage` (`structs.Usage`): the counts by datacenter, then
/// the query meta Consul embeds in the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Usage {
    pub usage: BTreeMap<String, ServiceUsage>,
    pub index: u64,
    /// Go's `time.Duration`, in nanoseconds.
    pub last_contact: u64,
    pub known_leader: bool,
    /// `stale`, `consistent`, or `leader` (Consul's default mode).
    pub consistency_level: String,
    pub not_modified: bool,
    /// Consul's QueryBackend: 0 is the blocking-query backend (1 would be streaming).
    pub backend: u8,
    #[serde(rename = "ResultsFilteredByACLs")]
    pub results_filtered_by_acls: bool,
}

/// One datacenter's counts (`structs.ServiceUsage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceUsage {
    pub services: u64,
    pub service_instances: u64,
    /// Every Connect kind Consul counts, zero or not.
    pub connect_service_instances: BTreeMap<String, u64>,
    pub billable_service_instances: u64,
    pub nodes: u64,
}
