//! `tessera agent`: config files and flags to [`AgentConfig`], logging,
//! signals, the pid file, run.
//!
//! Sources, as Consul orders them: the flags' defaults, then list flags
//! (`-retry-join`, `-recursor`: files append after them), then the config
//! files and directories in command-line order, then every other flag given
//! on the command line. A flag left at its default never overrides a file.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::ArgMatches;
use clap::Args;
use tessera_mesh::agent_config;
use tessera_mesh::agent_config::FileConfig;
use tessera_mesh::catalog::definition::ScriptChecks;
use tessera_mesh::catalog::duration;
use tessera_server::config::defaults;
use tessera_server::config::AgentConfig;
use tessera_server::config::ConfigError;
use tessera_server::config::RaftTuning;
use tokio_util::sync::CancellationToken;

use crate::agent_config::format_flag;
use blocks::acl_settings;
use blocks::dns_settings;
use blocks::limits;

#[derive(Args)]
pub struct AgentArgs {
    /// Development mode: one server with everything on 127.0.0.1, data in a temporary dir.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    dev: bool,
    /// Server mode: take part in Raft.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    server: bool,
    /// Bootstrap mode: this server elects itself (the same as -bootstrap-expect 1).
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    bootstrap: bool,
    /// Wait for this many servers, then bootstrap the cluster.
    #[arg(long = "bootstrap-expect", value_name = "N", default_value_t = 0)]
    bootstrap_expect: u32,
    /// This node's name (default: the host name).
    #[arg(long, value_name = "NAME")]
    node: Option<String>,
    #[arg(long, default_value = defaults::DATACENTER)]
    datacenter: String,
    /// Where the server keeps its state (required except with -dev).
    #[arg(long = "data-dir", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Address for server RPC (Raft, forwarding), advertised to other servers.
    #[arg(long, value_name = "IP")]
    bind: Option<IpAddr>,
    /// The address other agents reach this one at; the agent binds it too
    /// (a separate advertise address is not supported yet).
    #[arg(long, value_name = "IP")]
    advertise: Option<IpAddr>,
    /// Address for the HTTP API, DNS and the agent's gRPC.
    #[arg(long, value_name = "IP")]
    client: Option<IpAddr>,
    #[arg(long = "http-port", default_value_t = defaults::HTTP_PORT)]
    http_port: u16,
    #[arg(long = "server-port", default_value_t = defaults::SERVER_PORT)]
    server_port: u16,
    /// DNS port (UDP and TCP) on the client address; -1 turns DNS off.
    #[arg(long = "dns-port", default_value_t = defaults::DNS_PORT as i32, allow_negative_numbers = true)]
    dns_port: i32,
    /// The agent's gRPC port for local sidecars; -1 turns it off.
    #[arg(long = "grpc-port", default_value_t = defaults::GRPC_PORT as i32, allow_negative_numbers = true)]
    grpc_port: i32,
    /// The HTTP API over TLS on this port too (Consul uses 8501); -1, the default, is off.
    #[arg(long = "https-port", default_value_t = -1, allow_negative_numbers = true)]
    https_port: i32,
    /// The agent's gRPC over TLS for sidecars (Consul uses 8503); -1, the default, is off.
    #[arg(long = "grpc-tls-port", default_value_t = -1, allow_negative_numbers = true)]
    grpc_tls_port: i32,
    /// What decides a connection no intention matches: allow or deny.
    /// Unset with ACLs enabled: `acl.default_policy`, as Consul.
    #[arg(long = "default-intention-policy", default_value = "allow")]
    default_intention_policy: String,
    /// The DNS domain served.
    #[arg(long, default_value = defaults::DOMAIN)]
    domain: String,
    /// A server to join, as host or host:port (repeatable).
    #[arg(long = "retry-join", value_name = "ADDR")]
    retry_join: Vec<String>,
    /// Time between join attempts, e.g. 1s or 500ms.
    #[arg(long = "retry-interval", value_name = "DURATION", default_value = "1s")]
    retry_interval: String,
    /// How long a client agent may miss heartbeats before its node is critical.
    #[arg(long = "node-ttl", value_name = "DURATION", default_value = "10s")]
    node_ttl: String,
    /// How long a request waits for a leader before failing with "No cluster leader".
    #[arg(long = "rpc-hold-timeout", value_name = "DURATION", default_value = "7s")]
    rpc_hold_timeout: String,
    /// A directory of config files, *.json and *.hcl: agent keys, services, checks (repeatable).
    #[arg(long = "config-dir", value_name = "DIR")]
    config_dir: Vec<PathBuf>,
    /// A config file (repeatable); read with the directories in command-line order.
    #[arg(long = "config-file", value_name = "FILE")]
    config_file: Vec<PathBuf>,
    /// Read every config file as hcl or json, whatever its extension.
    #[arg(long = "config-format", value_name = "hcl|json")]
    config_format: Option<String>,
    /// Agent config in HCL, merged after the files (repeatable):
    /// `-dev -hcl 'acl { enabled = true default_policy = "deny" }'`.
    #[arg(long = "hcl", value_name = "HCL")]
    hcl: Vec<String>,
    /// trace, debug, info, warn or err.
    #[arg(long = "log-level", default_value = "info")]
    log_level: String,
    /// Log one JSON object per line.
    #[arg(
        long = "log-json",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    log_json: bool,
    /// Metadata of this node in the catalog, key:value (repeatable).
    #[arg(long = "node-meta", value_name = "KEY:VALUE")]
    node_meta: Vec<String>,
    /// A DNS server for names outside the domain, IP or IP:port (repeatable).
    #[arg(long = "recursor", value_name = "ADDR")]
    recursor: Vec<String>,
    /// How long a failed client node stays in the catalog before it is
    /// reaped (reconnect_timeout; Tessera's flag, which also takes values
    /// under Consul's 8m floor, for tests).
    #[arg(long = "reconnect-timeout", value_name = "DURATION")]
    reconnect_timeout: Option<String>,
    /// The CA certificate (PEM) the server port trusts (tls.defaults.ca_file).
    #[arg(long = "ca-file", value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// A directory of CA certificates (tls.defaults.ca_path).
    #[arg(long = "ca-path", value_name = "DIR")]
    ca_path: Option<PathBuf>,
    /// This agent's certificate for the server port (tls.defaults.cert_file).
    #[arg(long = "cert-file", value_name = "FILE")]
    cert_file: Option<PathBuf>,
    /// Its private key (tls.defaults.key_file).
    #[arg(long = "key-file", value_name = "FILE")]
    key_file: Option<PathBuf>,
    /// Runs the server port without TLS: anyone who reaches it can act as a
    /// server. For migrations only; warned about at every start.
    #[arg(
        long = "insecure-plaintext-rpc",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    insecure_plaintext_rpc: bool,
    /// Write the agent's process id to this file; it is removed at exit.
    #[arg(long = "pid-file", value_name = "FILE")]
    pid_file: Option<PathBuf>,
    /// Allow script checks (`args`) from config files and the HTTP API.
    #[arg(
        long = "enable-script-checks",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    enable_script_checks: bool,
    /// Allow script checks from config files only.
    #[arg(
        long = "enable-local-script-checks",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        default_value = "false"
    )]
    enable_local_script_checks: bool,
    /// Scales Raft's heartbeat (30 ms) and election timeout (100-200 ms), 1-10.
    #[arg(long = "raft-multiplier", default_value_t = defaults::RAFT_MULTIPLIER)]
    raft_multiplier: u64,
    /// Log entries between snapshots.
    #[arg(long = "raft-snapshot-threshold", default_value_t = defaults::RAFT_SNAPSHOT_THRESHOLD)]
    raft_snapshot_threshold: u64,
    /// Log entries kept behind a snapshot.
    #[arg(long = "raft-trailing-logs", default_value_t = defaults::RAFT_TRAILING_LOGS)]
    raft_trailing_logs: u64,
}

