//! Every key a Consul agent config file may hold, as Consul 1.17's
//! `agent/config/config.go` (and `deprecated.go`) declares them: its type,
//! and what Tessera does with it. The table drives decoding (types, unknown
//! keys), merging (lists append, maps overlay, blocks merge field by field)
//! and the list of keys accepted but not acted on.

use serde_json::Value;

use crate::catalog::duration::go as go_duration;

/// A key's value type, which also decides how two files' values merge.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Str,
    Bool,
    Int,
    Float,
    /// A Go duration string (`"30s"`).
    Duration,
    /// An int; `<= 0` means off, as in Consul; above 65535 is an error.
    Port,
    /// Appended across files.
    StrList,
    AnyList,
    /// Overlaid key by key across files.
    StrMap,
    AnyMap,
    /// Free-form; a later file's value replaces an earlier one.
    Any,
    /// A nested block, merged field by field.
    Block(&'static [Key]),
    /// `service` / `services`, `check` / `checks`: definitions, appended.
    Services,
    Checks,
    /// Deprecated `start_join`: appended to `retry_join`.
    StartJoin,
}

/// What Tessera does with a key.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    /// Maps onto the agent's configuration.
    Acted,
    /// Type-checked and accepted; no effect yet (listed at start and in
    /// docs/consul-compatibility.md).
    Ignored,
    /// Refused: the feature (the text names it) is later work.
    Later(&'static str),
    /// A Consul Enterprise key: a warning, no effect (as Consul CE does).
    Enterprise,
    /// Accepted with this deprecation warning, no effect.
    Deprecated(&'static str),
}

pub(crate) type Check = fn(&Value) -> Result<(), String>;

#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub name: &'static str,
    /// Another accepted spelling (mapstructure's `alias` tag).
    pub alias: &'static str,
    pub kind: Kind,
    pub note: Note,
    /// A check of the value once its type is right; the error is
    /// prefixed with the key's path.
    pub check: Option<Check>,
}

const fn key(name: &'static str, kind: Kind, note: Note) -> Key {
    Key { name, alias: "", kind, note, check: None }
}

const fn acted(name: &'static str, kind: Kind) -> Key {
    key(name, kind, Note::Acted)
}

const fn ignored(name: &'static str, kind: Kind) -> Key {
    key(name, kind, Note::Ignored)
}

const fn later(name: &'static str, what: &'static str) -> Key {
    key(name, Kind::Any, Note::Later(what))
}

const fn enterprise(name: &'static str, kind: Kind) -> Key {
    key(name, kind, Note::Enterprise)
}

const fn checked(mut key: Key, check: Check) -> Key {
    key.check = Some(check);
    key
}

const fn aliased(mut key: Key, alias: &'static str) -> Key {
    key.alias = alias;
    key
}

use Kind::*;

const ACLS: &str = "ACLs";
const UI: &str = "the web UI";

