//! The agent's configuration: one struct, validated before anything binds
//! or touches the disk.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::net::Ipv4Addr;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use tessera_proto::transport::listener_tls::ListenerSettings;
pub use tessera_proto::transport::tls::MinVersion;
pub use tessera_proto::transport::tls::TlsFiles;

/// Defaults shared by [`AgentConfig::default`] and the CLI's help text.
pub mod defaults {
    pub const DATACENTER: &str = "dc1";
    pub const HTTP_PORT: u16 = 8500;
    pub const DNS_PORT: u16 = 8600;
    /// The agent's gRPC port, where local sidecars get their certificates and policy.
    pub const GRPC_PORT: u16 = 8502;
    pub const DOMAIN: &str = "consul.";
    pub const SERVER_PORT: u16 = 8300;
    /// Consul's retry_join interval is 30 s; forming a cluster should not
    /// wait that long, and a probe costs one small RPC.
    pub const RETRY_INTERVAL_MS: u64 = 1000;
    pub const RPC_HOLD_TIMEOUT_MS: u64 = 7000;
    /// A forwarded write's first attempt (`AgentConfig::forward_timeout`).
    pub const FORWARD_TIMEOUT_MS: u64 = 5000;
    /// A client agent silent this long has its node marked critical.
    pub const NODE_TTL_MS: u64 = 10_000;
    pub const RAFT_MULTIPLIER: u64 = 1;
    pub const RAFT_SNAPSHOT_THRESHOLD: u64 = 16384;
    pub const RAFT_TRAILING_LOGS: u64 = 10000;
    /// Consul's `reconnect_timeout`: how long a failed client node stays in
    /// the catalog before it is reaped.
    pub const RECONNECT_TIMEOUT_SECS: u64 = 72 * 3600;
    /// Consul's `dns_config.recursor_timeout`.
    pub const RECURSOR_TIMEOUT_MS: u64 = 2000;
    /// Consul's `limits.http_max_conns_per_client` (raised from 100 to 200
    /// in Consul 1.7.1 because Vault and busy local apps hit 100).
    pub const HTTP_MAX_CONNS_PER_CLIENT: usize = 200;
    /// Consul's `limits.rpc_max_conns_per_client`: agents multiplex their
    /// calls over one connection per server, so 100 is ample, while more
    /// than one is needed (Raft, snapshots, a restarting peer's old ones).
    pub const RPC_MAX_CONNS_PER_CLIENT: usize = 100;
    /// DNS over TCP. Consul sets none (miekg/dns has no per-client limit);
    /// a resolver keeps one or a few connections open (RFC 7766), so 100
    /// is far above honest use and keeps one address from taking the
    /// descriptors.
    pub const DNS_MAX_CONNS_PER_CLIENT: usize = 100;
    /// Consul's `limits.rpc_handshake_timeout` and `https_handshake_timeout`.
    pub const HANDSHAKE_TIMEOUT_MS: u64 = 5000;
    /// Request headers must arrive within this (and a kept-alive HTTP/1.1
    /// connection is closed after this long without a next request: hyper
    /// arms the same timer between requests). Go's servers commonly use
    /// 10 s for ReadHeaderTimeout; Consul's API clients send headers at once.
    pub const HTTP_HEADER_TIMEOUT_MS: u64 = 10_000;
    /// A DNS-over-TCP connection with no query this long is closed: miekg/dns
    /// (Consul's DNS server) closes idle TCP connections after 8 s, within
    /// RFC 7766's "in the order of seconds".
    pub const DNS_TCP_IDLE_TIMEOUT_MS: u64 = 8000;
}

