//! Starting an agent: the wiring above every other layer. [`Listeners`] are
//! bound first (or handed in by a caller, as tests do); [`server`] and
//! [`client`] build the mode's parts on them and run every long-lived task
//! under one [`Supervisor`], which stops them all and awaits them at
//! shutdown. What both modes run is here.

pub mod client;
pub mod server;
mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::net::UdpSocket;
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
use crate::http;
use crate::limits::ListenerLimits;
use crate::metrics::RpcLayer;
use crate::tasks::Tasks;
use crate::transport;
use crate::transport::listener_tls::ListenerTls;
use tessera_store::StoreError;

/// How long shutdown waits for the agent's tasks to end.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

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
    #[error("TLS for the server port: {0}")]
    Tls(String),
    #[error("TLS for {what}: {reason}")]
    ListenerTls { what: &'static str, reason: String },
}

/// Runs the agent until `shutdown` is cancelled or something fatal happens.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    config.validate()?;
    let listeners = Listeners::bind(&config).await?;
    run_on(config, listeners, shutdown).await
}

/// Runs the agent on listeners the caller bound (any port, 0 included).
pub async fn run_on(config: AgentConfig, listeners: Listeners, shutdown: CancellationToken) -> Result<(), AgentError> {
    config.validate()?;
    // Before the data dir is touched: what RocksDB creates takes its mode from it.
    crate::data_dir::restrict_umask();
    crate::fd_limit::raise_and_log();
    match config.server {
        true => server::run(config, listeners, shutdown).await,
        false => client::run(config, listeners, shutdown).await,
    }
}

/// Every socket an agent serves on. The server RPC listener is there only
/// in server mode; HTTPS and gRPC TLS only when configured.
pub struct Listeners {
    pub rpc: Option<TcpListener>,
    pub http: TcpListener,
    pub https: Option<TcpListener>,
    pub dns: Option<(UdpSocket, TcpListener)>,
    pub grpc: Option<TcpListener>,
    pub grpc_tls: Option<TcpListener>,
}

impl Listeners {
    /// Binds what `config` asks for, naming the listener that fails.
    pub async fn bind(config: &AgentConfig) -> Result<Listeners, AgentError> {
        let rpc = match config.server {
            true => Some(bind("server RPC", config.server_addr()).await?),
            false => None,
        };
        let http = bind("HTTP", config.http_addr()).await?;
        let dns = match config.dns_addr() {
            Some(addr) => {
                let udp = UdpSocket::bind(addr).await.map_err(|source| AgentError::Bind {
                    what: "DNS (UDP)",
                    addr,
                    source,
                })?;
                Some((udp, bind("DNS (TCP)", addr).await?))
            }
            None => None,
        };
        Ok(Listeners {
            rpc,
            http,
            https: bind_optional("HTTPS", config.https_addr()).await?,
            dns,
            grpc: bind_optional("gRPC", config.grpc_addr()).await?,
            grpc_tls: bind_optional("gRPC TLS", config.grpc_tls_addr()).await?,
        })
    }
}

