//! The Tessera agent process. In server mode it keeps the replicated state
//! (openraft on RocksDB), serves Raft and forwarding between servers on the
//! server RPC port, and Consul's HTTP API on the client address.
//!
//! # Layout
//! - [`config`]: the validated configuration.
//! - [`store`]: RocksDB, the Raft log, the state machine and its tables.
//! - [`raft`]: Raft RPCs between servers; [`transport`]: every gRPC channel and listener.
//! - [`cluster`]: bootstrap, joining, membership, forwarding to the leader.
//! - [`server`]: the running server that APIs call; [`proposer`]: write batching.
//! - [`http`]: the Consul-compatible HTTP API.
#![forbid(unsafe_code)]

pub mod agent;
pub mod client_agent;
pub mod cluster;
pub mod config;
pub mod connect;
pub mod data_dir;
pub mod dns;
pub mod health;
pub mod http;
pub mod proposer;
pub mod raft;
pub mod server;
/// gRPC channels and listeners (shared with sidecars; TLS goes there).
pub mod transport {
    pub use tessera_proto::transport::*;
}

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use tessera_mesh::catalog::Service;

use crate::agent::Agent;
use crate::agent::AgentSetup;
use crate::cluster::agent_api::AgentApiService;
use crate::cluster::bootstrap::BootstrapError;
use crate::cluster::service::ClusterService;
use crate::config::AgentConfig;
use crate::config::ConfigError;
use crate::data_dir::DataDirError;
use crate::raft::network::Network;
use crate::raft::service::RaftService;
use crate::raft::ClusterStamp;
use crate::server::LocalCatalogSink;
use crate::server::Server;
use tessera_store::StoreError;
use tessera_store::Store;
use crate::transport::ChannelPool;
use tessera_store::types::raft_id_of;
use tessera_store::types::Raft;
use tessera_store::types::ServerNode;

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
    if !config.server {
        return client_agent::run(config, shutdown).await;
    }
    let (dir, _dev_dir) = data_dir_for(&config)?;
    let data = data_dir::prepare(&dir)?;
    let store = Store::open(&data.store_path)?;
    let rpc_listener = bind("server RPC", config.server_addr()).await?;
    let http_listener = bind("HTTP", config.http_addr()).await?;
    let dns_sockets = bind_dns(&config).await?;
    let grpc_listener = bind_grpc(&config).await?;
    let rpc_addr = rpc_listener.local_addr().map_err(|e| AgentError::Raft(e.to_string()))?;
    let me =
        ServerNode { node_id: data.node_id.clone(), name: config.node_name.clone(), rpc_addr: rpc_addr.to_string() };
    let server = start_raft(config, me, store).await?;
    let agent = start_agent(&server, &dir, &shutdown)?;
    announce(&server, &dir, http_listener.local_addr().ok());

    let zone = dns::answer::Zone { domain: server.config.domain.clone(), datacenter: server.config.datacenter.clone() };
    let dns = Arc::new(dns::Dns { zone, store: server.store.clone() });
    let mut tasks = JoinSet::new();
    spawn_services(&mut tasks, &server, &agent, &dns, rpc_listener, http_listener, &shutdown);
    if let Some((udp, tcp)) = dns_sockets {
        spawn_dns(&mut tasks, dns, udp, tcp, &shutdown);
    }
    if let Some(listener) = grpc_listener {
        spawn_agent_grpc(&mut tasks, &agent, listener, &shutdown);
    }
    let (feed_connect, token) = (agent.connect().clone(), shutdown.clone());
    let weak_server = Arc::downgrade(&server);
    tasks.spawn(async move {
        agent::connect::feed::from_store(weak_server, feed_connect, token).await;
        Ok(())
    });
    let outcome = supervise(&mut tasks, &shutdown).await;
    shutdown.cancel();
    agent.stop();
    drop(agent);
    if let Err(e) = server.raft.shutdown().await {
        tracing::warn!(error = %e, "raft did not shut down cleanly");
    }
    if tokio::time::timeout(SHUTDOWN_GRACE, async { while tasks.join_next().await.is_some() {} }).await.is_err() {
        tracing::warn!("some tasks were still running after the shutdown grace period");
    }
    close_store(server).await;
    outcome
}

/// Closes RocksDB here, on the way out, rather than wherever the last
/// reference happens to drop: a database still closing on another thread
/// while the process exits aborts it.
async fn close_store(server: Arc<Server>) {
    let store = server.store.clone();
    drop(server);
    let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
    while Arc::strong_count(&store) > 1 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if Arc::strong_count(&store) > 1 {
        tracing::warn!("the store was still in use at shutdown");
    }
    drop(store);
}

fn data_dir_for(config: &AgentConfig) -> Result<(PathBuf, Option<tempfile_dir::TempDir>), AgentError> {
    match &config.data_dir {
        Some(dir) => Ok((dir.clone(), None)),
        None => {
            let temp = tempfile_dir::TempDir::new().map_err(|source| DataDirError::Io {
                dir: std::env::temp_dir(),
                action: "cannot create a temporary data dir for -dev",
                source,
            })?;
            Ok((temp.path().to_path_buf(), Some(temp)))
        }
    }
}

pub(crate) async fn bind_dns(config: &AgentConfig) -> Result<Option<(tokio::net::UdpSocket, TcpListener)>, AgentError> {
    let Some(addr) = config.dns_addr() else { return Ok(None) };
    let udp = tokio::net::UdpSocket::bind(addr).await.map_err(|source| AgentError::Bind {
        what: "DNS (UDP)",
        addr,
        source,
    })?;
    let tcp = bind("DNS (TCP)", addr).await?;
    Ok(Some((udp, tcp)))
}