/// The bounds on the agent's listeners: Consul's `limits` keys, and the
/// timeouts Consul leaves to its libraries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Open connections per client address to the HTTP API, plain and
    /// HTTPS counted together as in Consul (`limits.http_max_conns_per_client`; 0: no limit).
    pub http_max_conns_per_client: usize,
    /// Per client address to the server port, and to the agent's gRPC
    /// ports (`limits.rpc_max_conns_per_client`; 0: no limit).
    pub rpc_max_conns_per_client: usize,
    /// Per client address to DNS over TCP (Tessera's; 0: no limit).
    pub dns_max_conns_per_client: usize,
    /// TLS handshakes on the server port and gRPC TLS (`limits.rpc_handshake_timeout`).
    pub rpc_handshake_timeout: Duration,
    /// TLS handshakes on the HTTPS port (`limits.https_handshake_timeout`).
    pub https_handshake_timeout: Duration,
    /// HTTP/1.1 request headers, and the wait for the next request.
    pub http_header_timeout: Duration,
    /// DNS over TCP: the wait for the next query.
    pub dns_tcp_idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            http_max_conns_per_client: defaults::HTTP_MAX_CONNS_PER_CLIENT,
            rpc_max_conns_per_client: defaults::RPC_MAX_CONNS_PER_CLIENT,
            dns_max_conns_per_client: defaults::DNS_MAX_CONNS_PER_CLIENT,
            rpc_handshake_timeout: Duration::from_millis(defaults::HANDSHAKE_TIMEOUT_MS),
            https_handshake_timeout: Duration::from_millis(defaults::HANDSHAKE_TIMEOUT_MS),
            http_header_timeout: Duration::from_millis(defaults::HTTP_HEADER_TIMEOUT_MS),
            dns_tcp_idle_timeout: Duration::from_millis(defaults::DNS_TCP_IDLE_TIMEOUT_MS),
        }
    }
}

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub node_name: String,
    pub datacenter: String,
    /// The node's metadata in the catalog (Consul's `node_meta`, `-node-meta`).
    pub node_meta: BTreeMap<String, String>,
    /// None only with `dev`, which then uses a temporary directory.
    pub data_dir: Option<PathBuf>,
    pub dev: bool,
    pub server: bool,
    /// 0: do not bootstrap; join a cluster that exists.
    pub bootstrap_expect: u32,
    /// Address of the server RPC listener, and what peers are told to dial.
    pub bind_addr: IpAddr,
    /// Address of the HTTP API.
    pub client_addr: IpAddr,
    pub http_port: u16,
    pub server_port: u16,
    /// None: no DNS server (Consul's `-dns-port=-1`).
    pub dns_port: Option<u16>,
    /// None: no agent gRPC listener (`-grpc-port=-1`).
    pub grpc_port: Option<u16>,
    /// The HTTP API over TLS, beside the plain port (Consul's `ports.https`;
    /// None: off, the default).
    pub https_port: Option<u16>,
    /// Its certificate, key and CA (`tls.https` over `tls.defaults`).
    pub https_tls: ListenerSettings,
    /// The agent's gRPC over TLS for sidecars (`ports.grpc_tls`; None: off).
    pub grpc_tls_port: Option<u16>,
    /// Its certificate, key and CA (`tls.grpc` over `tls.defaults`).
    pub grpc_tls: ListenerSettings,
    /// What decides a connection no intention matches.
    pub default_intention_policy: tessera_mesh::connect::DefaultPolicy,
    /// The DNS domain, e.g. `consul.`.
    pub domain: String,
    pub retry_join: Vec<String>,
    pub retry_interval: Duration,
    /// How long a request waits for a leader before failing with "No cluster leader".
    pub rpc_hold_timeout: Duration,
    /// How long the first attempt of a write forwarded to the leader may
    /// take; each retry of the same write waits twice as long as the one
    /// before (all within `rpc_hold_timeout`). Not in the configuration
    /// file: tests shorten it to lose a first answer on purpose.
    pub forward_timeout: Duration,
    /// How long a client agent may miss heartbeats before its node is critical.
    pub node_ttl: Duration,
    pub raft: RaftTuning,
    /// How long a client node whose agent stopped answering stays in the
    /// catalog before the leader removes it.
    pub reconnect_timeout: Duration,
    pub dns: DnsConfig,
    /// Connections per client address and the listeners' timeouts.
    pub limits: Limits,
    /// TLS on the server port.
    pub rpc_tls: RpcTlsConfig,
    pub auto_encrypt: AutoEncrypt,
    /// Directories of service definitions (`*.json`, `*.hcl`).
    pub config_dirs: Vec<PathBuf>,
    pub config_files: Vec<PathBuf>,
    /// Which definitions may be script checks (`enable_script_checks`,
    /// `enable_local_script_checks`).
    pub script_checks: tessera_mesh::catalog::definition::ScriptChecks,
    /// Consul's `acl { ... }` block.
    pub acl: AclConfig,
    /// How long the agent keeps leaf certificates nobody asks for, refusals,
    /// and for how many services at most (not read from config files).
    pub leaf_cache: LeafCacheLimits,
}

