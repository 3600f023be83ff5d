//! Server mode: the Raft node on its store, cluster services, the CA, this
//! server's own agent, and the APIs on their listeners.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tessera_mesh::catalog::Service;
use tessera_store::types::raft_id_of;
use tessera_store::types::Raft;
use tessera_store::types::ServerNode;
use tessera_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::acl::local::StoreResolver;
use crate::agent::Agent;
use crate::agent::AgentSetup;
use crate::cluster;
use crate::cluster::liveness::Liveness;
use crate::config::AgentConfig;
use crate::connect;
use crate::connect::ca::SigningState;
use crate::consensus::raft::network::Network;
use crate::consensus::raft::service::RaftService;
use crate::consensus::server::ServerParts;
use crate::consensus::Server;
use crate::data_dir;
use crate::data_dir::DataDirError;
use crate::dns;
use crate::grpc::agent_api::AgentApiService;
use crate::grpc::cluster::ClusterService;
use crate::http;
use crate::limits::ListenerLimits;
use crate::metrics::Metrics;
use crate::metrics::RpcLayer;
use crate::server_mode;
use crate::server_mode::LocalCatalogSink;
use crate::server_mode::LocalLeafSigner;
use crate::start::spawn_agent_tasks;
use crate::start::spawn_client_listeners;
use crate::start::spawn_dns;
use crate::start::AgentError;
use crate::start::ClientListeners;
use crate::start::Listeners;
use crate::start::Supervisor;
use crate::start::SHUTDOWN_GRACE;
use crate::tasks::Tasks;
use crate::transport;

/// Runs a server on `listeners` until `shutdown` is cancelled or something
/// fatal happens.
pub async fn run(config: AgentConfig, listeners: Listeners, shutdown: CancellationToken) -> Result<(), AgentError> {
    let (dir, _dev_dir) = data_dir_for(&config)?;
    let data = data_dir::prepare(&dir)?;
    let store = Store::open(&data.store_path)?;
    let Listeners { rpc, http: http_listener, https, dns: dns_sockets, grpc, grpc_tls } = listeners;
    let rpc_listener = rpc.ok_or_else(|| AgentError::Raft("a server needs its server RPC listener".into()))?;
    let rpc_addr = rpc_listener.local_addr().map_err(|e| AgentError::Raft(e.to_string()))?;
    let me =
        ServerNode { node_id: data.node_id.clone(), name: config.node_name.clone(), rpc_addr: rpc_addr.to_string() };
    let mut sup = Supervisor::new(shutdown);
    let limits = ListenerLimits::new(&config.limits);
    let metrics = Arc::new(Metrics::server(Arc::downgrade(&store)));
    let rpc_tls = super::tls::rpc_tls(&config)?;
    let client_tls = super::listener_tls(&config)?;
    let pool = transport::ChannelPool::new(rpc_tls.clone());
    let mut parts = ServerParts::new(pool, sup.tasks(), metrics);
    parts.disk = Some(crate::disk::DiskGuard::new(&dir, crate::disk::DEFAULT_RESERVE));
    let server = start_raft(config, me, store, parts).await?;
    let signing = Arc::new(SigningState::default());
    let tokens = super::client::local_tokens(&server.config, &server.me.name, &dir);
    let acl = Arc::new(StoreResolver::of_server(server.clone(), tokens));
    let agent = start_agent((&server, &acl), &signing, &dir, sup.tasks(), (rpc_tls.clone(), client_tls.all()))?;
    announce(&server, &dir, http_listener.local_addr().ok());

    let dns_config = &server.config.dns;
    let zone = dns::answer::Zone {
        domain: server.config.domain.clone(),
        datacenter: server.config.datacenter.clone(),
        ttls: dns::answer::Ttls::new(dns_config.node_ttl, &dns_config.service_ttl),
        only_passing: dns_config.only_passing,
    };
    let dns = Arc::new(dns::Dns { zone, store: server.store.clone(), acl, store_release: server.store.release() });
    let parts =
        Parts { server: server.clone(), agent: agent.clone(), dns: dns.clone(), signing, liveness: Default::default() };
    spawn_services(&mut sup, &parts, (rpc_listener, http_listener), &limits);
    drop(parts);
    if let Some(sockets) = dns_sockets {
        let recursing = dns::recurse::Recursing::new(dns.clone(), &server.config.domain, &server.config.dns);
        spawn_dns(&mut sup, Arc::new(recursing), sockets, &limits);
    }
    // It reads the store: only the tasks may keep it, so the store can close.
    drop(dns);
    let router = http::router(http::App { server: server.clone(), agent: agent.clone() });
    let listeners = ClientListeners { https, grpc, grpc_tls };
    spawn_client_listeners(&mut sup, &agent, router, listeners, &client_tls, &limits);
    let (weak_server, token) = (Arc::downgrade(&server), sup.shutdown().clone());
    sup.spawn(async move {
        crate::cluster::disk_full::step_down_while_full(weak_server, token).await;
        Ok(())
    });
    let (feed_connect, token) = (agent.connect().clone(), sup.shutdown().clone());
    let weak_server = Arc::downgrade(&server);
    sup.spawn(async move {
        server_mode::from_store(weak_server, feed_connect, token).await;
        Ok(())
    });
    let outcome = sup.supervise().await;
    sup.shutdown().cancel();
    agent.stop();
    drop(agent);
    if let Err(e) = server.raft.shutdown().await {
        tracing::warn!(error = %e, "raft did not shut down cleanly");
    }
    sup.stop().await;
    close_store(server).await;
    outcome
}