pub(crate) static TOP: &[Key] = &[
    // Acted on.
    acted("datacenter", Str),
    acted("node_name", Str),
    acted("data_dir", Str),
    acted("server", Bool),
    acted("bootstrap", Bool),
    acted("bootstrap_expect", Int),
    acted("retry_join", StrList),
    key(
        "start_join",
        StartJoin,
        Note::Deprecated("The 'start_join' field is deprecated. Use the 'retry_join' field instead."),
    ),
    acted("retry_interval", Duration),
    acted("bind_addr", Str),
    acted("advertise_addr", Str),
    acted("client_addr", Str),
    acted("addresses", Block(ADDRESSES)),
    acted("ports", Block(PORTS)),
    acted("domain", Str),
    acted("log_level", Str),
    acted("log_json", Bool),
    acted("pid_file", Str),
    acted("node_meta", StrMap),
    acted("performance", Block(PERFORMANCE)),
    acted("limits", Block(LIMITS)),
    acted("raft_snapshot_threshold", Int),
    acted("raft_trailing_logs", Int),
    acted("recursors", StrList),
    acted("dns_config", Block(DNS)),
    checked(acted("reconnect_timeout", Duration), reconnect_timeout),
    acted("enable_script_checks", Bool),
    acted("enable_local_script_checks", Bool),
    acted("service", Services),
    acted("services", Services),
    acted("check", Checks),
    acted("checks", Checks),
    // Accepted, not acted on yet.
    ignored("advertise_addr_ipv4", Str),
    ignored("advertise_addr_ipv6", Str),
    ignored("advertise_addr_wan", Str),
    ignored("advertise_addr_wan_ipv4", Str),
    ignored("advertise_addr_wan_ipv6", Str),
    ignored("advertise_reconnect_timeout", Duration),
    ignored("alt_domain", Str),
    ignored("auto_reload_config", Bool),
    ignored("autopilot", Block(AUTOPILOT)),
    ignored("cache", Block(CACHE)),
    ignored("check_output_max_size", Int),
    ignored("check_update_interval", Duration),
    ignored("cloud", Any),
    ignored("config_entries", Block(CONFIG_ENTRIES)),
    ignored("connect", Block(CONNECT)),
    ignored("default_query_time", Duration),
    ignored("disable_anonymous_signature", Bool),
    ignored("disable_coordinates", Bool),
    ignored("disable_host_node_id", Bool),
    ignored("disable_http_unprintable_char_filter", Bool),
    ignored("disable_keyring_file", Bool),
    ignored("disable_remote_exec", Bool),
    ignored("disable_update_check", Bool),
    ignored("discard_check_output", Bool),
    ignored("discovery_max_stale", Duration),
    ignored("enable_agent_tls_for_checks", Bool),
    ignored("enable_central_service_config", Bool),
    ignored("enable_debug", Bool),
    ignored("enable_syslog", Bool),
    ignored("encrypt_verify_incoming", Bool),
    ignored("encrypt_verify_outgoing", Bool),
    ignored("experiments", StrList),
    ignored("gossip_lan", Block(GOSSIP)),
    ignored("gossip_wan", Block(GOSSIP)),
    ignored("http_config", Block(HTTP_CONFIG)),
    ignored("leave_on_terminate", Bool),
    ignored("locality", Block(LOCALITY)),
    ignored("log_file", Str),
    ignored("log_rotate_bytes", Int),
    ignored("log_rotate_duration", Duration),
    ignored("log_rotate_max_files", Int),
    ignored("log_sublevels", StrMap),
    ignored("max_query_time", Duration),
    ignored("node_id", Str),
    ignored("peering", Block(PEERING)),
    ignored("primary_datacenter", Str),
    ignored("primary_gateways", StrList),
    ignored("primary_gateways_interval", Duration),
    ignored("protocol", Int),
    checked(ignored("raft_protocol", Int), raft_protocol),
    ignored("raft_logstore", Block(RAFT_LOGSTORE)),
    ignored("raft_snapshot_interval", Duration),
    ignored("reconnect_timeout_wan", Duration),
    ignored("rejoin_after_leave", Bool),
    ignored("retry_interval_wan", Duration),
    ignored("retry_join_wan", StrList),
    ignored("retry_max", Int),
    ignored("retry_max_wan", Int),
    ignored("rpc", Block(RPC)),
    ignored("serf_lan", Str),
    ignored("serf_lan_allowed_cidrs", StrList),
    ignored("serf_wan", Str),
    ignored("serf_wan_allowed_cidrs", StrList),
    ignored("server_name", Str),
    ignored("session_ttl_min", Duration),
    ignored("skip_leave_on_interrupt", Bool),
    ignored("snapshot_agent", Any),
    ignored("syslog_facility", Str),
    ignored("tagged_addresses", StrMap),
    ignored("telemetry", Block(TELEMETRY)),
    ignored("translate_wan_addrs", Bool),
    ignored("unix_sockets", Block(UNIX_SOCKETS)),
    ignored("use_streaming_backend", Bool),
    ignored("watches", AnyList),
    ignored("xds", Block(XDS)),
    // Values Consul sets itself (its non-user source); files may hold them.
    ignored("ae_interval", Duration),
    ignored("build_date", Any),
    ignored("check_deregister_interval_min", Duration),
    ignored("check_reap_interval", Duration),
    ignored("consul", Any),
    ignored("revision", Str),
    ignored("segment_limit", Int),
    ignored("segment_name_limit", Int),
    ignored("sync_coordinate_interval_min", Duration),
    ignored("sync_coordinate_rate_target", Float),
    ignored("version", Str),
    ignored("version_metadata", Str),
    ignored("version_prerelease", Str),
    // Deprecated, accepted with a warning.
    key(
        "start_join_wan",
        StrList,
        Note::Deprecated("The 'start_join_wan' field is deprecated. Use the 'retry_join_wan' field instead."),
    ),
    key(
        "raft_boltdb",
        Any,
        Note::Deprecated("The 'raft_boltdb' field is deprecated. Use the 'raft_logstore.boltdb' field instead."),
    ),
    key(
        "acl_enforce_version_8",
        Any,
        Note::Deprecated("config key \"acl_enforce_version_8\" is deprecated and should be removed"),
    ),
    // Consul Enterprise.
    enterprise("audit", Any),
    enterprise("license_path", Str),
    enterprise("license_poll_base_time", Any),
    enterprise("license_poll_max_time", Any),
    enterprise("license_update_base_time", Any),
    enterprise("license_update_max_time", Any),
    enterprise("partition", Str),
    aliased(enterprise("read_replica", Bool), "non_voting_server"),
    enterprise("reporting", Any),
    enterprise("segment", Str),
    enterprise("segments", AnyList),
    // ACL state and its API (enforcement on the other endpoints is next).
    acted("acl", Block(ACL)),
    // Later work: refused until it lands.
    later("acl_agent_master_token", ACLS),
    later("acl_agent_token", ACLS),
    later("acl_datacenter", ACLS),
    later("acl_default_policy", ACLS),
    later("acl_down_policy", ACLS),
    later("acl_enable_key_list_policy", ACLS),
    later("acl_master_token", ACLS),
    later("acl_replication_token", ACLS),
    later("acl_token", ACLS),
    later("acl_ttl", ACLS),
    later("enable_acl_replication", ACLS),
    // TLS: the `tls` stanza and the older top-level keys it replaced.
    acted("tls", Block(TLS_STANZA)),
    acted("ca_file", Str),
    acted("ca_path", Str),
    acted("cert_file", Str),
    acted("key_file", Str),
    checked(acted("tls_min_version", Str), tls_min_version),
    ignored("tls_cipher_suites", Str),
    ignored("tls_prefer_server_cipher_suites", Bool),
    // The server port always verifies chains and server names (see docs);
    // verify_incoming acts on the HTTPS and gRPC TLS listeners.
    acted("verify_incoming", Bool),
    acted("verify_incoming_https", Bool),
    ignored("verify_incoming_rpc", Bool),
    ignored("verify_outgoing", Bool),
    ignored("verify_server_hostname", Bool),
    acted("auto_encrypt", Block(AUTO_ENCRYPT)),
    later("auto_config", "auto_config (TLS and ACLs)"),
    later("encrypt", "encryption between agents (TLS)"),
    later("ui_config", UI),
    later("ui", UI),
    later("ui_dir", UI),
    later("ui_content_path", UI),
];

