//! Client agent mode: no Raft and no store. The agent owns this host's
//! services and checks, serves the HTTP API and DNS, and reaches the servers
//! over gRPC ([`pool`]): catalog, health and KV calls run on a server,
//! anti-entropy pushes this node's state, and heartbeats keep it alive.

pub mod coalesce;
pub mod pool;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::FromRef;
use axum::extract::State;
use axum::http::HeaderName;
use axum::http::HeaderValue;
use axum::http::Method;
use axum::http::StatusCode;
use axum::http::Uri;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use axum::routing::put;
use axum::Json;
use serde_json::json;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::agent::AgentSetup;
use crate::agent::CatalogSink;
use crate::client_agent::pool::ServerPool;
use tessera_store::command::Command;
use crate::config::AgentConfig;
use crate::data_dir;
use crate::dns::Answerer;
use crate::http;
use crate::AgentError;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const LEARN_PEERS_EVERY: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct ClientApp {
    agent: Arc<Agent>,
    servers: Arc<ServerPool>,
    blocking: Arc<coalesce::Coalescer>,
    shutdown: CancellationToken,
}

impl FromRef<ClientApp> for Arc<Agent> {
    fn from_ref(app: &ClientApp) -> Arc<Agent> {
        app.agent.clone()
    }
}

/// Anti-entropy through a server.
struct RemoteSink {
    servers: Arc<ServerPool>,
    node: String,
}

impl CatalogSink for RemoteSink {
    fn write(&self, command: Command) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(
            async move { self.servers.sync(&self.node, command.encode()).await.map_err(|s| s.message().to_string()) },
        )
    }
}

/// Leaf signing through a server, which checks that this node has the service.
struct RemoteLeafSigner {
    servers: Arc<ServerPool>,
    node: String,
}

impl crate::agent::connect::LeafSigner for RemoteLeafSigner {
    fn sign(
        &self,
        csr_pem: String,
    ) -> futures::future::BoxFuture<'_, Result<tessera_proto::v1::SignLeafResponse, crate::agent::connect::SignError>>
    {
        use crate::agent::connect::SignError;
        Box::pin(async move {
            self.servers.sign_leaf(&self.node, csr_pem).await.map_err(|s| match s.code() {
                tonic::Code::PermissionDenied | tonic::Code::InvalidArgument => {
                    SignError::Refused(s.message().to_string())
                }
                _ => SignError::Unavailable(s.message().to_string()),
            })
        })
    }
}

/// DNS through a server, with answers kept for [`DNS_CACHE_FOR`]: DNS reads
/// are stale reads anyway (as in Consul), and a busy resolver asking the
/// same names should not cost one server round trip per query.
struct RemoteDns {
    servers: Arc<ServerPool>,
    cache: std::sync::Mutex<std::collections::HashMap<Vec<u8>, (tokio::time::Instant, Vec<u8>)>>,
}

const DNS_CACHE_FOR: Duration = Duration::from_millis(250);
const DNS_CACHE_ENTRIES: usize = 10_000;

impl RemoteDns {
    fn new(servers: Arc<ServerPool>) -> Self {
        RemoteDns { servers, cache: Default::default() }
    }

    /// The question part of a query: everything but its 2-byte id.
    fn key(query: &[u8]) -> Option<Vec<u8>> {
        (query.len() > 2).then(|| query[2..].to_vec())
    }
}

impl Answerer for RemoteDns {
    fn answer(&self, query: Vec<u8>) -> futures::future::BoxFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            let key = Self::key(&query)?;
            let cached = self.cache.lock().expect("dns cache lock").get(&key).cloned();
            if let Some((_, mut answer)) = cached.filter(|(at, _)| at.elapsed() < DNS_CACHE_FOR) {
                answer[..2].copy_from_slice(&query[..2]);
                return Some(answer);
            }
            let answer = self.servers.dns(query).await?;
            let mut cache = self.cache.lock().expect("dns cache lock");
            if cache.len() >= DNS_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (tokio::time::Instant::now(), answer.clone()));
            Some(answer)
        })
    }
}

pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), AgentError> {
    let dir = config.data_dir.clone().expect("validate() requires -data-dir for client agents");
    let data = data_dir::prepare(&dir)?;
    let http_listener = crate::bind("HTTP", config.http_addr()).await?;
    let dns_sockets = crate::bind_dns(&config).await?;
    let grpc_listener = crate::bind_grpc(&config).await?;
    let servers = Arc::new(ServerPool::new(config.retry_join.clone()));
    let name = config.node_name.clone();
    let setup = AgentSetup::from_config(
        &config,
        (&name, &data.node_id),
        &dir,
        Box::new(RemoteSink { servers: servers.clone(), node: name.clone() }),
        Arc::new(RemoteLeafSigner { servers: servers.clone(), node: name.clone() }),
        &shutdown,
    );
    let agent = Agent::start(setup)?;
    announce(&config, &data.node_id, &dir);

    let mut tasks: JoinSet<Result<(), AgentError>> = JoinSet::new();
    let app = ClientApp {
        agent: agent.clone(),
        servers: servers.clone(),
        blocking: Default::default(),
        shutdown: shutdown.clone(),
    };
    let token = shutdown.clone();
    tasks.spawn(async move {
        let stopped = |e: std::io::Error| AgentError::Stopped { what: "HTTP API", reason: e.to_string() };
        http::serve_router(http_listener, router(app), token).await.map_err(stopped)
    });
    if let Some((udp, tcp)) = dns_sockets {
        crate::spawn_dns(&mut tasks, Arc::new(RemoteDns::new(servers.clone())), udp, tcp, &shutdown);
    }
    if let Some(listener) = grpc_listener {
        crate::spawn_agent_grpc(&mut tasks, &agent, listener, &shutdown);
    }
    spawn_background(&mut tasks, &agent, &servers, &name, &shutdown);
    let outcome = crate::supervise(&mut tasks, &shutdown).await;
    shutdown.cancel();
    agent.stop();
    while tasks.join_next().await.is_some() {}
    outcome
}