/// The agent's leaf managers (`agent/connect`): one per service name asked
/// for at `/v1/agent/connect/ca/leaf/:service` or over `WatchProxy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeafCacheLimits {
    /// A manager with no watcher and no request for this long is stopped
    /// and forgotten (Consul's leaf cache `LastGetTTL`, 72 h).
    pub idle: Duration,
    /// How long the CA may keep refusing a service before the manager gives
    /// up (a client agent's registration reaches the catalog a moment later).
    pub refusal_grace: Duration,
    /// How long a refusal is answered from memory, without asking the CA;
    /// after it the next request tries afresh.
    pub refusal_ttl: Duration,
    /// Service names held at once (live managers and remembered refusals);
    /// a new name over it is refused.
    pub max_services: usize,
}

impl Default for LeafCacheLimits {
    fn default() -> Self {
        LeafCacheLimits {
            idle: Duration::from_secs(72 * 3600),
            refusal_grace: Duration::from_secs(10),
            refusal_ttl: Duration::from_secs(30),
            max_services: 10_000,
        }
    }
}

/// Consul's `acl` block. With `enabled`, the ACL state and its API
/// (`/v1/acl/*`) are on and every API checks the caller's token.
#[derive(Debug, Clone, Default)]
pub struct AclConfig {
    pub enabled: bool,
    pub default_policy: tessera_mesh::acl::DefaultPolicy,
    /// `allow`, `deny`, `extend-cache` (Consul's default) or `async-cache`:
    /// what a client agent does when no server answers a token resolution.
    pub down_policy: String,
    pub enable_token_persistence: bool,
    pub token_ttl: Duration,
    pub tokens: AclTokens,
}

/// The secrets the `acl.tokens` block gives. Debug shows only which are set.
#[derive(Clone, Default)]
pub struct AclTokens {
    /// The leader creates a management token with this SecretID.
    pub initial_management: Option<String>,
    pub agent: Option<String>,
    pub agent_recovery: Option<String>,
    pub default: Option<String>,
}

impl std::fmt::Debug for AclTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "<hidden>");
        f.debug_struct("AclTokens")
            .field("initial_management", &shown(&self.initial_management))
            .field("agent", &shown(&self.agent))
            .field("agent_recovery", &shown(&self.agent_recovery))
            .field("default", &shown(&self.default))
            .finish()
    }
}

/// Where the server port's TLS comes from.
#[derive(Debug, Clone, Default)]
pub enum RpcTlsConfig {
    /// Nothing given: `-dev` makes a CA and certificate in memory; any
    /// other agent refuses to start.
    #[default]
    Unset,
    Files {
        files: TlsFiles,
        min_version: MinVersion,
    },
    /// The operator's opt-out (`-insecure-plaintext-rpc`), warned about at every start.
    Plaintext,
}

/// Consul's `auto_encrypt`: a client agent (`tls`) gets its certificate
/// from the servers, which must allow it (`allow_tls`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AutoEncrypt {
    pub tls: bool,
    pub allow_tls: bool,
}

/// What DNS answers carry and where names outside the domain go.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// TTL of node answers (Consul's `dns_config.node_ttl`, default 0).
    pub node_ttl: Duration,
    /// TTL of service answers by name: exact names, `prefix*` and `*`.
    pub service_ttl: BTreeMap<String, Duration>,
    /// Leave instances with a warning check out of answers, not only critical ones.
    pub only_passing: bool,
    /// Upstream servers for names outside the domain; none: such names are refused.
    pub recursors: Vec<SocketAddr>,
    /// Ask recursors in random order rather than in the order given.
    pub recursor_random: bool,
    pub recursor_timeout: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            node_ttl: Duration::ZERO,
            service_ttl: BTreeMap::new(),
            only_passing: false,
            recursors: Vec::new(),
            recursor_random: false,
            recursor_timeout: Duration::from_millis(defaults::RECURSOR_TIMEOUT_MS),
        }
    }
}