static ACL: &[Key] = &[
    acted("enabled", Bool),
    checked(acted("default_policy", Str), acl_default_policy),
    checked(acted("down_policy", Str), acl_down_policy),
    acted("enable_token_persistence", Bool),
    acted("token_ttl", Duration),
    ignored("policy_ttl", Duration),
    ignored("role_ttl", Duration),
    ignored("enable_key_list_policy", Bool),
    ignored("enable_token_replication", Bool),
    ignored("msp_disable_bootstrap", Bool),
    acted("tokens", Block(ACL_TOKENS)),
    // Consul 1.4's names inside the block.
    later("default_token", ACLS),
    later("agent_token", ACLS),
    later("agent_master_token", ACLS),
    later("replication_token", ACLS),
];

static ACL_TOKENS: &[Key] = &[
    // Consul maps the names before 1.11 onto these.
    aliased(acted("initial_management", Str), "master"),
    acted("agent", Str),
    aliased(acted("agent_recovery", Str), "agent_master"),
    acted("default", Str),
    ignored("replication", Str),
    ignored("config_file_service_registration", Str),
    ignored("dns", Str),
    enterprise("managed_service_provider", AnyList),
];

static ADDRESSES: &[Key] =
    &[acted("dns", Str), acted("http", Str), acted("grpc", Str), acted("https", Str), acted("grpc_tls", Str)];