fn spawn_background(
    tasks: &mut JoinSet<Result<(), AgentError>>,
    agent: &Arc<Agent>,
    servers: &Arc<ServerPool>,
    node: &str,
    shutdown: &CancellationToken,
) {
    crate::spawn_agent_tasks(tasks, agent, shutdown);
    let (pool, name, token) = (servers.clone(), node.to_string(), shutdown.clone());
    tasks.spawn(async move {
        heartbeats(pool, name, token).await;
        Ok(())
    });
    let (pool, token) = (servers.clone(), shutdown.clone());
    tasks.spawn(async move {
        learn_peers(pool, token).await;
        Ok(())
    });
    let (pool, connect, token) = (servers.clone(), agent.connect().clone(), shutdown.clone());
    tasks.spawn(async move {
        crate::agent::connect::feed::from_servers(pool, connect, token).await;
        Ok(())
    });
}

async fn heartbeats(servers: Arc<ServerPool>, node: String, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(status) = servers.heartbeat(&node).await {
            tracing::debug!(error = %status.message(), "heartbeat not delivered");
        }
    }
}

/// Learns every server from the Raft peers, so losing the -retry-join
/// server does not cut this agent off. Asks every second until it has an
/// answer, then every ten.
async fn learn_peers(servers: Arc<ServerPool>, shutdown: CancellationToken) {
    let mut learned = false;
    loop {
        let pause = if learned { LEARN_PEERS_EVERY } else { Duration::from_secs(1) };
        if let Ok(answer) = servers.forward("GET", "/v1/status/peers?stale", Vec::new()).await {
            if let Ok(peers) = serde_json::from_slice::<Vec<String>>(&answer.body) {
                learned = !peers.is_empty();
                servers.learn(peers);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

fn router(app: ClientApp) -> axum::Router {
    http::agent_routes::<ClientApp>()
        .route("/v1/agent/self", get(agent_self))
        .route("/v1/agent/leave", put(leave))
        .fallback(forward)
        .with_state(app)
}

async fn agent_self(State(app): State<ClientApp>) -> Json<serde_json::Value> {
    let node = app.agent.node();
    Json(json!({
        "Config": {"Datacenter": node.datacenter, "NodeName": node.name, "NodeID": node.id, "Server": false, "Version": env!("CARGO_PKG_VERSION")},
        "Member": {"Name": node.name, "Addr": node.address, "Status": 1, "Tags": {"role": "node", "dc": node.datacenter, "id": node.id}},
    }))
}

/// Graceful leave: the node leaves the catalog, then the agent stops.
async fn leave(State(app): State<ClientApp>) -> Response {
    let node = app.agent.node().name.clone();
    let command = Command::CatalogDeregister { node: node.clone(), service_id: None, check_id: None };
    match app.servers.sync(&node, command.encode()).await {
        Ok(()) => {
            tracing::info!("left the cluster; shutting down");
            app.shutdown.cancel();
            StatusCode::OK.into_response()
        }
        Err(status) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("leave failed: {}", status.message())).into_response()
        }
    }
}

/// Everything not about this agent runs on a server.
async fn forward(State(app): State<ClientApp>, method: Method, uri: Uri, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    if !path.starts_with("/v1/") {
        return http::not_found().await;
    }
    let answer = match coalesce::shareable(method.as_str(), &path) {
        true => app.blocking.get(app.servers.clone(), path).await,
        false => app
            .servers
            .forward(method.as_str(), &path, body.to_vec())
            .await
            .map(Arc::new)
            .map_err(|s| s.message().to_string()),
    };
    match answer {
        Ok(answer) => {
            let status = StatusCode::from_u16(answer.status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (status, answer.body.clone()).into_response();
            for (name, value) in &answer.headers {
                if let (Ok(name), Ok(value)) =
                    (HeaderName::try_from(name.as_str()), HeaderValue::try_from(value.as_str()))
                {
                    response.headers_mut().insert(name, value);
                }
            }
            response
        }
        Err(reason) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("No known Tessera servers: {reason}")).into_response()
        }
    }
}

fn announce(config: &AgentConfig, node_id: &str, dir: &std::path::Path) {
    println!("==> Starting Tessera agent...");
    println!("              Version: '{}'", env!("CARGO_PKG_VERSION"));
    println!("              Node ID: '{node_id}'");
    println!("            Node name: '{}'", config.node_name);
    println!("           Datacenter: '{}'", config.datacenter);
    println!("               Server: false");
    println!("          Client Addr: {}", config.client_addrs_summary(config.http_addr()));
    println!("         Cluster Addr: {} (servers: {})", config.bind_addr, config.retry_join.join(", "));
    println!("             Data Dir: {}", dir.display());
    println!();
    println!("==> Log data will now stream in as it occurs:");
    println!();
}