#[derive(Debug, Clone)]
pub struct RaftTuning {
    /// Scales heartbeat (30 ms) and election timeout (100-200 ms), as Consul's raft_multiplier.
    pub multiplier: u64,
    /// Entries since the last snapshot that trigger a new one.
    pub snapshot_threshold: u64,
    /// Entries kept in the log behind a snapshot, for followers slightly behind.
    pub trailing_logs: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("-data-dir is required (except with -dev)")]
    MissingDataDir,
    #[error("a client agent needs -retry-join with the address of a server")]
    ClientWithoutServers,
    #[error("-bootstrap-expect={0} needs -retry-join addresses of the other servers")]
    BootstrapWithoutPeers(u32),
    #[error("-bootstrap-expect cannot be used with -dev")]
    BootstrapWithDev,
    #[error("-raft-multiplier must be between 1 and 10, got {0}")]
    BadMultiplier(u64),
    #[error("-node must not be empty")]
    EmptyNodeName,
    #[error(
        "the server port needs TLS: give tls.defaults (or tls.internal_rpc) ca_file, cert_file and key_file \
         (make them with `tessera tls ca create` and `tessera tls cert create -server`), or -insecure-plaintext-rpc \
         to run without it"
    )]
    NoRpcTls,
    #[error(
        "a client agent needs a certificate for the server port: cert_file and key_file \
         (`tessera tls cert create -client`), or auto_encrypt {{ tls = true }}"
    )]
    ClientWithoutCertificate,
    #[error(
        "{port} is set, so it needs a certificate: cert_file and key_file in {stanza} or tls.defaults (or \
         -cert-file and -key-file; make them with `tessera tls cert create`)"
    )]
    ListenerWithoutCertificate { port: &'static str, stanza: &'static str },
    #[error(
        "{stanza}.verify_incoming needs the CA that signs client certificates: ca_file or ca_path in {stanza} or \
         tls.defaults (or -ca-file)"
    )]
    VerifyIncomingWithoutCa { stanza: &'static str },
    #[error("-http-port and -server-port must differ when -bind and -client are the same address (both {0})")]
    PortClash(u16),
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            node_name: String::new(),
            datacenter: defaults::DATACENTER.to_string(),
            node_meta: BTreeMap::new(),
            data_dir: None,
            dev: false,
            server: false,
            bootstrap_expect: 0,
            bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            client_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            http_port: defaults::HTTP_PORT,
            server_port: defaults::SERVER_PORT,
            dns_port: Some(defaults::DNS_PORT),
            grpc_port: Some(defaults::GRPC_PORT),
            https_port: None,
            https_tls: ListenerSettings::default(),
            grpc_tls_port: None,
            grpc_tls: ListenerSettings::default(),
            default_intention_policy: Default::default(),
            domain: defaults::DOMAIN.to_string(),
            retry_join: Vec::new(),
            retry_interval: Duration::from_millis(defaults::RETRY_INTERVAL_MS),
            rpc_hold_timeout: Duration::from_millis(defaults::RPC_HOLD_TIMEOUT_MS),
            forward_timeout: Duration::from_millis(defaults::FORWARD_TIMEOUT_MS),
            node_ttl: Duration::from_millis(defaults::NODE_TTL_MS),
            raft: RaftTuning {
                multiplier: defaults::RAFT_MULTIPLIER,
                snapshot_threshold: defaults::RAFT_SNAPSHOT_THRESHOLD,
                trailing_logs: defaults::RAFT_TRAILING_LOGS,
            },
            reconnect_timeout: Duration::from_secs(defaults::RECONNECT_TIMEOUT_SECS),
            dns: DnsConfig::default(),
            limits: Limits::default(),
            rpc_tls: RpcTlsConfig::Unset,
            auto_encrypt: AutoEncrypt::default(),
            config_dirs: Vec::new(),
            config_files: Vec::new(),
            script_checks: Default::default(),
            acl: AclConfig {
                down_policy: "extend-cache".into(),
                token_ttl: Duration::from_secs(30),
                ..AclConfig::default()
            },
            leaf_cache: LeafCacheLimits::default(),
        }
    }
}

