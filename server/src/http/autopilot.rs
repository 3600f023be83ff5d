//! `/v1/operator/autopilot/*`: server health as Consul's autopilot reports
//! it, measured when asked: every voter is probed over the server port
//! (`Cluster.Status`), and a server is healthy when it answers within the
//! last-contact threshold, knows a leader, and has applied to within
//! `MaxTrailingLogs` of the leader, both from the configuration the cluster
//! stores (Consul's defaults until `PUT .../configuration` replaces them).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::Json;
use futures::future::join_all;
use serde::Deserialize;
use serde_json::Value;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::api::operator::AutopilotConfiguration;
use tessera_mesh::api::operator::AutopilotServer;
use tessera_mesh::api::operator::AutopilotState;
use tessera_mesh::api::operator::OperatorHealthReply;
use tessera_mesh::api::operator::ServerHealth;
use tessera_mesh::catalog::duration;
use tessera_mesh::catalog::duration::go;
use tessera_mesh::decode;
use tessera_store::autopilot::AutopilotConfig;
use tessera_store::autopilot::AutopilotRow;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;
use tessera_store::types::ServerNode;

use crate::consensus::forward;
use crate::consensus::Consistency;
use crate::consensus::Server;
use crate::http::authz::Authz;
use crate::http::json_body;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use crate::version::CONSUL_API_VERSION;

/// A probe's deadline: longer than the threshold, so a slow server is
/// reported with how slow it was rather than as never answering.
fn probe_timeout(config: &AutopilotConfig) -> Duration {
    (config.last_contact_threshold() * 5).max(Duration::from_millis(200))
}

/// Consul's `api.AutopilotConfiguration` as `GET` answers it.
fn configuration_answer(row: AutopilotRow) -> AutopilotConfiguration {
    let c = row.config;
    AutopilotConfiguration {
        cleanup_dead_servers: c.cleanup_dead_servers,
        last_contact_threshold: go::format(c.last_contact_threshold()),
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time: go::format(c.server_stabilization_time()),
        redundancy_zone_tag: c.redundancy_zone_tag,
        disable_upgrade_migration: c.disable_upgrade_migration,
        upgrade_version_tag: c.upgrade_version_tag,
        create_index: row.create_index,
        modify_index: row.modify_index,
    }
}

/// The configuration in effect on this server (its own applied state:
/// the health computation follows whatever this server has applied).
fn stored_config(server: &Server) -> Result<AutopilotRow, ApiError> {
    Ok(server.store.view().autopilot_config()?)
}

/// `GET /v1/operator/autopilot/configuration`, linearizable unless
/// `?stale`; operator:read.
pub async fn configuration(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    let consistency = if params.contains_key("stale") { Consistency::Stale } else { Consistency::Linearizable };
    server.read_barrier(consistency).await?;
    json_body(&configuration_answer(stored_config(&server)?))
}

/// `PUT /v1/operator/autopilot/configuration[?cas=<ModifyIndex>]`: the body
/// replaces the whole configuration (a field left out is Go's zero value,
/// as in Consul); answers `true`, or with `?cas` whether it was applied.
pub async fn set_configuration(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    // Go's decoder (any key case, null as absent); a field's value is checked
    // in `validate`, so its error can name the field.
    let body: ConfigBody = decode::from_slice(&body).map_err(|e| parse_error(&decode::go_error(&e)))?;
    let config = body.validate().map_err(|e| parse_error(&e))?;
    let cas = match params.get("cas") {
        None => None,
        Some(raw) => Some(raw.parse::<u64>().map_err(|e| {
            ApiError::bad_request(format!("Error parsing cas value: strconv.ParseUint: parsing {raw:?}: {e}"))
        })?),
    };
    authz.require(Resource::Operator, "", Access::Write)?;
    let applied = server.write(Command::AutopilotSetConfig { config, cas }).await?;
    let done = matches!(applied.response, CommandResponse::Applied(true) | CommandResponse::Done);
    json_body(&done)
}