/// Which flags the command line gave. Without matches (`tessera validate`)
/// none was.
#[derive(Clone, Copy, Default)]
pub(crate) struct Given<'a>(pub Option<&'a ArgMatches>);

impl Given<'_> {
    fn given(&self, id: &str) -> bool {
        self.0.is_some_and(|m| m.value_source(id) == Some(ValueSource::CommandLine))
    }
}

/// What the agent is being configured for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Run,
    /// `tessera validate`: what files cannot say alone (a data dir, servers
    /// to join) is not required.
    Validate,
}

/// Everything `tessera agent` runs with.
#[derive(Debug)]
pub(crate) struct Settings {
    pub config: AgentConfig,
    pub log_level: String,
    pub log_json: bool,
    pub pid_file: Option<PathBuf>,
    pub warnings: Vec<String>,
    /// Keys and flags given that are accepted but not acted on yet.
    pub ignored: Vec<String>,
}

/// A flag given on the command line wins; else the files' value; else the
/// flag's default.
fn pick<T>(given: bool, flag: T, file: Option<T>) -> T {
    match (given, file) {
        (false, Some(file)) => file,
        _ => flag,
    }
}

/// Only the agent's flags, for [`AgentArgs::defaults`].
#[derive(clap::Parser)]
struct AgentFlagsOnly {
    #[command(flatten)]
    agent: AgentArgs,
}