impl AgentConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_name.is_empty() {
            return Err(ConfigError::EmptyNodeName);
        }
        if !self.dev && !self.server && self.retry_join.is_empty() {
            return Err(ConfigError::ClientWithoutServers);
        }
        if !self.dev && self.data_dir.is_none() {
            return Err(ConfigError::MissingDataDir);
        }
        if self.dev && self.bootstrap_expect > 0 {
            return Err(ConfigError::BootstrapWithDev);
        }
        if self.bootstrap_expect > 1 && self.retry_join.is_empty() {
            return Err(ConfigError::BootstrapWithoutPeers(self.bootstrap_expect));
        }
        if !(1..=10).contains(&self.raft.multiplier) {
            return Err(ConfigError::BadMultiplier(self.raft.multiplier));
        }
        if self.bind_addr == self.client_addr && self.http_port == self.server_port && self.http_port != 0 {
            return Err(ConfigError::PortClash(self.http_port));
        }
        self.validate_rpc_tls()?;
        if self.https_port.is_some() {
            validate_listener_tls(&self.https_tls, "ports.https (-https-port)", "tls.https")?;
        }
        if self.grpc_tls_port.is_some() {
            validate_listener_tls(&self.grpc_tls, "ports.grpc_tls (-grpc-tls-port)", "tls.grpc")?;
        }
        Ok(())
    }

    fn validate_rpc_tls(&self) -> Result<(), ConfigError> {
        match &self.rpc_tls {
            RpcTlsConfig::Unset if !self.dev => Err(ConfigError::NoRpcTls),
            RpcTlsConfig::Files { files, .. }
                if !self.server && !self.auto_encrypt.tls && files.cert_file.is_none() =>
            {
                Err(ConfigError::ClientWithoutCertificate)
            }
            _ => Ok(()),
        }
    }

    /// Whether this server forms a cluster of one by itself.
    pub fn bootstraps_alone(&self) -> bool {
        self.dev || self.bootstrap_expect == 1
    }

    pub fn http_addr(&self) -> SocketAddr {
        SocketAddr::new(self.client_addr, self.http_port)
    }

    pub fn dns_addr(&self) -> Option<SocketAddr> {
        self.dns_port.map(|port| SocketAddr::new(self.client_addr, port))
    }

    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_port.map(|port| SocketAddr::new(self.client_addr, port))
    }

    pub fn https_addr(&self) -> Option<SocketAddr> {
        self.https_port.map(|port| SocketAddr::new(self.client_addr, port))
    }

    pub fn grpc_tls_addr(&self) -> Option<SocketAddr> {
        self.grpc_tls_port.map(|port| SocketAddr::new(self.client_addr, port))
    }

    /// The startup banner's "Client Addr" value: where the HTTP API (as
    /// bound: `http` may differ with port 0), DNS and agent gRPC listen.
    pub fn client_addrs_summary(&self, http: SocketAddr) -> String {
        let off = |addr: Option<SocketAddr>| addr.map_or_else(|| "off".to_string(), |a| a.to_string());
        let (dns, grpc) = (off(self.dns_addr()), off(self.grpc_addr()));
        let (https, grpc_tls) = (off(self.https_addr()), off(self.grpc_tls_addr()));
        format!("[{}] (HTTP: {http}, HTTPS: {https}, DNS: {dns}, gRPC: {grpc}, gRPC TLS: {grpc_tls})", self.client_addr)
    }

    pub fn server_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_addr, self.server_port)
    }

    pub fn openraft_config(&self) -> openraft::Config {
        let m = self.raft.multiplier;
        openraft::Config {
            cluster_name: "tessera".to_string(),
            // A follower whose leader went silent waits the leader lease
            // (openraft: election_timeout_max) plus a random election timeout
            // before it stands: 300-400 ms at multiplier 1. A candidate with a
            // shorter log can still bump the term once and delay the rightful
            // one by another 100-200 ms; failover stays well under a second.
            heartbeat_interval: 30 * m,
            election_timeout_min: 100 * m,
            election_timeout_max: 200 * m,
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.raft.snapshot_threshold),
            max_in_snapshot_log_to_keep: self.raft.trailing_logs,
            // openraft gives every AppendEntries the heartbeat interval (30 ms)
            // to come back, however much it carries; a follower behind by many
            // 1 MiB entries (the proposer's cap) would be sent more than that
            // allows and never catch up. One entry per AppendEntries costs no
            // throughput: the proposer has one entry in flight at a time, and
            // each entry carries up to 1,024 writes.
            max_payload_entries: 1,
            ..Default::default()
        }
    }
}