static PORTS: &[Key] = &[
    acted("dns", Port),
    acted("http", Port),
    acted("server", Port),
    acted("grpc", Port),
    // Off unless given; a port needs its TLS material (checked once merged).
    acted("https", Port),
    acted("grpc_tls", Port),
    ignored("serf_lan", Port),
    ignored("serf_wan", Port),
    ignored("proxy_min_port", Port),
    ignored("proxy_max_port", Port),
    ignored("sidecar_min_port", Port),
    ignored("sidecar_max_port", Port),
    ignored("expose_min_port", Port),
    ignored("expose_max_port", Port),
];

static PERFORMANCE: &[Key] =
    &[acted("raft_multiplier", Int), acted("rpc_hold_timeout", Duration), ignored("leave_drain_time", Duration)];

static CONNECT: &[Key] = &[
    ignored("enabled", Bool),
    checked(ignored("ca_provider", Str), ca_provider),
    ignored("ca_config", AnyMap),
    ignored("enable_mesh_gateway_wan_federation", Bool),
    ignored("test_ca_leaf_root_change_spread", Duration),
];

static DNS: &[Key] = &[
    ignored("allow_stale", Bool),
    ignored("a_record_limit", Int),
    ignored("disable_compression", Bool),
    ignored("enable_truncate", Bool),
    ignored("max_stale", Duration),
    acted("node_ttl", Duration),
    acted("only_passing", Bool),
    checked(acted("recursor_strategy", Str), recursor_strategy),
    acted("recursor_timeout", Duration),
    checked(acted("service_ttl", StrMap), duration_values),
    ignored("udp_answer_limit", Int),
    ignored("enable_additional_node_meta_txt", Bool),
    ignored("soa", Block(SOA)),
    ignored("use_cache", Bool),
    ignored("cache_max_age", Duration),
    ignored("prefer_namespace", Bool),
];

static SOA: &[Key] = &[ignored("refresh", Int), ignored("retry", Int), ignored("expire", Int), ignored("min_ttl", Int)];

static TLS_STANZA: &[Key] = &[
    acted("defaults", Block(TLS_COMMON)),
    acted("internal_rpc", Block(TLS_RPC)),
    acted("https", Block(TLS_COMMON)),
    acted("grpc", Block(TLS_GRPC)),
];

static TLS_COMMON: &[Key] = &[
    acted("ca_file", Str),
    acted("ca_path", Str),
    acted("cert_file", Str),
    acted("key_file", Str),
    checked(acted("tls_min_version", Str), tls_min_version),
    ignored("tls_cipher_suites", Str),
    // Acted on by the HTTPS and gRPC TLS listeners (defaults, https).
    acted("verify_incoming", Bool),
    ignored("verify_outgoing", Bool),
];

static TLS_RPC: &[Key] = &[
    acted("ca_file", Str),
    acted("ca_path", Str),
    acted("cert_file", Str),
    acted("key_file", Str),
    checked(acted("tls_min_version", Str), tls_min_version),
    ignored("tls_cipher_suites", Str),
    ignored("verify_incoming", Bool),
    ignored("verify_outgoing", Bool),
    ignored("verify_server_hostname", Bool),
];

static TLS_GRPC: &[Key] = &[
    acted("ca_file", Str),
    acted("ca_path", Str),
    acted("cert_file", Str),
    acted("key_file", Str),
    checked(acted("tls_min_version", Str), tls_min_version),
    ignored("tls_cipher_suites", Str),
    acted("verify_incoming", Bool),
    ignored("use_auto_cert", Bool),
];

static AUTO_ENCRYPT: &[Key] =
    &[acted("tls", Bool), acted("allow_tls", Bool), ignored("dns_san", StrList), ignored("ip_san", StrList)];