impl AgentArgs {
    /// Every flag at its default.
    pub(crate) fn defaults() -> AgentArgs {
        use clap::Parser;
        AgentFlagsOnly::try_parse_from(["tessera"]).expect("the agent's flags all have defaults").agent
    }

    /// The `-config-dir` and `-config-file` paths in command-line order.
    pub(crate) fn config_paths(&self, given: Given) -> Vec<PathBuf> {
        let Some(matches) = given.0 else {
            return self.config_dir.iter().chain(&self.config_file).cloned().collect();
        };
        let mut indexed: Vec<(usize, PathBuf)> = Vec::new();
        for id in ["config_dir", "config_file"] {
            if let (Some(indices), Some(values)) = (matches.indices_of(id), matches.get_many::<PathBuf>(id)) {
                indexed.extend(indices.zip(values.cloned()));
            }
        }
        indexed.sort_by_key(|(index, _)| *index);
        indexed.into_iter().map(|(_, path)| path).collect()
    }

    /// Consul decides connections no intention matches by the ACL default
    /// policy when ACLs are on; the flag, when given, wins.
    fn intention_default(
        &self,
        given: Given,
        acl: &tessera_server::config::AclConfig,
    ) -> Result<tessera_mesh::connect::DefaultPolicy, String> {
        if acl.enabled && !given.given("default_intention_policy") {
            return Ok(match acl.default_policy {
                tessera_mesh::acl::DefaultPolicy::Allow => tessera_mesh::connect::DefaultPolicy::Allow,
                tessera_mesh::acl::DefaultPolicy::Deny => tessera_mesh::connect::DefaultPolicy::Deny,
            });
        }
        self.default_intention_policy.parse().map_err(|_| {
            format!("-default-intention-policy: {:?} must be allow or deny", self.default_intention_policy)
        })
    }

    pub(crate) fn config_format(&self) -> Result<Option<agent_config::Format>, String> {
        format_flag(self.config_format.as_deref())
    }