fn parse_error(reason: &str) -> ApiError {
    ApiError::bad_request(format!("Error parsing autopilot config: {reason}"))
}

/// The PUT body: Consul's `api.AutopilotConfiguration`. Numbers and
/// durations are taken as JSON values and checked here, so an error names
/// its field. Other keys (`CreateIndex`, `ModifyIndex`, which Consul's
/// client sends back) are ignored, as Go's decoder ignores them.
#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ConfigBody {
    cleanup_dead_servers: Option<Value>,
    last_contact_threshold: Option<Value>,
    max_trailing_logs: Option<Value>,
    min_quorum: Option<Value>,
    server_stabilization_time: Option<Value>,
    redundancy_zone_tag: Option<Value>,
    disable_upgrade_migration: Option<Value>,
    upgrade_version_tag: Option<Value>,
}

impl ConfigBody {
    fn validate(self) -> Result<AutopilotConfig, String> {
        Ok(AutopilotConfig {
            cleanup_dead_servers: flag("CleanupDeadServers", self.cleanup_dead_servers)?,
            last_contact_threshold_ns: duration_ns("LastContactThreshold", self.last_contact_threshold)?,
            max_trailing_logs: count("MaxTrailingLogs", self.max_trailing_logs)?,
            min_quorum: count("MinQuorum", self.min_quorum)?,
            server_stabilization_time_ns: duration_ns("ServerStabilizationTime", self.server_stabilization_time)?,
            redundancy_zone_tag: text("RedundancyZoneTag", self.redundancy_zone_tag)?,
            disable_upgrade_migration: flag("DisableUpgradeMigration", self.disable_upgrade_migration)?,
            upgrade_version_tag: text("UpgradeVersionTag", self.upgrade_version_tag)?,
        })
    }
}

/// A Go `bool` field (absent: false).
fn flag(field: &str, value: Option<Value>) -> Result<bool, String> {
    match value {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(b),
        Some(other) => Err(format!("{field}: must be true or false, not {other}")),
    }
}

/// A Go `string` field (absent: empty).
fn text(field: &str, value: Option<Value>) -> Result<String, String> {
    match value {
        None => Ok(String::new()),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{field}: must be a string, not {other}")),
    }
}

/// A Go `uint` field: a whole number of 0 or more (absent: 0).
fn count(field: &str, value: Option<Value>) -> Result<u64, String> {
    match value {
        None => Ok(0),
        Some(v) => v.as_u64().ok_or_else(|| format!("{field}: must be a whole number of 0 or more, not {v}")),
    }
}

/// A `ReadableDuration` field: a Go duration string (`"200ms"`) or a number
/// of nanoseconds, as Consul reads it; negative ones mean nothing to
/// autopilot and are refused (absent: 0, Go's nil duration).
fn duration_ns(field: &str, value: Option<Value>) -> Result<u64, String> {
    let nanos = match value {
        None => return Ok(0),
        Some(Value::String(text)) => go::parse(&text).map_err(|e| format!("{field}: {e}"))?.as_nanos(),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(v) if v >= 0.0 => v as u128,
            _ => return Err(format!("{field}: negative durations are not allowed: {n}")),
        },
        Some(other) => return Err(format!("{field}: not a duration: {other}")),
    };
    u64::try_from(nanos).map_err(|_| format!("{field}: duration out of range"))
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
    fn healthy(&self, leader_index: u64, config: &AutopilotConfig) -> bool {
        self.contact.is_some_and(|c| c <= config.last_contact_threshold())
            && self.knows_leader
            && leader_index.saturating_sub(self.index) <= config.max_trailing_logs
    }
}

