//! `/v1/agent/self` in Consul's shape, for servers and client agents:
//! Config (what version-gated clients read), a DebugConfig subset under
//! Consul's runtime names, Coord, Member, Stats (string values, as
//! Consul's), Meta and xDS.

use std::collections::BTreeMap;

use serde_json::json;
use serde_json::Value;
pub use tessera_mesh::api::agent::AgentSelf;
use tessera_mesh::api::agent::Coord;
use tessera_mesh::api::agent::SelfConfig;
use tessera_mesh::api::agent::Xds;
use tessera_mesh::api::agent::XdsPorts;
use tessera_mesh::catalog::duration;

use crate::agent::Agent;
use crate::config::AgentConfig;
use crate::consensus::Server;
use crate::http::member::Member;
use crate::version::CONSUL_API_VERSION;
use crate::version::TESSERA_VERSION;

/// What only the caller knows: its member entry and its mode's stats.
pub struct Mode {
    pub member: Member,
    /// Stats["consul"].
    pub consul: BTreeMap<&'static str, String>,
    /// Stats["raft"], on servers.
    pub raft: Option<BTreeMap<&'static str, String>>,
    /// Long-lived tasks running (Stats["runtime"]["goroutines"]).
    pub tasks: usize,
}

/// Consul's `Stats.consul.acl`.
pub fn acl_stat(config: &AgentConfig) -> &'static str {
    if config.acl.enabled {
        "enabled"
    } else {
        "disabled"
    }
}

pub fn build(config: &AgentConfig, agent: &Agent, mode: Mode) -> AgentSelf {
    let node = agent.node();
    let mut stats = BTreeMap::new();
    stats.insert("agent".to_string(), owned_keys(agent_stats(agent)));
    stats.insert("build".to_string(), owned_keys(build_stats()));
    stats.insert("consul".to_string(), owned_keys(mode.consul));
    stats.insert("runtime".to_string(), owned_keys(runtime_stats(mode.tasks)));
    if let Some(raft) = mode.raft {
        stats.insert("raft".to_string(), owned_keys(raft));
    }
    let mut meta = node.meta.clone();
    meta.insert("consul-network-segment".into(), String::new());
    meta.insert("consul-version".into(), CONSUL_API_VERSION.into());
    let grpc = config.grpc_port.map_or(-1, i32::from);
    AgentSelf {
        config: SelfConfig {
            datacenter: config.datacenter.clone(),
            primary_datacenter: config.datacenter.clone(),
            node_name: node.name.clone(),
            node_id: node.id.clone(),
            revision: format!("tessera-{TESSERA_VERSION}"),
            server: config.server,
            version: CONSUL_API_VERSION.to_string(),
            build_date: String::new(),
            tessera_version: TESSERA_VERSION.to_string(),
        },
        debug_config: owned_keys(debug_config(config)),
        coord: Coord::ORIGIN,
        member: mode.member,
        stats,
        meta,
        xds: Xds { supported_proxies: BTreeMap::new(), port: grpc, ports: XdsPorts { plaintext: grpc, tls: -1 } },
    }
}

/// The API type's maps own their keys (a reader's have to); the tables
/// here are written with static ones.
fn owned_keys<V>(map: BTreeMap<&'static str, V>) -> BTreeMap<String, V> {
    map.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn agent_stats(agent: &Agent) -> BTreeMap<&'static str, String> {
    let (services, checks) = agent.catalog_state();
    let kinds = agent.check_kinds();
    let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count().to_string();
    BTreeMap::from([
        ("services", services.len().to_string()),
        ("checks", checks.len().to_string()),
        ("check_monitors", count("script")),
        ("check_ttls", count("ttl")),
    ])
}

fn build_stats() -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("version", CONSUL_API_VERSION.to_string()),
        ("revision", format!("tessera-{TESSERA_VERSION}")),
        ("prerelease", String::new()),
        ("version_metadata", String::new()),
    ])
}

/// Go's names for the platform, as Consul reports `runtime.GOARCH`/`GOOS`.
fn runtime_stats(tasks: usize) -> BTreeMap<&'static str, String> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    BTreeMap::from([
        ("arch", arch.to_string()),
        ("os", std::env::consts::OS.to_string()),
        ("cpu_count", cpus.to_string()),
        ("max_procs", cpus.to_string()),
        ("goroutines", tasks.to_string()),
        ("version", format!("tessera-{TESSERA_VERSION}")),
    ])
}

