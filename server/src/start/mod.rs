//! Starting an agent: the wiring above every other layer. [`server`] and
//! [`client`] bind the listeners, build the mode's parts, spawn their
//! long-lived tasks on one [`JoinSet`] and await them at shutdown; what both
//! modes run is here.

pub mod client;
pub mod server;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agent;
use crate::agent::Agent;
use crate::cluster::bootstrap::BootstrapError;
use crate::config::AgentConfig;
use crate::config::ConfigError;
use crate::data_dir::DataDirError;
use crate::dns;
use crate::grpc;
use crate::transport;
use tessera_store::StoreError;

/// How long shutdown waits for listeners and Raft to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind { what: &'static str, addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Bootstrap(#[from] BootstrapError),
    #[error("raft: {0}")]
    Raft(String),
    #[error("{what} stopped: {reason}")]
    Stopped { what: &'static str, reason: String },
    #[error("service definitions: {0}")]
    Definitions(#[from] agent::AgentError),
}

/// Runs the agent until `shutdown` is cancelled or something fatal happens.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    config.validate()?;
    match config.server {
        true => server::run(config, shutdown).await,
        false => client::run(config, shutdown).await,
    }
}

pub async fn bind_dns(config: &AgentConfig) -> Result<Option<(tokio::net::UdpSocket, TcpListener)>, AgentError> {
    let Some(addr) = config.dns_addr() else { return Ok(None) };
    let udp = tokio::net::UdpSocket::bind(addr).await.map_err(|source| AgentError::Bind {
        what: "DNS (UDP)",
        addr,
        source,
    })?;
    let tcp = bind("DNS (TCP)", addr).await?;
    Ok(Some((udp, tcp)))
}

pub fn spawn_dns<D: dns::Answerer>(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    dns: Arc<D>,
    udp: tokio::net::UdpSocket,
    tcp: TcpListener,
    shutdown: &CancellationToken,
) {
    let (udp_dns, token) = (dns.clone(), shutdown.clone());
    tasks.spawn(async move {
        dns::serve_udp(udp_dns, udp, token).await;
        Ok(())
    });
    let token = shutdown.clone();
    tasks.spawn(async move {
        dns::serve_tcp(dns, tcp, token).await;
        Ok(())
    });
}

pub async fn bind_grpc(config: &AgentConfig) -> Result<Option<TcpListener>, AgentError> {
    match config.grpc_addr() {
        Some(addr) => Ok(Some(bind("gRPC", addr).await?)),
        None => Ok(None),
    }
}

/// The agent's own gRPC service for local sidecars (ProxyApi).
pub fn spawn_agent_grpc(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    agent: &Arc<Agent>,
    listener: TcpListener,
    shutdown: &CancellationToken,
) {
    let router = transport::server().add_service(grpc::proxy_api::ProxyApiService::new(agent.connect().clone()));
    let token = shutdown.clone();
    tasks.spawn(async move {
        let stopped = |e: tonic::transport::Error| AgentError::Stopped { what: "agent gRPC", reason: e.to_string() };
        transport::serve(router, listener, token).await.map_err(stopped)
    });
}

pub async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AgentError> {
    transport::bind(addr).await.map_err(|source| AgentError::Bind { what, addr, source })
}

/// What every agent runs, server or client: catalog sync and SIGHUP reloads.
pub fn spawn_agent_tasks(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    agent: &Arc<Agent>,
    shutdown: &CancellationToken,
) {
    let (sync_agent, token) = (agent.clone(), shutdown.clone());
    tasks.spawn(async move {
        agent::sync::run(sync_agent, token).await;
        Ok(())
    });
    let (reload_agent, token) = (agent.clone(), shutdown.clone());
    tasks.spawn(async move {
        reload_on_sighup(reload_agent, token).await;
        Ok(())
    });
}

/// SIGHUP reloads service definitions, as in Consul; a bad file is logged
/// and changes nothing.
async fn reload_on_sighup(agent: Arc<Agent>, shutdown: CancellationToken) {
    let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) else {
        return tracing::error!("cannot listen for SIGHUP");
    };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = hup.recv() => match agent.reload() {
                Ok(()) => tracing::info!("reloaded on SIGHUP"),
                Err(e) => tracing::error!(error = %e, "reload refused; the running configuration stays"),
            },
        }
    }
}

/// Waits for shutdown; a task that fails ends the agent with its error.
pub async fn supervise(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    shutdown: &CancellationToken,
) -> Result<(), AgentError> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            finished = tasks.join_next() => match finished {
                None => return Ok(()),
                Some(Ok(Ok(()))) => continue,
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(panic)) => return Err(AgentError::Stopped { what: "a task", reason: panic.to_string() }),
            },
        }
    }
}
