//! `tessera agent`: flags to [`AgentConfig`], logging, signals, run.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::Args;
use tessera_mesh::catalog::duration;
use tessera_server::config::defaults;
use tessera_server::config::AgentConfig;
use tessera_server::config::RaftTuning;
use tokio_util::sync::CancellationToken;

#[derive(Args)]
pub struct AgentArgs {
    /// Development mode: one server with everything on 127.0.0.1, data in a temporary dir.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    dev: bool,
    /// Server mode: take part in Raft.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "false")]
    server: bool,
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
    /// Address for the HTTP API.
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
    /// What decides a connection no intention matches: allow or deny.
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
    /// A directory of service definitions, *.json and *.hcl (repeatable).
    #[arg(long = "config-dir", value_name = "DIR")]
    config_dir: Vec<PathBuf>,
    /// A file of service definitions (repeatable).
    #[arg(long = "config-file", value_name = "FILE")]
    config_file: Vec<PathBuf>,
    /// trace, debug, info, warn or err.
    #[arg(long = "log-level", default_value = "info")]
    log_level: String,
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

impl AgentArgs {
    fn into_config(self) -> Result<AgentConfig, String> {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        let bind = self.bind.unwrap_or(loopback);
        let server_port = self.server_port;
        let retry_interval = duration::parse(&self.retry_interval)
            .ok_or_else(|| format!("-retry-interval: {:?} is not a duration (e.g. 1s, 500ms)", self.retry_interval))?;
        let node_ttl = duration::parse(&self.node_ttl)
            .ok_or_else(|| format!("-node-ttl: {:?} is not a duration", self.node_ttl))?;
        let rpc_hold_timeout = duration::parse(&self.rpc_hold_timeout)
            .ok_or_else(|| format!("-rpc-hold-timeout: {:?} is not a duration (e.g. 7s)", self.rpc_hold_timeout))?;
        Ok(AgentConfig {
            node_name: self.node.unwrap_or_else(hostname),
            datacenter: self.datacenter,
            data_dir: self.data_dir,
            dev: self.dev,
            server: self.server || self.dev,
            bootstrap_expect: self.bootstrap_expect,
            bind_addr: bind,
            client_addr: self.client.unwrap_or(loopback),
            http_port: self.http_port,
            server_port,
            dns_port: optional_port("-dns-port", self.dns_port)?,
            grpc_port: optional_port("-grpc-port", self.grpc_port)?,
            default_intention_policy: self.default_intention_policy.parse().map_err(|_| {
                format!("-default-intention-policy: {:?} must be allow or deny", self.default_intention_policy)
            })?,
            domain: if self.domain.ends_with('.') { self.domain } else { format!("{}.", self.domain) },
            retry_join: self.retry_join.iter().map(|a| with_default_port(a, server_port)).collect(),
            retry_interval,
            rpc_hold_timeout,
            node_ttl,
            config_dirs: self.config_dir,
            config_files: self.config_file,
            raft: RaftTuning {
                multiplier: self.raft_multiplier,
                snapshot_threshold: self.raft_snapshot_threshold,
                trailing_logs: self.raft_trailing_logs,
            },
        })
    }
}

/// A port flag where -1 turns the listener off, as in Consul.
fn optional_port(flag: &str, value: i32) -> Result<Option<u16>, String> {
    match value {
        -1 => Ok(None),
        port => u16::try_from(port).map(Some).map_err(|_| format!("{flag}: {port} is not a port (or -1 for none)")),
    }
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
    let directive = match level.to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" => "warn",
        "err" | "error" => "error",
        other => return Err(format!("-log-level: unknown level {other:?} (trace, debug, info, warn, err)")),
    };
    // Our crates log at the chosen level; dependencies only warn and above
    // unless tracing is asked for.
    let filter = if directive == "trace" {
        "trace".to_string()
    } else {
        format!(
            "warn,tessera={directive},tessera_server={directive},tessera_proxy={directive},openraft={}",
            if directive == "debug" { "info" } else { "warn" }
        )
    };
    use std::io::IsTerminal;
    let ansi = std::io::stdout().is_terminal();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_target(false)
        .with_ansi(ansi)
        .init();
    Ok(())
}

pub async fn run(args: AgentArgs) -> u8 {
    if let Err(e) = init_logging(&args.log_level) {
        eprintln!("==> {e}");
        return 1;
    }
    let config = match args.into_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("==> {e}");
            return 1;
        }
    };
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    match tessera_server::run(config, shutdown).await {
        Ok(()) => {
            println!("==> Tessera agent stopped");
            0
        }
        Err(e) => {
            eprintln!("==> Error: {e}");
            1
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_join_without_a_port_uses_the_server_port() {
        assert_eq!(with_default_port("127.0.0.2", 8300), "127.0.0.2:8300");
        assert_eq!(with_default_port("127.0.0.2:9000", 8300), "127.0.0.2:9000");
        assert_eq!(with_default_port("server-2", 8300), "server-2:8300");
    }
}