    /// The files (merged) and the flags to one configuration.
    pub(crate) fn settings(&self, given: Given, files: &FileConfig, purpose: Purpose) -> Result<Settings, String> {
        let file = files.settings()?;
        let (rpc_tls, auto_encrypt) = self.rpc_tls(&file)?;
        let (https_tls, grpc_tls) = (self.https_tls(&file)?, self.grpc_tls(&file)?);
        let g = |id: &str| given.given(id);
        let mut warnings = Vec::new();
        let ignored = files.ignored();

        let datacenter =
            agent_config::datacenter("datacenter", &pick(g("datacenter"), self.datacenter.clone(), file.datacenter))?;
        if file.node_name.as_deref() == Some("") {
            return Err("node_name cannot be empty".into());
        }
        if file.data_dir.as_deref() == Some("") {
            return Err("data_dir cannot be empty".into());
        }
        let node_name = self.node.clone().or(file.node_name).unwrap_or_else(hostname);
        let data_dir = self.data_dir.clone().or(file.data_dir.map(PathBuf::from));

        let server = self.dev || pick(g("server"), self.server, file.server);
        let bootstrap = pick(g("bootstrap"), self.bootstrap, file.bootstrap);
        let expect = pick(g("bootstrap_expect"), i64::from(self.bootstrap_expect), file.bootstrap_expect);
        if expect < 0 {
            return Err(format!("bootstrap_expect cannot be {expect}. Must be greater than or equal to zero"));
        }
        if expect > 0 && !server {
            return Err("'bootstrap_expect > 0' requires 'server = true'".into());
        }
        if bootstrap && !server {
            return Err("'bootstrap = true' requires 'server = true'".into());
        }
        if expect > 0 && bootstrap {
            return Err("'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive".into());
        }
        if expect == 1 {
            warnings.push("BootstrapExpect is set to 1; this is the same as Bootstrap mode.".to_string());
        }
        let bootstrap_expect =
            if bootstrap { 1 } else { u32::try_from(expect).map_err(|_| "bootstrap_expect is too large")? };

        let bind = self.bind.or(file.bind_addr.as_deref().map(|a| one_ip("bind_addr", a)).transpose()?);
        let advertise =
            self.advertise.or(file.advertise_addr.as_deref().map(|a| one_ip("advertise_addr", a)).transpose()?);
        let bind_addr = bind_address(bind, advertise)?;

        let http_port = match (g("http_port"), file.ports.http) {
            (false, Some(port)) if port > 0 => port as u16,
            (false, Some(_)) => return Err("ports.http: turning the HTTP API off is not supported yet".into()),
            _ => self.http_port,
        };
        let server_port = match (g("server_port"), file.ports.server) {
            (false, Some(port)) if port > 0 => port as u16,
            (false, Some(_)) => return Err("server-port must be greater than zero".into()),
            _ => self.server_port,
        };
        let dns_port = match (g("dns_port"), file.ports.dns) {
            (false, Some(port)) => file_port(port),
            _ => optional_port("-dns-port", self.dns_port)?,
        };
        let grpc_port = match (g("grpc_port"), file.ports.grpc) {
            (false, Some(port)) => file_port(port),
            _ => optional_port("-grpc-port", self.grpc_port)?,
        };
        let https_port = match (g("https_port"), file.ports.https) {
            (false, Some(port)) => file_port(port),
            _ => optional_port("-https-port", self.https_port)?,
        };
        let grpc_tls_port = match (g("grpc_tls_port"), file.ports.grpc_tls) {
            (false, Some(port)) => file_port(port),
            _ => optional_port("-grpc-tls-port", self.grpc_tls_port)?,
        };

        let client = self.client.or(file.client_addr.as_deref().map(|a| one_ip("client_addr", a)).transpose()?);
        let on = Listening {
            dns: dns_port.is_some(),
            grpc: grpc_port.is_some(),
            https: https_port.is_some(),
            grpc_tls: grpc_tls_port.is_some(),
        };
        let client_addr = client_address(client.unwrap_or(IpAddr::from([127, 0, 0, 1])), &file.addresses, on)?;

        let domain = pick(g("domain"), self.domain.clone(), file.domain);
        let retry_join: Vec<String> =
            self.retry_join.iter().chain(&file.retry_join).map(|a| with_default_port(a, server_port)).collect();
        let retry_interval = match (g("retry_interval"), file.retry_interval) {
            (false, Some(interval)) => interval,
            _ => flag_duration("-retry-interval", &self.retry_interval)?,
        };
        let rpc_hold_timeout = match (g("rpc_hold_timeout"), file.performance.rpc_hold_timeout) {
            (false, Some(timeout)) => timeout,
            _ => flag_duration("-rpc-hold-timeout", &self.rpc_hold_timeout)?,
        };
        let node_ttl = flag_duration("-node-ttl", &self.node_ttl)?;
        let multiplier = match (g("raft_multiplier"), file.performance.raft_multiplier) {
            (false, Some(m)) if (1..=10).contains(&m) => m as u64,
            (false, Some(m)) => {
                return Err(format!("performance.raft_multiplier cannot be {m}. Must be between 1 and 10"))
            }
            _ => self.raft_multiplier,
        };
        let count = |key: &str, id: &str, flag: u64, file: Option<i64>| match (g(id), file) {
            (false, Some(n)) => u64::try_from(n).map_err(|_| format!("{key} cannot be negative, got {n}")),
            _ => Ok(flag),
        };
        let raft = RaftTuning {
            multiplier,
            snapshot_threshold: count(
                "raft_snapshot_threshold",
                "raft_snapshot_threshold",
                self.raft_snapshot_threshold,
                file.raft_snapshot_threshold,
            )?,
            trailing_logs: count(
                "raft_trailing_logs",
                "raft_trailing_logs",
                self.raft_trailing_logs,
                file.raft_trailing_logs,
            )?,
        };

        let mut node_meta = file.node_meta;
        for pair in &self.node_meta {
            let (key, value) = pair.split_once(':').ok_or_else(|| format!("-node-meta: {pair:?} must be key:value"))?;
            node_meta.insert(key.to_string(), value.to_string());
        }
        agent_config::validate_node_meta(&node_meta)?;

        let dns = dns_settings(&self.recursor, &file.recursors, &file.dns_config)?;
        let limits = limits(&file.limits)?;
        let reconnect_timeout = match (&self.reconnect_timeout, file.reconnect_timeout) {
            (Some(flag), _) => flag_duration("-reconnect-timeout", flag)?,
            (None, Some(timeout)) if !timeout.is_zero() => timeout,
            _ => Duration::from_secs(defaults::RECONNECT_TIMEOUT_SECS),
        };

        let script_checks = ScriptChecks {
            enable_script_checks: pick(g("enable_script_checks"), self.enable_script_checks, file.enable_script_checks),
            enable_local_script_checks: pick(
                g("enable_local_script_checks"),
                self.enable_local_script_checks,
                file.enable_local_script_checks,
            ),
        };

        let acl = acl_settings(&file.acl)?;
        let (mut config_dirs, mut config_files) = (Vec::new(), Vec::new());
        for path in self.config_paths(given) {
            match path.is_dir() {
                true => config_dirs.push(path),
                false => config_files.push(path),
            }
        }

        let config = AgentConfig {
            node_name,
            datacenter,
            node_meta,
            data_dir,
            dev: self.dev,
            server,
            bootstrap_expect,
            bind_addr,
            client_addr,
            http_port,
            server_port,
            dns_port,
            grpc_port,
            https_port,
            https_tls,
            grpc_tls_port,
            grpc_tls,
            default_intention_policy: self.intention_default(given, &acl)?,
            domain: if domain.ends_with('.') { domain } else { format!("{domain}.") },
            retry_join,
            retry_interval,
            rpc_hold_timeout,
            forward_timeout: Duration::from_millis(defaults::FORWARD_TIMEOUT_MS),
            node_ttl,
            config_dirs,
            config_files,
            raft,
            reconnect_timeout,
            dns,
            limits,
            rpc_tls,
            auto_encrypt,
            script_checks,
            acl,
            leaf_cache: Default::default(),
        };
        match (config.validate(), purpose) {
            (Ok(()), _) => {}
            (Err(ConfigError::MissingDataDir | ConfigError::ClientWithoutServers), Purpose::Validate) => {}
            (Err(e), _) => return Err(e.to_string()),
        }
        Ok(Settings {
            config,
            log_level: pick(g("log_level"), self.log_level.clone(), file.log_level),
            log_json: pick(g("log_json"), self.log_json, file.log_json),
            pid_file: self.pid_file.clone().or(file.pid_file.map(PathBuf::from)),
            warnings,
            ignored,
        })
    }
}