/// The settings an operator debugging an agent looks for, under Consul's
/// RuntimeConfig names (durations as Go prints them).
fn debug_config(config: &AgentConfig) -> BTreeMap<&'static str, Value> {
    let d = |value: std::time::Duration| Value::String(duration::format(value));
    let port = |p: Option<u16>| p.map_or(-1, i32::from);
    let service_ttl: BTreeMap<&String, String> =
        config.dns.service_ttl.iter().map(|(k, v)| (k, duration::format(*v))).collect();
    BTreeMap::from([
        ("Datacenter", json!(config.datacenter)),
        ("PrimaryDatacenter", json!(config.datacenter)),
        ("NodeName", json!(config.node_name)),
        ("NodeMeta", json!(config.node_meta)),
        ("DataDir", json!(config.data_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default())),
        ("DevMode", json!(config.dev)),
        ("ServerMode", json!(config.server)),
        ("BootstrapExpect", json!(config.bootstrap_expect)),
        ("BindAddr", json!(config.bind_addr.to_string())),
        ("AdvertiseAddrLAN", json!(config.bind_addr.to_string())),
        ("ClientAddrs", json!([config.client_addr.to_string()])),
        ("HTTPPort", json!(config.http_port)),
        ("HTTPSPort", json!(port(config.https_port))),
        ("DNSPort", json!(port(config.dns_port))),
        ("GRPCPort", json!(port(config.grpc_port))),
        ("GRPCTLSPort", json!(port(config.grpc_tls_port))),
        ("ServerPort", json!(config.server_port)),
        ("DNSDomain", json!(config.domain)),
        ("DNSRecursors", json!(config.dns.recursors.iter().map(|r| r.to_string()).collect::<Vec<_>>())),
        ("DNSRecursorTimeout", d(config.dns.recursor_timeout)),
        ("DNSNodeTTL", d(config.dns.node_ttl)),
        ("DNSServiceTTL", json!(service_ttl)),
        ("DNSOnlyPassing", json!(config.dns.only_passing)),
        ("RetryJoinLAN", json!(config.retry_join)),
        ("RetryJoinIntervalLAN", d(config.retry_interval)),
        ("ReconnectTimeoutLAN", d(config.reconnect_timeout)),
        ("RPCHoldTimeout", d(config.rpc_hold_timeout)),
        ("RaftSnapshotThreshold", json!(config.raft.snapshot_threshold)),
        ("RaftTrailingLogs", json!(config.raft.trailing_logs)),
        ("ConnectEnabled", json!(true)),
        ("ACLsEnabled", json!(false)),
        ("Version", json!(CONSUL_API_VERSION)),
        ("Revision", json!(format!("tessera-{TESSERA_VERSION}"))),
    ])
}

/// Stats["raft"] from the server's Raft metrics, under hashicorp/raft's names.
pub fn raft_stats(server: &Server) -> BTreeMap<&'static str, String> {
    let metrics = server.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    let voters: Vec<_> = membership.voter_ids().collect();
    let configuration: Vec<String> = membership
        .nodes()
        .map(|(id, node)| {
            let suffrage = if voters.contains(id) { "Voter" } else { "Nonvoter" };
            format!("{{Suffrage:{suffrage} ID:{} Address:{}}}", node.node_id, node.rpc_addr)
        })
        .collect();
    let state = match metrics.state {
        openraft::ServerState::Leader => "Leader",
        openraft::ServerState::Candidate => "Candidate",
        openraft::ServerState::Learner => "Follower",
        openraft::ServerState::Follower => "Follower",
        openraft::ServerState::Shutdown => "Shutdown",
    };
    let index = |id: Option<openraft::LogId<u64>>| id.map_or(0, |l| l.index).to_string();
    let term = |id: Option<openraft::LogId<u64>>| id.map_or(0, |l| l.leader_id.term).to_string();
    let mut stats = BTreeMap::from([
        ("state", state.to_string()),
        ("term", metrics.current_term.to_string()),
        ("last_log_index", metrics.last_log_index.unwrap_or(0).to_string()),
        ("last_log_term", metrics.current_term.to_string()),
        ("applied_index", index(metrics.last_applied)),
        ("commit_index", index(metrics.last_applied)),
        ("fsm_pending", "0".to_string()),
        ("last_snapshot_index", index(metrics.snapshot)),
        ("last_snapshot_term", term(metrics.snapshot)),
        ("latest_configuration", format!("[{}]", configuration.join(" "))),
        ("latest_configuration_index", metrics.membership_config.log_id().map_or(0, |l| l.index).to_string()),
        ("num_peers", voters.len().saturating_sub(1).to_string()),
        ("protocol_version", "3".to_string()),
        ("protocol_version_min", "0".to_string()),
        ("protocol_version_max", "3".to_string()),
        ("snapshot_version_min", "0".to_string()),
        ("snapshot_version_max", "1".to_string()),
    ]);
    if metrics.state == openraft::ServerState::Leader {
        stats.insert("last_contact", "0".to_string());
    } else if metrics.current_leader.is_none() {
        stats.insert("last_contact", "never".to_string());
    }
    stats
}