static HTTP_CONFIG: &[Key] = &[
    // Ignoring these would leave open what the operator closed.
    later("block_endpoints", "blocking HTTP endpoints"),
    later("allow_write_http_from", "restricting HTTP writes by source address"),
    ignored("response_headers", StrMap),
    ignored("use_cache", Bool),
    ignored("max_header_bytes", Int),
];

static LIMITS: &[Key] = &[
    acted("http_max_conns_per_client", Int),
    acted("https_handshake_timeout", Duration),
    ignored("request_limits", Block(REQUEST_LIMITS)),
    ignored("rpc_client_timeout", Duration),
    acted("rpc_handshake_timeout", Duration),
    ignored("rpc_max_burst", Int),
    acted("rpc_max_conns_per_client", Int),
    ignored("rpc_rate", Float),
    ignored("kv_max_value_size", Int),
    ignored("txn_max_req_len", Int),
];

static REQUEST_LIMITS: &[Key] = &[ignored("mode", Str), ignored("read_rate", Float), ignored("write_rate", Float)];

static TELEMETRY: &[Key] = &[
    ignored("circonus_api_app", Str),
    ignored("circonus_api_token", Str),
    ignored("circonus_api_url", Str),
    ignored("circonus_broker_id", Str),
    ignored("circonus_broker_select_tag", Str),
    ignored("circonus_check_display_name", Str),
    ignored("circonus_check_force_metric_activation", Str),
    ignored("circonus_check_id", Str),
    ignored("circonus_check_instance_id", Str),
    ignored("circonus_check_search_tag", Str),
    ignored("circonus_check_tags", Str),
    ignored("circonus_submission_interval", Str),
    ignored("circonus_submission_url", Str),
    ignored("disable_hostname", Bool),
    ignored("disable_per_tenancy_usage_metrics", Bool),
    ignored("dogstatsd_addr", Str),
    ignored("dogstatsd_tags", StrList),
    ignored("enable_host_metrics", Bool),
    ignored("filter_default", Bool),
    ignored("metrics_prefix", Str),
    ignored("prefix_filter", StrList),
    ignored("prometheus_retention_time", Duration),
    ignored("retry_failed_connection", Bool),
    ignored("statsd_address", Str),
    ignored("statsite_address", Str),
];

static AUTOPILOT: &[Key] = &[
    ignored("cleanup_dead_servers", Bool),
    ignored("last_contact_threshold", Duration),
    ignored("max_trailing_logs", Int),
    ignored("min_quorum", Int),
    ignored("server_stabilization_time", Duration),
    enterprise("disable_upgrade_migration", Bool),
    enterprise("redundancy_zone_tag", Str),
    enterprise("upgrade_version_tag", Str),
];

static GOSSIP: &[Key] = &[
    ignored("gossip_nodes", Int),
    ignored("gossip_interval", Duration),
    ignored("probe_interval", Duration),
    ignored("probe_timeout", Duration),
    ignored("suspicion_mult", Int),
    ignored("retransmit_mult", Int),
];

static CACHE: &[Key] = &[ignored("entry_fetch_max_burst", Int), ignored("entry_fetch_rate", Float)];
static LOCALITY: &[Key] = &[ignored("region", Str), ignored("zone", Str)];
static PEERING: &[Key] = &[ignored("enabled", Bool), ignored("test_allow_peer_registrations", Bool)];
static RPC: &[Key] = &[ignored("enable_streaming", Bool)];
static XDS: &[Key] = &[ignored("update_max_per_second", Float)];
static UNIX_SOCKETS: &[Key] = &[ignored("group", Str), ignored("mode", Str), ignored("user", Str)];
static CONFIG_ENTRIES: &[Key] = &[ignored("bootstrap", AnyList)];

static RAFT_LOGSTORE: &[Key] = &[
    ignored("backend", Str),
    ignored("disable_log_cache", Bool),
    ignored("verification", Block(RAFT_VERIFICATION)),
    ignored("boltdb", Block(RAFT_BOLTDB)),
    ignored("wal", Block(RAFT_WAL)),
];
static RAFT_VERIFICATION: &[Key] = &[ignored("enabled", Bool), ignored("interval", Duration)];
static RAFT_BOLTDB: &[Key] = &[ignored("no_freelist_sync", Bool)];
static RAFT_WAL: &[Key] = &[ignored("segment_size_mb", Int)];