async fn probe_voters(server: &Server, timeout: Duration) -> Vec<Probed> {
    let metrics = server.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership().clone();
    let leader = metrics.current_leader;
    let probes = membership.voter_ids().filter_map(|id| membership.get_node(&id).map(|n| (id, n.clone()))).map(
        |(id, node)| async move {
            let started = Instant::now();
            let answer = forward::status(&server.pool, &node.rpc_addr, timeout).await.ok();
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

async fn report(server: &Server) -> Result<Report, ApiError> {
    let config = stored_config(server)?.config;
    let probed = probe_voters(server, probe_timeout(&config)).await;
    let leader_index = probed.iter().find(|p| p.leader).map_or(0, |p| p.index);
    let servers: Vec<(Probed, bool)> = probed
        .into_iter()
        .map(|p| {
            let healthy = p.healthy(leader_index, &config);
            (p, healthy)
        })
        .collect();
    let healthy_count = servers.iter().filter(|(_, h)| *h).count();
    let quorum = servers.len() / 2 + 1;
    Ok(Report {
        failure_tolerance: healthy_count.saturating_sub(quorum),
        healthy: healthy_count == servers.len(),
        servers,
    })
}

fn last_contact(p: &Probed) -> String {
    match (p.leader, p.contact) {
        (true, _) => "0s".into(),
        (false, Some(c)) => duration::format(c),
        (false, None) => "never".into(),
    }
}

/// `/v1/operator/autopilot/health`, Consul's `OperatorHealthReply`; operator:read.
pub async fn health(State(server): State<Arc<Server>>, authz: Authz) -> Result<Json<OperatorHealthReply>, ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    let report = report(&server).await?;
    let servers = report
        .servers
        .iter()
        .map(|(p, healthy)| ServerHealth {
            id: p.node.node_id.clone(),
            name: p.node.name.clone(),
            address: p.node.rpc_addr.clone(),
            serf_status: alive_or_failed(p).to_string(),
            version: CONSUL_API_VERSION.to_string(),
            leader: p.leader,
            last_contact: last_contact(p),
            last_term: p.term,
            last_index: p.index,
            healthy: *healthy,
            voter: true,
        })
        .collect();
    Ok(Json(OperatorHealthReply {
        healthy: report.healthy,
        failure_tolerance: report.failure_tolerance as u64,
        servers,
    }))
}

/// A member's serf status, as far as a probe can tell it.
fn alive_or_failed(p: &Probed) -> &'static str {
    if p.contact.is_some() {
        "alive"
    } else {
        "failed"
    }
}

/// `/v1/operator/autopilot/state`: the same, keyed by server id; operator:read.
pub async fn state(State(server): State<Arc<Server>>, authz: Authz) -> Result<Json<AutopilotState>, ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    let report = report(&server).await?;
    let mut servers = BTreeMap::new();
    for (p, healthy) in &report.servers {
        let status = if p.leader { "leader" } else { "voter" };
        let entry = AutopilotServer {
            id: p.node.node_id.clone(),
            name: p.node.name.clone(),
            address: p.node.rpc_addr.clone(),
            node_status: alive_or_failed(p).to_string(),
            version: CONSUL_API_VERSION.to_string(),
            last_contact: last_contact(p),
            last_term: p.term,
            last_index: p.index,
            healthy: *healthy,
            read_replica: false,
            status: status.to_string(),
            meta: BTreeMap::new(),
            node_type: "voter".to_string(),
        };
        servers.insert(p.node.node_id.clone(), entry);
    }
    let leader = report.servers.iter().find(|(p, _)| p.leader).map(|(p, _)| p.node.node_id.clone());
    let voters: Vec<String> = report.servers.iter().map(|(p, _)| p.node.node_id.clone()).collect();
    Ok(Json(AutopilotState {
        healthy: report.healthy,
        failure_tolerance: report.failure_tolerance as u64,
        optimistic_failure_tolerance: report.failure_tolerance as u64,
        servers,
        leader: leader.unwrap_or_default(),
        voters,
    }))
}