/// A file's port: `<= 0` turns the listener off, as in Consul.
fn file_port(port: i64) -> Option<u16> {
    u16::try_from(port).ok().filter(|p| *p > 0)
}

/// A port flag where -1 turns the listener off, as in Consul.
fn optional_port(flag: &str, value: i32) -> Result<Option<u16>, String> {
    match value {
        -1 => Ok(None),
        port => u16::try_from(port).map(Some).map_err(|_| format!("{flag}: {port} is not a port (or -1 for none)")),
    }
}

fn flag_duration(flag: &str, value: &str) -> Result<Duration, String> {
    duration::parse(value).ok_or_else(|| format!("{flag}: {value:?} is not a duration (e.g. 1s, 500ms)"))
}

/// One IP address from a config file's `key`.
fn one_ip(key: &str, value: &str) -> Result<IpAddr, String> {
    let text = value.trim();
    if text.contains("{{") {
        return Err(format!("{key}: go-sockaddr templates are not supported yet ({text})"));
    }
    if text.split_whitespace().count() > 1 {
        return Err(match key {
            "bind_addr" => {
                "bind_addr cannot contain multiple addresses. Use 'addresses.{dns,http,https}' instead.".into()
            }
            _ => format!("{key}: several addresses are not supported yet (one address for HTTP, DNS and gRPC)"),
        });
    }
    if text.starts_with("unix://") {
        return Err(format!("{key}: unix sockets are not supported yet"));
    }
    text.parse().map_err(|_| format!("{key}: {text:?} is not an IP address"))
}

/// The one address the agent binds for server RPC and advertises: the
/// bind address, or the advertise address when there is no other (or the
/// bind address is 0.0.0.0 / ::).
fn bind_address(bind: Option<IpAddr>, advertise: Option<IpAddr>) -> Result<IpAddr, String> {
    if advertise.is_some_and(|a| a.is_unspecified()) {
        return Err("Advertise address cannot be 0.0.0.0, :: or [::]".into());
    }
    match (bind, advertise) {
        (None, None) => Ok(IpAddr::from([127, 0, 0, 1])),
        (Some(bind), None) => Ok(bind),
        (None, Some(advertise)) => Ok(advertise),
        (Some(bind), Some(advertise)) if bind == advertise || bind.is_unspecified() => Ok(advertise),
        (Some(bind), Some(advertise)) => Err(format!(
            "advertise address {advertise} differs from bind address {bind}: an advertise address apart from \
             the bound one is not supported yet (the agent advertises the address it binds)"
        )),
    }
}