fn acl_default_policy(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some("allow" | "deny") => Ok(()),
        other => Err(format!("Unsupported default ACL policy: {}", other.unwrap_or_default())),
    }
}

fn acl_down_policy(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some("allow" | "deny" | "extend-cache" | "async-cache") => Ok(()),
        other => Err(format!("Unsupported down ACL policy: {}", other.unwrap_or_default())),
    }
}

fn raft_protocol(value: &Value) -> Result<(), String> {
    match value.as_i64() {
        Some(3) => Ok(()),
        _ => Err(format!("raft_protocol version {value} is not supported by this version of Consul")),
    }
}

/// Consul's floor: a node that has not been heard from for less than this
/// may only be restarting.
fn reconnect_timeout(value: &Value) -> Result<(), String> {
    let text = value.as_str().unwrap_or_default();
    match go_duration::parse(text) {
        Ok(d) if !d.is_zero() && d < std::time::Duration::from_secs(8 * 60) => {
            Err("reconnect_timeout must be >= 8m".to_string())
        }
        _ => Ok(()),
    }
}

fn recursor_strategy(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some("" | "sequential" | "random") => Ok(()),
        other => Err(format!("RecursorStrategy: invalid value {other:?}: must be sequential or random")),
    }
}

/// A map whose values are Go durations (`dns_config.service_ttl`).
fn duration_values(value: &Value) -> Result<(), String> {
    let Some(map) = value.as_object() else { return Ok(()) };
    for (key, text) in map {
        let raw = text.as_str().unwrap_or_default();
        if let Err(e) = go_duration::parse(raw) {
            return Err(format!("invalid duration for {}: {}: {e}", go_duration::quote(key), go_duration::quote(raw)));
        }
    }
    Ok(())
}

/// Consul's names; TLS before 1.2 is refused (rustls does not speak it).
fn tls_min_version(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some("" | "TLSv1_2" | "TLSv1_3" | "tls12" | "tls13") => Ok(()),
        Some(old @ ("TLSv1_0" | "TLSv1_1" | "tls10" | "tls11")) => {
            Err(format!("{old}: TLS before 1.2 is not supported; use TLSv1_2 or TLSv1_3"))
        }
        other => Err(format!("invalid tls_min_version {other:?}: use TLSv1_2 or TLSv1_3")),
    }
}

fn ca_provider(value: &Value) -> Result<(), String> {
    match value.as_str() {
        Some("" | "consul") => Ok(()),
        Some(other @ ("vault" | "aws-pca")) => {
            Err(format!("not supported yet (later work: the {other} provider; Tessera has the built-in CA)"))
        }
        Some(other) => Err(format!("{other} is not a valid CA provider")),
        None => Ok(()),
    }
}

/// The key `raw` names among `keys`: its exact name or alias first, then
/// ignoring ASCII case (mapstructure matches a field so).
pub(crate) fn find(keys: &'static [Key], raw: &str) -> Option<&'static Key> {
    keys.iter().find(|k| k.name == raw || (!k.alias.is_empty() && k.alias == raw)).or_else(|| {
        keys.iter()
            .find(|k| k.name.eq_ignore_ascii_case(raw) || (!k.alias.is_empty() && k.alias.eq_ignore_ascii_case(raw)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_blocks(keys: &'static [Key], path: &str, out: &mut Vec<(String, &'static [Key])>) {
        out.push((path.to_string(), keys));
        for key in keys {
            if let Kind::Block(inner) = key.kind {
                all_blocks(inner, &format!("{path}.{}", key.name), out);
            }
        }
    }

    #[test]
    fn no_block_names_a_key_twice() {
        let mut blocks = Vec::new();
        all_blocks(TOP, "", &mut blocks);
        for (path, keys) in blocks {
            let mut names: Vec<&str> = keys.iter().map(|k| k.name).collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(before, names.len(), "a key is listed twice in block {path:?}");
        }
    }
}