pub(crate) fn spawn_dns<D: dns::Answerer>(
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

pub(crate) async fn bind_grpc(config: &AgentConfig) -> Result<Option<TcpListener>, AgentError> {
    match config.grpc_addr() {
        Some(addr) => Ok(Some(bind("gRPC", addr).await?)),
        None => Ok(None),
    }
}

/// The agent's own gRPC service for local sidecars (ProxyApi).
pub(crate) fn spawn_agent_grpc(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    agent: &Arc<Agent>,
    listener: TcpListener,
    shutdown: &CancellationToken,
) {
    let router =
        transport::server().add_service(agent::connect::proxy_api::ProxyApiService::new(agent.connect().clone()));
    let token = shutdown.clone();
    tasks.spawn(async move {
        let stopped = |e: tonic::transport::Error| AgentError::Stopped { what: "agent gRPC", reason: e.to_string() };
        transport::serve(router, listener, token).await.map_err(stopped)
    });
}

pub(crate) async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, AgentError> {
    transport::bind(addr).await.map_err(|source| AgentError::Bind { what, addr, source })
}

fn start_agent(
    server: &Arc<Server>,
    data_dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> Result<Arc<Agent>, AgentError> {
    let mut setup = AgentSetup::from_config(
        &server.config,
        (&server.me.name, &server.me.node_id),
        data_dir,
        Box::new(LocalCatalogSink(Arc::downgrade(server))),
        Arc::new(server::LocalLeafSigner(Arc::downgrade(server))),
        shutdown,
    );
    // Servers list themselves as the `consul` service, as Consul's do.
    let port = server.config.server_port;
    setup.builtin_services = vec![Service { id: "consul".into(), name: "consul".into(), port, ..Service::default() }];
    Ok(Agent::start(setup)?)
}

async fn start_raft(config: AgentConfig, me: ServerNode, store: Arc<Store>) -> Result<Arc<Server>, AgentError> {
    let raft_id = raft_id_of(&me.node_id).expect("data_dir::prepare checked the node id");
    let pool = ChannelPool::default();
    let stamp = ClusterStamp::default();
    if let Some(id) = store.cluster_id()? {
        stamp.set(&id);
    }
    let raft_config = config.openraft_config().validate().map_err(|e| AgentError::Raft(e.to_string()))?;
    let network = Network::new(pool.clone(), stamp.clone());
    let raft = Raft::new(raft_id, Arc::new(raft_config), network, store.log_store(), store.state_machine())
        .await
        .map_err(|e| AgentError::Raft(e.to_string()))?;
    Ok(Arc::new(Server::new(config, me, raft_id, raft, store, pool, stamp)))
}

fn spawn_services(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    server: &Arc<Server>,
    agent: &Arc<Agent>,
    dns: &Arc<dns::Dns>,
    rpc_listener: TcpListener,
    http_listener: TcpListener,
    shutdown: &CancellationToken,
) {
    let app = http::App { server: server.clone(), agent: agent.clone() };
    let router = transport::server()
        .add_service(RaftService::new(server.raft.clone(), server.stamp.clone()))
        .add_service(ClusterService::new(server.clone()))
        .add_service(AgentApiService::new(server.clone(), http::router(app.clone()), dns.clone()));
    let token = shutdown.clone();
    tasks.spawn(async move {
        let stopped = |e: tonic::transport::Error| AgentError::Stopped { what: "server RPC", reason: e.to_string() };
        transport::serve(router, rpc_listener, token).await.map_err(stopped)
    });
    let token = shutdown.clone();
    tasks.spawn(async move {
        let stopped = |e: std::io::Error| AgentError::Stopped { what: "HTTP API", reason: e.to_string() };
        http::serve(http_listener, app, token).await.map_err(stopped)
    });
    let (liveness_server, token) = (server.clone(), shutdown.clone());
    tasks.spawn(async move {
        cluster::liveness::run(liveness_server, token).await;
        Ok(())
    });
    spawn_agent_tasks(tasks, agent, shutdown);
    let (leader_server, token) = (server.clone(), shutdown.clone());
    tasks.spawn(async move {
        cluster::leader::run(leader_server, token).await;
        Ok(())
    });
    let (bootstrap_server, token) = (server.clone(), shutdown.clone());
    tasks.spawn(async move { Ok(cluster::bootstrap::run(bootstrap_server, token).await?) });
}

/// What every agent runs, server or client: catalog sync and SIGHUP reloads.
pub(crate) fn spawn_agent_tasks(
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
pub(crate) async fn supervise(
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

/// Consul-style startup summary on stdout.
fn announce(server: &Server, dir: &std::path::Path, http_addr: Option<SocketAddr>) {
    let config = &server.config;
    let http = http_addr.unwrap_or_else(|| config.http_addr());
    println!("==> Starting Tessera agent...");
    println!("              Version: '{}'", env!("CARGO_PKG_VERSION"));
    println!("              Node ID: '{}'", server.me.node_id);
    println!("            Node name: '{}'", server.me.name);
    println!("           Datacenter: '{}'", config.datacenter);
    println!("               Server: true (Bootstrap-expect: {}, Dev: {})", config.bootstrap_expect, config.dev);
    println!("          Client Addr: {}", config.client_addrs_summary(http));
    println!("         Cluster Addr: {} (Server RPC: {})", config.bind_addr, server.me.rpc_addr);
    println!("             Data Dir: {}", dir.display());
    println!();
    println!("==> Log data will now stream in as it occurs:");
    println!();
}

/// A temporary directory removed when dropped, for -dev's data.
mod tempfile_dir {
    use std::path::Path;
    use std::path::PathBuf;

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<TempDir> {
            let path = std::env::temp_dir().join(format!("tessera-dev-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&path)?;
            Ok(TempDir(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}