/// Which listeners on the client address are on, besides HTTP.
#[derive(Clone, Copy)]
struct Listening {
    dns: bool,
    grpc: bool,
    https: bool,
    grpc_tls: bool,
}

/// The one address HTTP, HTTPS, DNS and the agent's gRPC (plain and TLS)
/// listen on: `addresses.*` where given, else the client address; they
/// must agree.
fn client_address(client: IpAddr, addresses: &agent_config::Addresses, on: Listening) -> Result<IpAddr, String> {
    let parse = |key: &str, value: &Option<String>| value.as_deref().map(|a| one_ip(key, a)).transpose();
    let http = parse("addresses.http", &addresses.http)?.unwrap_or(client);
    let others = [
        ("addresses.dns", on.dns, &addresses.dns),
        ("addresses.grpc", on.grpc, &addresses.grpc),
        ("addresses.https", on.https, &addresses.https),
        ("addresses.grpc_tls", on.grpc_tls, &addresses.grpc_tls),
    ];
    for (key, on, value) in others {
        let address = parse(key, value)?.unwrap_or(client);
        if on && address != http {
            return Err(format!(
                "{key} ({address}) differs from the HTTP address ({http}): one client address for HTTP, HTTPS, \
                 DNS and gRPC is supported so far"
            ));
        }
    }
    Ok(http)
}

fn with_default_port(addr: &str, port: u16) -> String {
    if addr.parse::<std::net::SocketAddr>().is_ok() || (addr.contains(':') && !addr.contains("::")) {
        addr.to_string()
    } else {
        format!("{addr}:{port}")
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "tessera".to_string())
}

pub(crate) fn init_logging(level: &str) -> Result<(), String> {
    crate::logging::init(level, false, false)
}

/// Loads the config files, applies the flags, sets up logging and the pid
/// file, and runs the agent until a signal stops it.
pub async fn run(args: AgentArgs, matches: Option<&ArgMatches>) -> u8 {
    let given = Given(matches);
    let loaded = args
        .config_format()
        .and_then(|format| crate::agent_config::load(&args.config_paths(given), format))
        .and_then(|mut loaded| crate::agent_config::merge_fragments(&mut loaded, &args.hcl).map(|()| loaded))
        .and_then(|loaded| Ok((args.settings(given, &loaded.config, Purpose::Run)?, loaded.warnings)));
    let (settings, load_warnings) = match loaded {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    if let Err(e) = crate::logging::init(&settings.log_level, settings.log_json, true) {
        eprintln!("==> {e}");
        return 1;
    }
    for warning in load_warnings.iter().chain(&settings.warnings) {
        tracing::warn!("{warning}");
    }
    if !settings.ignored.is_empty() {
        tracing::warn!("accepted but not acted on yet (docs/consul-compatibility.md): {}", settings.ignored.join(", "));
    }
    let pid_file = match settings.pid_file.map(PidFile::write).transpose() {
        Ok(pid_file) => pid_file,
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    let code = match tessera_server::run(settings.config, shutdown).await {
        Ok(()) => {
            println!("==> Tessera agent stopped");
            0
        }
        Err(e) => {
            eprintln!("==> Error: {e}");
            1
        }
    };
    drop(pid_file);
    code
}

/// The `-pid-file`: written at start, removed when dropped.
struct PidFile(PathBuf);

impl PidFile {
    fn write(path: PathBuf) -> Result<PidFile, String> {
        std::fs::write(&path, std::process::id().to_string())
            .map_err(|e| format!("Could not write PID file {}: {e}", path.display()))?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0) {
            tracing::warn!("could not remove PID file {}: {e}", self.0.display());
        }
    }
}

/// SIGINT and SIGTERM stop the agent gracefully (SIGHUP, reload, is the
/// agent's own).
pub(crate) async fn watch_signals(shutdown: CancellationToken) {
    use tokio::signal::unix::signal;
    use tokio::signal::unix::SignalKind;
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        tracing::error!("cannot install signal handlers");
        return;
    };
    tokio::select! {
        _ = int.recv() => {}
        _ = term.recv() => {}
    }
    tracing::info!("caught signal, shutting down");
    shutdown.cancel();
}

mod blocks;
mod tls;

#[cfg(test)]
mod tests;
