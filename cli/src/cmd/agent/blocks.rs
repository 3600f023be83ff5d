//! The agent's setting blocks read from the files (`limits`, `acl`,
//! `dns_config` with `recursors`), each over its defaults.

use std::net::IpAddr;
use std::net::SocketAddr;

use tessera_mesh::agent_config;
use tessera_server::config::AgentConfig;
use tessera_server::config::DnsConfig;
use tessera_server::config::Limits;

/// The `limits` keys the files give, over the defaults. A connection
/// count of 0 is no limit and a timeout of 0 none, as in Consul.
pub(super) fn limits(file: &agent_config::Limits) -> Result<Limits, String> {
    let count = |key: &str, value: Option<i64>, default: usize| match value {
        None => Ok(default),
        Some(n) => usize::try_from(n).map_err(|_| format!("limits.{key} cannot be negative, got {n}")),
    };
    let defaults = Limits::default();
    Ok(Limits {
        http_max_conns_per_client: count(
            "http_max_conns_per_client",
            file.http_max_conns_per_client,
            defaults.http_max_conns_per_client,
        )?,
        rpc_max_conns_per_client: count(
            "rpc_max_conns_per_client",
            file.rpc_max_conns_per_client,
            defaults.rpc_max_conns_per_client,
        )?,
        rpc_handshake_timeout: file.rpc_handshake_timeout.unwrap_or(defaults.rpc_handshake_timeout),
        https_handshake_timeout: file.https_handshake_timeout.unwrap_or(defaults.https_handshake_timeout),
        ..defaults
    })
}

/// The `acl` block; `-dev` changes nothing here (ACLs stay off unless a
/// file turns them on), as in Consul.
pub(super) fn acl_settings(file: &agent_config::AclSettings) -> Result<tessera_server::config::AclConfig, String> {
    let defaults = AgentConfig::default().acl;
    let default_policy = match file.default_policy.as_deref() {
        Some(policy) => tessera_mesh::acl::DefaultPolicy::from_config(policy)?,
        None => defaults.default_policy,
    };
    let tokens = &file.tokens;
    Ok(tessera_server::config::AclConfig {
        enabled: file.enabled.unwrap_or(false),
        default_policy,
        down_policy: file.down_policy.clone().unwrap_or(defaults.down_policy),
        enable_token_persistence: file.enable_token_persistence.unwrap_or(false),
        token_ttl: file.token_ttl.unwrap_or(defaults.token_ttl),
        tokens: tessera_server::config::AclTokens {
            initial_management: tokens.initial_management.clone().filter(|t| !t.is_empty()),
            agent: tokens.agent.clone().filter(|t| !t.is_empty()),
            agent_recovery: tokens.agent_recovery.clone().filter(|t| !t.is_empty()),
            default: tokens.default.clone().filter(|t| !t.is_empty()),
        },
    })
}

/// DNS settings: `-recursor` flags first, then the files' `recursors`.
pub(super) fn dns_settings(
    flags: &[String],
    files: &[String],
    file: &agent_config::DnsConfig,
) -> Result<DnsConfig, String> {
    let recursors = flags.iter().chain(files).map(|r| recursor_addr(r)).collect::<Result<_, _>>()?;
    let defaults = DnsConfig::default();
    Ok(DnsConfig {
        node_ttl: file.node_ttl.unwrap_or(defaults.node_ttl),
        service_ttl: file.service_ttl.clone(),
        only_passing: file.only_passing.unwrap_or(false),
        recursors,
        recursor_random: file.recursor_strategy.as_deref() == Some("random"),
        recursor_timeout: file.recursor_timeout.unwrap_or(defaults.recursor_timeout),
    })
}

/// A recursor as Consul takes one: an IP, with port 53 unless one is given.
fn recursor_addr(raw: &str) -> Result<SocketAddr, String> {
    if let Ok(ip) = raw.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    raw.parse::<SocketAddr>().map_err(|_| format!("Invalid recursor address: {raw:?}: give an IP or IP:port"))
}