/// A TLS listener that is on needs its certificate (checked here so the
/// error names the keys; the files themselves are read at start).
fn validate_listener_tls(
    settings: &ListenerSettings,
    port: &'static str,
    stanza: &'static str,
) -> Result<(), ConfigError> {
    let files = &settings.files;
    if files.cert_file.is_none() || files.key_file.is_none() {
        return Err(ConfigError::ListenerWithoutCertificate { port, stanza });
    }
    if settings.verify_incoming && files.ca_file.is_none() && files.ca_path.is_none() {
        return Err(ConfigError::VerifyIncomingWithoutCa { stanza });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> AgentConfig {
        AgentConfig {
            node_name: "n1".into(),
            server: true,
            data_dir: Some("/tmp/x".into()),
            bootstrap_expect: 3,
            retry_join: vec!["127.0.0.2:8300".into()],
            rpc_tls: RpcTlsConfig::Plaintext,
            ..AgentConfig::default()
        }
    }

    #[test]
    fn a_complete_server_config_is_valid() {
        assert_eq!(server().validate(), Ok(()));
    }

    #[test]
    fn each_mistake_is_named() {
        let mut cases: Vec<(AgentConfig, ConfigError)> = vec![
            (AgentConfig { data_dir: None, ..server() }, ConfigError::MissingDataDir),
            (
                AgentConfig { server: false, retry_join: vec![], bootstrap_expect: 0, ..server() },
                ConfigError::ClientWithoutServers,
            ),
            (AgentConfig { retry_join: vec![], ..server() }, ConfigError::BootstrapWithoutPeers(3)),
            (AgentConfig { dev: true, ..server() }, ConfigError::BootstrapWithDev),
            (AgentConfig { node_name: String::new(), ..server() }, ConfigError::EmptyNodeName),
            (AgentConfig { http_port: 8300, ..server() }, ConfigError::PortClash(8300)),
            (AgentConfig { rpc_tls: RpcTlsConfig::Unset, ..server() }, ConfigError::NoRpcTls),
            (
                AgentConfig {
                    server: false,
                    bootstrap_expect: 0,
                    rpc_tls: RpcTlsConfig::Files { files: TlsFiles::default(), min_version: MinVersion::Tls12 },
                    ..server()
                },
                ConfigError::ClientWithoutCertificate,
            ),
        ];
        let https_files =
            TlsFiles { cert_file: Some("c.pem".into()), key_file: Some("k.pem".into()), ..TlsFiles::default() };
        cases.push((
            AgentConfig { https_port: Some(8501), ..server() },
            ConfigError::ListenerWithoutCertificate { port: "ports.https (-https-port)", stanza: "tls.https" },
        ));
        cases.push((
            AgentConfig { grpc_tls_port: Some(8503), ..server() },
            ConfigError::ListenerWithoutCertificate { port: "ports.grpc_tls (-grpc-tls-port)", stanza: "tls.grpc" },
        ));
        cases.push((
            AgentConfig {
                https_port: Some(8501),
                https_tls: ListenerSettings { files: https_files.clone(), verify_incoming: true, ..Default::default() },
                ..server()
            },
            ConfigError::VerifyIncomingWithoutCa { stanza: "tls.https" },
        ));
        let https = ListenerSettings { files: https_files, ..Default::default() };
        assert_eq!(AgentConfig { https_port: Some(8501), https_tls: https, ..server() }.validate(), Ok(()));
        for (config, want) in cases {
            assert_eq!(config.validate(), Err(want));
        }
        let mut bad = server();
        bad.raft.multiplier = 11;
        assert_eq!(bad.validate(), Err(ConfigError::BadMultiplier(11)));
    }

    #[test]
    fn openraft_accepts_the_derived_timings() {
        for multiplier in [1, 5, 10] {
            let mut config = server();
            config.raft.multiplier = multiplier;
            config.openraft_config().validate().expect("valid openraft config");
        }
    }
}