/// Closes the store here, on the way out, rather than wherever the last
/// reference happens to drop: a database still closing on another thread
/// while the process exits aborts it. Every task of ours has ended (the
/// supervisor awaited them); openraft's workers let go just after its
/// shutdown, and the store waits for them.
async fn close_store(server: Arc<Server>) {
    let store = server.store.clone();
    drop(server);
    if !store.close(SHUTDOWN_GRACE).await {
        tracing::warn!("the store was still in use at shutdown");
    }
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

fn start_agent(
    (server, acl): (&Arc<Server>, &Arc<StoreResolver>),
    signing: &Arc<SigningState>,
    data_dir: &std::path::Path,
    tasks: &Tasks,
    (rpc_tls, listener_tls): (Option<Arc<transport::tls::RpcTls>>, Vec<Arc<transport::listener_tls::ListenerTls>>),
) -> Result<Arc<Agent>, AgentError> {
    let mut setup = AgentSetup::from_config(
        &server.config,
        (&server.me.name, &server.me.node_id),
        data_dir,
        Box::new(LocalCatalogSink(Arc::downgrade(server))),
        Arc::new(LocalLeafSigner(Arc::downgrade(server), signing.clone())),
        tasks,
        &server.metrics,
    );
    // Servers list themselves as the `consul` service, as Consul's do.
    let port = server.config.server_port;
    setup.builtin_services = vec![Service { id: "consul".into(), name: "consul".into(), port, ..Service::default() }];
    setup.rpc_tls = rpc_tls;
    setup.listener_tls = listener_tls;
    setup.acl = acl.clone();
    Ok(Agent::start(setup)?)
}

async fn start_raft(
    config: AgentConfig,
    me: ServerNode,
    store: Arc<Store>,
    parts: ServerParts,
) -> Result<Arc<Server>, AgentError> {
    let raft_id = raft_id_of(&me.node_id).expect("data_dir::prepare checked the node id");
    let (pool, stamp) = (parts.pool.clone(), parts.stamp.clone());
    if let Some(id) = store.cluster_id()? {
        stamp.set(&id);
    }
    let raft_config = config.openraft_config().validate().map_err(|e| AgentError::Raft(e.to_string()))?;
    let network = Network::new(pool.clone(), stamp.clone());
    let raft = Raft::new(raft_id, Arc::new(raft_config), network, store.log_store(), store.state_machine())
        .await
        .map_err(|e| AgentError::Raft(e.to_string()))?;
    Ok(Arc::new(Server::new(config, me, raft, store, parts)))
}

/// What the server's services share: the node, its own agent, its DNS, the
/// CA's signing state and client heartbeats.
struct Parts {
    server: Arc<Server>,
    agent: Arc<Agent>,
    dns: Arc<dns::Dns>,
    signing: Arc<SigningState>,
    liveness: Arc<Liveness>,
}

fn spawn_services(
    sup: &mut Supervisor,
    parts: &Parts,
    (rpc_listener, http_listener): (TcpListener, TcpListener),
    limits: &ListenerLimits,
) {
    let Parts { server, agent, dns, signing, liveness } = parts;
    let app = http::App { server: server.clone(), agent: agent.clone() };
    let api = AgentApiService::new(
        (server.clone(), agent.acl().clone()),
        http::router(app.clone()),
        dns.clone(),
        signing,
        liveness,
    );
    let router = transport::server()
        .layer(RpcLayer::new(server.metrics.rpc.clone(), "server"))
        .add_service(RaftService::new(server.raft.clone(), server.stamp.clone(), server.disk.clone()))
        .add_service(ClusterService::new(server.clone(), signing.clone()))
        .add_service(api);
    let (token, tls, rpc_limits) = (sup.shutdown().clone(), server.pool.tls().cloned(), limits.server_port());
    sup.spawn(async move {
        let stopped = |e: tonic::transport::Error| AgentError::Stopped { what: "server RPC", reason: e.to_string() };
        transport::serve(router, rpc_listener, tls, rpc_limits, token).await.map_err(stopped)
    });
    let (token, http_limits) = (sup.shutdown().clone(), limits.clone());
    sup.spawn(async move {
        let stopped = |e: std::io::Error| AgentError::Stopped { what: "HTTP API", reason: e.to_string() };
        http::serve(http_listener, app, &http_limits, token).await.map_err(stopped)
    });
    let (liveness_server, liveness, token) = (server.clone(), liveness.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        cluster::liveness::run(liveness_server, liveness, token).await;
        Ok(())
    });
    spawn_agent_tasks(sup, agent);
    let (leader_server, token) = (server.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        cluster::leader::run(leader_server, token).await;
        Ok(())
    });
    if let Some(tls) = server.pool.tls().cloned() {
        let (weak, token) = (Arc::downgrade(server), sup.shutdown().clone());
        sup.spawn(async move {
            connect::agent_certs::trust_connect_roots(weak, tls, token).await;
            Ok(())
        });
    }
    let (ca_server, token) = (server.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        connect::leader::run(ca_server, token).await;
        Ok(())
    });
    let (bootstrap_server, token) = (server.clone(), sup.shutdown().clone());
    sup.spawn(async move { Ok(cluster::bootstrap::run(bootstrap_server, token).await?) });
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

/// A temporary directory removed when dropped, for -dev's data: under the
/// shared temp dir, so made the owner's only (0700) from the start.
mod tempfile_dir {
    use std::os::unix::fs::DirBuilderExt;
    use std::path::Path;
    use std::path::PathBuf;

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<TempDir> {
            let path = std::env::temp_dir().join(format!("tessera-dev-{}", uuid::Uuid::new_v4()));
            // Not recursive: a dir already there under this name is not ours.
            std::fs::DirBuilder::new().mode(crate::data_dir::DIR_MODE).create(&path)?;
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
