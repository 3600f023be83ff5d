//! What the catalog stores: nodes, service instances and health checks.
//! These are Tessera's own types (and the Raft log's); the HTTP layer maps
//! them to Consul's JSON shapes.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub name: String,
    /// The agent's node id (a UUID).
    #[serde(default)]
    pub id: String,
    pub address: String,
    pub datacenter: String,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
}

/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ServiceKind {
    #[default]
    #[serde(rename = "")]
    Typical,
    #[serde(rename = "connect-proxy")]
    ConnectProxy,
    #[serde(rename = "mesh-gateway")]
    MeshGateway,
    #[serde(rename = "terminating-gateway")]
    TerminatingGateway,
    #[serde(rename = "ingress-gateway")]
    IngressGateway,
}

impl ServiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Typical => "",
            ServiceKind::ConnectProxy => "connect-proxy",
            ServiceKind::MeshGateway => "mesh-gateway",
            ServiceKind::TerminatingGateway => "terminating-gateway",
            ServiceKind::IngressGateway => "ingress-gateway",
        }
    }

    pub fn parse(text: &str) -> Option<ServiceKind> {
        [
            ServiceKind::Typical,
            ServiceKind::ConnectProxy,
            ServiceKind::MeshGateway,
            ServiceKind::TerminatingGateway,
            ServiceKind::IngressGateway,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { passing: 1, warning: 1 }
    }
}

/// One registered instance of a service on a node.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Empty: the node's address.
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub meta: BTreeMap<String, String>,
    #[serde(default)]
    pub kind: ServiceKind,
    #[serde(default)]
    pub proxy: Option<ProxySettings>,
    #[serde(default)]
    pub connect_native: bool,
    #[serde(default)]
    pub weights: Weights,
    #[serde(default)]
    pub enable_tag_override: bool,
}

impl Service {
    /// The address clients should dial: the service's, else the node's.
    pub fn effective_address<'a>(&'a self, node: &'a Node) -> &'a str {
        if self.address.is_empty() {
            &node.address
        } else {
            &self.address
        }
    }
}

/// The `proxy` block of a `connect-proxy` service.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProxySettings {
    pub destination_service_name: String,
    #[serde(default)]
    pub destination_service_id: String,
    #[serde(default)]
    pub local_service_address: String,
    #[serde(default)]
    pub local_service_port: u16,
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
}

/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Upstream {
    pub destination_type: String,
    pub destination_name: String,
    pub destination_namespace: String,
    #[serde(default)]
    pub datacenter: String,
    pub local_bind_address: String,
    pub local_bind_port: u16,
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
}

/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Passing,
    Warning,
    /// Consul's initial status for a new check.
    #[default]
    Critical,
}

impl CheckStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Passing => "passing",
            CheckStatus::Warning => "warning",
            CheckStatus::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<CheckStatus> {
        match text {
            "passing" => Some(CheckStatus::Passing),
            "warning" => Some(CheckStatus::Warning),
            "critical" => Some(CheckStatus::Critical),
            _ => None,
        }
    }
}

/// A health check's latest result, as the catalog holds it.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub node: String,
    pub check_id: String,
    pub name: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub notes: String,
    #[serde(default)]
    pub output: String,
    /// Empty for node-level checks.
    #[serde(default)]
    pub service_id: String,
    #[serde(default)]
    pub service_name: String,
    #[serde(default)]
    pub service_tags: Vec<String>,
    /// "tcp", "http", "ttl", "alias", "serf" or "" (Consul's Type).
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub timeout: String,
}

/// The check every node carries; critical when its agent stops answering.
pub const SERF_HEALTH_ID: &str = "serfHealth";
pub const SERF_HEALTH_NAME: &str = "Serf Health Status";

/// `node`'s serfHealth check, passing while its agent is alive.
pub fn serf_health(node: &str, alive: bool) -> HealthCheck {
    let (status, output) = match alive {
        true => (CheckStatus::Passing, "Agent alive and reachable"),
        false => (CheckStatus::Critical, "Agent not live or unreachable"),
    };
    HealthCheck {
        node: node.to_string(),
        check_id: SERF_HEALTH_ID.into(),
        name: SERF_HEALTH_NAME.into(),
        status,
        output: output.into(),
        kind: "serf".into(),
        ..HealthCheck::default()
    }
}
