//! Client agent mode: the agent with its sinks through the servers, its HTTP
//! API and DNS answered through them, and its background tasks.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::acl::resolver::LocalTokens;
use crate::agent::Agent;
use crate::agent::AgentSetup;
use crate::client_agent::acl::DownPolicy;
use crate::client_agent::acl::RemoteResolver;
use crate::client_agent::auto_encrypt::AutoEncrypt;
use crate::client_agent::feed::from_servers;
use crate::client_agent::heartbeats;
use crate::client_agent::learn_peers;
use crate::client_agent::pool::ServerPool;
use crate::client_agent::RemoteLeafSigner;
use crate::client_agent::RemoteSink;
use crate::config::AgentConfig;
use crate::data_dir;
use crate::dns;
use crate::dns::remote::RemoteDns;
use crate::http;
use crate::http::client::ClientApp;
use crate::limits::ListenerLimits;
use crate::metrics::Metrics;
use crate::start::spawn_agent_tasks;
use crate::start::spawn_client_listeners;
use crate::start::spawn_dns;
use crate::start::AgentError;
use crate::start::ClientListeners;
use crate::start::Listeners;
use crate::start::Supervisor;

/// Runs a client agent on `listeners` until `shutdown` is cancelled or
/// something fatal happens.
pub async fn run(config: AgentConfig, listeners: Listeners, shutdown: CancellationToken) -> Result<(), AgentError> {
    let dir = config.data_dir.clone().expect("validate() requires -data-dir for client agents");
    let data = data_dir::prepare(&dir)?;
    let Listeners { http: http_listener, https, dns: dns_sockets, grpc, grpc_tls, .. } = listeners;
    let rpc_tls = super::tls::rpc_tls(&config)?;
    let client_tls = super::listener_tls(&config)?;
    let servers =
        Arc::new(ServerPool::new(config.retry_join.clone(), crate::transport::ChannelPool::new(rpc_tls.clone())));
    let name = config.node_name.clone();
    let tokens = local_tokens(&config, &name, &dir);
    servers.set_tokens(tokens.clone());
    let acl = Arc::new(RemoteResolver::new(
        servers.clone(),
        tokens.clone(),
        config.acl.token_ttl,
        DownPolicy::from_config(&config.acl.down_policy),
    ));
    let mut sup = Supervisor::new(shutdown);
    let limits = ListenerLimits::new(&config.limits);
    let metrics = Arc::new(Metrics::client());
    let setup = AgentSetup::from_config(
        &config,
        (&name, &data.node_id),
        &dir,
        Box::new(RemoteSink { servers: servers.clone(), node: name.clone() }),
        Arc::new(RemoteLeafSigner { servers: servers.clone(), node: name.clone() }),
        sup.tasks(),
        &metrics,
    );
    let setup = AgentSetup { rpc_tls: rpc_tls.clone(), listener_tls: client_tls.all(), acl: acl.clone(), ..setup };
    let agent = Agent::start(setup)?;
    announce(&config, &data.node_id, &dir);

    let app = ClientApp {
        config: Arc::new(config.clone()),
        agent: agent.clone(),
        tasks: sup.tasks().clone(),
        servers: servers.clone(),
        blocking: Default::default(),
        shutdown: sup.shutdown().clone(),
    };
    let router = http::client::router(app);
    let (plain_router, token, http_limits) = (router.clone(), sup.shutdown().clone(), limits.clone());
    sup.spawn(async move {
        let stopped = |e: std::io::Error| AgentError::Stopped { what: "HTTP API", reason: e.to_string() };
        http::serve_router(http_listener, plain_router, &http_limits, token).await.map_err(stopped)
    });
    if let Some(sockets) = dns_sockets {
        let remote = RemoteDns::new(servers.clone(), tokens.clone());
        let recursing = dns::recurse::Recursing::new(remote, &config.domain, &config.dns);
        spawn_dns(&mut sup, Arc::new(recursing), sockets, &limits);
    }
    let listeners = ClientListeners { https, grpc, grpc_tls };
    spawn_client_listeners(&mut sup, &agent, router, listeners, &client_tls, &limits);
    spawn_background(&mut sup, (&agent, &acl), &servers, &name);
    if let Some(tls) = rpc_tls.filter(|tls| config.auto_encrypt.tls && !tls.has_identity()) {
        let auto = AutoEncrypt {
            servers: servers.clone(),
            tls,
            node: name.clone(),
            datacenter: config.datacenter.clone(),
            retry: config.retry_interval,
        };
        let token = sup.shutdown().clone();
        sup.spawn(async move {
            auto.run(token).await;
            Ok(())
        });
    }
    let outcome = sup.supervise().await;
    sup.shutdown().cancel();
    agent.stop();
    sup.stop().await;
    outcome
}

fn spawn_background(
    sup: &mut Supervisor,
    (agent, acl): (&Arc<Agent>, &Arc<RemoteResolver>),
    servers: &Arc<ServerPool>,
    node: &str,
) {
    spawn_agent_tasks(sup, agent);
    let (pool, name, token) = (servers.clone(), node.to_string(), sup.shutdown().clone());
    sup.spawn(async move {
        heartbeats(pool, name, token).await;
        Ok(())
    });
    let (pool, token) = (servers.clone(), sup.shutdown().clone());
    sup.spawn(async move {
        learn_peers(pool, token).await;
        Ok(())
    });
    let (pool, connect, token) = (servers.clone(), agent.connect().clone(), sup.shutdown().clone());
    let acl = acl.clone();
    sup.spawn(async move {
        from_servers(pool, (connect, acl), token).await;
        Ok(())
    });
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

/// The agent's tokens, kept in the data dir with `enable_token_persistence`.
pub fn local_tokens(config: &AgentConfig, node_name: &str, data_dir: &std::path::Path) -> LocalTokens {
    let tokens = LocalTokens::new(&config.acl, &config.datacenter, node_name);
    match config.acl.enable_token_persistence {
        true => tokens.persisted_in(data_dir),
        false => tokens,
    }
}
