//! The agent keys a (merged) configuration acts on, typed: what the CLI
//! turns into the agent's configuration. Files are decoded and checked by
//! the key table first (`schema`); these structs only read the result.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde::Deserializer;

use crate::catalog::duration::go as go_duration;

/// The keys of a (merged) configuration the agent acts on; `None` or empty
/// where no file gave one.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AgentSettings {
    pub datacenter: Option<String>,
    pub node_name: Option<String>,
    pub data_dir: Option<String>,
    pub server: Option<bool>,
    pub bootstrap: Option<bool>,
    pub bootstrap_expect: Option<i64>,
    /// `retry_join`, then deprecated `start_join`, across files.
    pub retry_join: Vec<String>,
    #[serde(deserialize_with = "go_duration_opt")]
    pub retry_interval: Option<Duration>,
    pub bind_addr: Option<String>,
    pub advertise_addr: Option<String>,
    pub client_addr: Option<String>,
    pub addresses: Addresses,
    pub ports: Ports,
    pub domain: Option<String>,
    pub log_level: Option<String>,
    pub log_json: Option<bool>,
    pub pid_file: Option<String>,
    pub node_meta: BTreeMap<String, String>,
    pub performance: Performance,
    pub limits: Limits,
    pub raft_snapshot_threshold: Option<i64>,
    pub raft_trailing_logs: Option<i64>,
    /// Script checks from any source / from config files only.
    pub enable_script_checks: Option<bool>,
    pub enable_local_script_checks: Option<bool>,
    /// Upstream DNS servers for names outside the domain, across files.
    pub recursors: Vec<String>,
    pub dns_config: DnsConfig,
    #[serde(deserialize_with = "go_duration_opt")]
    pub reconnect_timeout: Option<Duration>,
    pub tls: TlsStanza,
    /// Old `verify_incoming_https`: below `tls.https.verify_incoming`.
    pub verify_incoming_https: Option<bool>,
    /// The older top-level TLS keys (`ca_file`, ..., `verify_incoming`): below `tls.defaults`.
    #[serde(flatten)]
    pub top_level_tls: TlsFiles,
    pub auto_encrypt: AutoEncrypt,
    pub acl: AclSettings,
}

/// `acl { ... }`: the keys acted on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AclSettings {
    pub enabled: Option<bool>,
    pub default_policy: Option<String>,
    pub down_policy: Option<String>,
    pub enable_token_persistence: Option<bool>,
    #[serde(deserialize_with = "go_duration_opt")]
    pub token_ttl: Option<Duration>,
    pub tokens: AclTokenSettings,
}

/// `acl.tokens { ... }` (`master` and `agent_master` already mapped onto
/// `initial_management` and `agent_recovery`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AclTokenSettings {
    pub initial_management: Option<String>,
    pub agent: Option<String>,
    pub agent_recovery: Option<String>,
    pub default: Option<String>,
}

/// `tls { defaults {...} internal_rpc {...} https {...} grpc {...} }`: the keys acted on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TlsStanza {
    pub defaults: TlsFiles,
    pub internal_rpc: TlsFiles,
    pub https: TlsFiles,
    pub grpc: TlsFiles,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct TlsFiles {
    pub ca_file: Option<String>,
    pub ca_path: Option<String>,
    pub cert_file: Option<String>,
    pub key_file: Option<String>,
    pub tls_min_version: Option<String>,
    pub verify_incoming: Option<bool>,
}

impl TlsFiles {
    /// `self` where it has a value, else `under`'s.
    pub fn over(&self, under: &TlsFiles) -> TlsFiles {
        let pick = |a: &Option<String>, b: &Option<String>| a.clone().or_else(|| b.clone());
        TlsFiles {
            ca_file: pick(&self.ca_file, &under.ca_file),
            ca_path: pick(&self.ca_path, &under.ca_path),
            cert_file: pick(&self.cert_file, &under.cert_file),
            key_file: pick(&self.key_file, &under.key_file),
            tls_min_version: pick(&self.tls_min_version, &under.tls_min_version),
            verify_incoming: self.verify_incoming.or(under.verify_incoming),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct AutoEncrypt {
    pub tls: Option<bool>,
    pub allow_tls: Option<bool>,
}

/// `dns_config`: the keys the agent acts on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct DnsConfig {
    #[serde(deserialize_with = "go_duration_opt")]
    pub node_ttl: Option<Duration>,
    /// Service name (or `prefix*`, or `*`) to TTL, overlaid across files.
    #[serde(deserialize_with = "go_duration_map")]
    pub service_ttl: BTreeMap<String, Duration>,
    pub only_passing: Option<bool>,
    pub recursor_strategy: Option<String>,
    #[serde(deserialize_with = "go_duration_opt")]
    pub recursor_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Addresses {
    pub dns: Option<String>,
    pub http: Option<String>,
    pub grpc: Option<String>,
    pub https: Option<String>,
    pub grpc_tls: Option<String>,
}

/// Ports as given: `<= 0` turns a listener off, as in Consul.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Ports {
    pub dns: Option<i64>,
    pub http: Option<i64>,
    pub server: Option<i64>,
    pub grpc: Option<i64>,
    pub https: Option<i64>,
    pub grpc_tls: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Performance {
    pub raft_multiplier: Option<i64>,
    #[serde(deserialize_with = "go_duration_opt")]
    pub rpc_hold_timeout: Option<Duration>,
}

/// `limits`: the keys the agent acts on.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub http_max_conns_per_client: Option<i64>,
    pub rpc_max_conns_per_client: Option<i64>,
    #[serde(deserialize_with = "go_duration_opt")]
    pub rpc_handshake_timeout: Option<Duration>,
    #[serde(deserialize_with = "go_duration_opt")]
    pub https_handshake_timeout: Option<Duration>,
}

fn go_duration_map<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, Duration>, D::Error> {
    let texts: BTreeMap<String, String> = BTreeMap::deserialize(deserializer)?;
    texts.into_iter().map(|(k, t)| go_duration::parse(&t).map(|d| (k, d)).map_err(serde::de::Error::custom)).collect()
}

fn go_duration_opt<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Duration>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    text.map(|t| go_duration::parse(&t).map_err(serde::de::Error::custom)).transpose()
}