async fn bind_optional(what: &'static str, addr: Option<SocketAddr>) -> Result<Option<TcpListener>, AgentError> {
    match addr {
        Some(addr) => Ok(Some(bind(what, addr).await?)),
        None => Ok(None),
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AgentError> {
    transport::bind(addr).await.map_err(|source| AgentError::Bind { what, addr, source })
}

/// The agent's long-lived tasks: all tracked by one [`Tasks`], the ones
/// whose failure ends the agent also joined here.
pub struct Supervisor {
    joined: JoinSet<Result<(), AgentError>>,
    tasks: Tasks,
}

impl Supervisor {
    pub fn new(shutdown: CancellationToken) -> Supervisor {
        Supervisor { joined: JoinSet::new(), tasks: Tasks::new(shutdown) }
    }

    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    pub fn shutdown(&self) -> &CancellationToken {
        self.tasks.shutdown()
    }

    /// Spawns a task whose error (or panic) ends the agent.
    pub fn spawn(&mut self, task: impl Future<Output = Result<(), AgentError>> + Send + 'static) {
        self.joined.spawn(self.tasks.track(task));
    }

    /// Waits for shutdown; a task that fails ends the agent with its error.
    pub async fn supervise(&mut self) -> Result<(), AgentError> {
        loop {
            tokio::select! {
                _ = self.tasks.shutdown().cancelled() => return Ok(()),
                finished = self.joined.join_next() => match finished {
                    None => return Ok(()),
                    Some(Ok(Ok(()))) => continue,
                    Some(Ok(Err(e))) => return Err(e),
                    Some(Err(panic)) => return Err(AgentError::Stopped { what: "a task", reason: panic.to_string() }),
                },
            }
        }
    }

    /// Cancels every task and awaits them all, up to [`SHUTDOWN_GRACE`].
    pub async fn stop(mut self) {
        if !self.tasks.stop(SHUTDOWN_GRACE).await {
            tracing::warn!("some tasks were still running after the shutdown grace period");
        }
        self.joined.abort_all();
        while self.joined.join_next().await.is_some() {}
    }
}

pub fn spawn_dns<D: dns::Answerer>(
    sup: &mut Supervisor,
    dns: Arc<D>,
    (udp, tcp): (UdpSocket, TcpListener),
    limits: &ListenerLimits,
) {
    let (udp_dns, token) = (dns.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        dns::serve_udp(udp_dns, udp, token).await;
        Ok(())
    });
    let (tasks, tcp_limits, idle) = (sup.tasks().clone(), limits.dns(), limits.config.dns_tcp_idle_timeout);
    sup.spawn(async move {
        dns::serve_tcp(dns, tcp, tcp_limits, idle, tasks).await;
        Ok(())
    });
}

/// The agent's own gRPC service for local sidecars (ProxyApi), in plaintext
/// on the grpc port, or over TLS on the grpc_tls port when `tls` is given.
pub fn spawn_agent_grpc(
    sup: &mut Supervisor,
    agent: &Arc<Agent>,
    listener: TcpListener,
    tls: Option<Arc<ListenerTls>>,
    limits: &ListenerLimits,
) {
    let limits = limits.agent_grpc();
    let router = transport::server()
        .layer(RpcLayer::new(agent.metrics().rpc.clone(), "agent"))
        .add_service(grpc::proxy_api::ProxyApiService::new(agent.connect().clone(), agent.acl().clone()));
    let token = sup.shutdown().clone();
    let what = if tls.is_some() { "agent gRPC TLS" } else { "agent gRPC" };
    sup.spawn(async move {
        let stopped = |e: tonic::transport::Error| AgentError::Stopped { what, reason: e.to_string() };
        match tls {
            None => transport::serve(router, listener, None, limits, token).await.map_err(stopped),
            Some(tls) => transport::serve_listener_tls(router, listener, tls, limits, token).await.map_err(stopped),
        }
    });
}

/// The HTTP API over TLS on the https port: the same router (and so the
/// same middleware) as the plain port.
pub fn spawn_https(
    sup: &mut Supervisor,
    router: axum::Router,
    listener: TcpListener,
    tls: Arc<ListenerTls>,
    limits: &ListenerLimits,
) {
    let (token, limits) = (sup.shutdown().clone(), limits.clone());
    sup.spawn(async move {
        let stopped = |e: std::io::Error| AgentError::Stopped { what: "HTTPS API", reason: e.to_string() };
        http::https::serve(listener, tls, router, &limits, token).await.map_err(stopped)
    });
}

/// The TLS of the listeners for clients (HTTPS, gRPC TLS) that are
/// configured, its files read now; the agent re-reads them on reload.
pub fn listener_tls(config: &AgentConfig) -> Result<ClientListenerTls, AgentError> {
    let https =
        config.https_port.map(|_| tls::listener_tls("HTTPS", ListenerTls::https, &config.https_tls)).transpose()?;
    let grpc =
        config.grpc_tls_port.map(|_| tls::listener_tls("gRPC TLS", ListenerTls::grpc, &config.grpc_tls)).transpose()?;
    Ok(ClientListenerTls { https, grpc })
}

/// The TLS of the listeners clients use, when they are on.
#[derive(Default, Clone)]
pub struct ClientListenerTls {
    pub https: Option<Arc<ListenerTls>>,
    pub grpc: Option<Arc<ListenerTls>>,
}

impl ClientListenerTls {
    /// Every one that is on, for reloads.
    pub fn all(&self) -> Vec<Arc<ListenerTls>> {
        self.https.iter().chain(&self.grpc).cloned().collect()
    }
}

/// Spawns the HTTPS API and the agent gRPC listeners (plain and TLS) that
/// are there.
pub fn spawn_client_listeners(
    sup: &mut Supervisor,
    agent: &Arc<Agent>,
    router: axum::Router,
    listeners: ClientListeners,
    tls: &ClientListenerTls,
    limits: &ListenerLimits,
) {
    if let (Some(listener), Some(tls)) = (listeners.https, &tls.https) {
        spawn_https(sup, router, listener, tls.clone(), limits);
    }
    if let Some(listener) = listeners.grpc {
        spawn_agent_grpc(sup, agent, listener, None, limits);
    }
    if let (Some(listener), Some(tls)) = (listeners.grpc_tls, &tls.grpc) {
        spawn_agent_grpc(sup, agent, listener, Some(tls.clone()), limits);
    }
}

/// The listeners [`spawn_client_listeners`] serves on.
pub struct ClientListeners {
    pub https: Option<TcpListener>,
    pub grpc: Option<TcpListener>,
    pub grpc_tls: Option<TcpListener>,
}

/// What every agent runs, server or client: catalog sync and SIGHUP reloads.
pub fn spawn_agent_tasks(sup: &mut Supervisor, agent: &Arc<Agent>) {
    let (sync_agent, token) = (agent.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        agent::sync::run(sync_agent, token).await;
        Ok(())
    });
    let (reload_agent, token) = (agent.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        reload_on_sighup(reload_agent, token).await;
        Ok(())
    });
    let (reaping_agent, token) = (agent.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        reap_critical_services(reaping_agent, token).await;
        Ok(())
    });
}

/// How often services critical for too long are looked for. Consul's agent
/// looks every 30 s (and waits at least a minute); this honours the value as
/// given, to the second.
const REAP_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

async fn reap_critical_services(agent: Arc<Agent>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(REAP_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                agent.reap_critical();
            }
        }
    }
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
