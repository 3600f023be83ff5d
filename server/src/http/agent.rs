//! `/v1/agent/members`, `self`, `leave`, `force-leave` and `version`.

use crate::http::authz::Authz;
use axum::response::IntoResponse;
use axum::response::Response;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

use axum::extract::State;
use axum::Json;
use futures::future::join_all;
use tessera_mesh::api::agent::AgentVersion;
use tessera_mesh::catalog::model::SERF_HEALTH_ID;
use tessera_mesh::catalog::CheckStatus;

use crate::agent::Agent;
use crate::cluster::membership::PeerRef;
use crate::consensus::forward;
use crate::consensus::Server;
use crate::http::agent_self;
use crate::http::agent_self::AgentSelf;
use crate::http::member;
use crate::http::member::Member;
use crate::http::member::MemberFacts;
use crate::http::member::Role;
use crate::http::member::ALIVE;
use crate::http::member::FAILED;
use crate::http::ApiError;
use crate::version::CONSUL_API_VERSION;
use crate::version::TESSERA_VERSION;
use tessera_store::types::ServerNode;

/// How long a member may take to answer before it is reported failed.
const PROBE_TIMEOUT: Duration = Duration::from_millis(500);

fn member(server: &Server, node: &ServerNode, status: u8) -> Member {
    member::member(MemberFacts {
        name: &node.name,
        node_id: &node.node_id,
        addr: &node.rpc_addr,
        datacenter: &server.config.datacenter,
        status,
        role: Role::Server { bootstrap_expect: server.config.bootstrap_expect, grpc_port: server.config.grpc_port },
    })
}

/// Every server of the Raft configuration, probed now: alive if it answers.
pub async fn members(State(server): State<Arc<Server>>, authz: Authz) -> Response {
    let nodes: Vec<ServerNode> = {
        let metrics = server.raft.metrics();
        let metrics = metrics.borrow();
        let mut nodes: Vec<ServerNode> =
            metrics.membership_config.membership().nodes().map(|(_, n)| n.clone()).collect();
        if nodes.is_empty() {
            nodes.push(server.me.clone());
        }
        nodes
    };
    let probes = nodes.iter().map(|node| {
        let server = server.clone();
        async move {
            let alive = node.node_id == server.me.node_id
                || forward::status(&server.pool, &node.rpc_addr, PROBE_TIMEOUT).await.is_ok();
            member(&server, node, if alive { ALIVE } else { FAILED })
        }
    });
    let mut members = join_all(probes).await;
    members.extend(client_members(&server, &nodes));
    members.sort_by(|a, b| a.name.cmp(&b.name));
    let hidden = crate::http::authz::retain_allowed(&mut members, |m| authz.node_read(&m.name));
    crate::http::authz::filtered_response(Json(members).into_response(), &authz, hidden)
}

/// Catalog nodes that are not servers: client agents, alive while their
/// serfHealth check passes.
fn client_members(server: &Server, servers: &[ServerNode]) -> Vec<Member> {
    let view = server.store.view();
    let nodes = view.nodes().unwrap_or_default();
    nodes
        .into_iter()
        .filter(|n| !servers.iter().any(|s| s.name == n.value.name))
        .map(|n| {
            let serf = view.check(&n.value.name, SERF_HEALTH_ID).ok().flatten();
            let alive = serf.is_some_and(|c| c.value.status == CheckStatus::Passing);
            member::member(MemberFacts {
                name: &n.value.name,
                node_id: &n.value.id,
                addr: &n.value.address,
                datacenter: &server.config.datacenter,
                status: if alive { ALIVE } else { FAILED },
                role: Role::Client,
            })
        })
        .collect()
}

/// `PUT /v1/agent/leave` on a server: a leader first hands leadership to
/// another voter; then it leaves the Raft configuration and stops. The only voter just stops: there is no one to leave.
pub async fn leave(State(server): State<Arc<Server>>, authz: Authz) -> Result<(), ApiError> {
    authz.require(Resource::Agent, &server.me.name, Access::Write)?;
    let voters = server.raft.metrics().borrow().membership_config.membership().voter_ids().count();
    if voters > 1 {
        // Hand leadership on first, so the cluster never waits out an
        // election; if that fails, removing the leader still elects anew.
        if server.is_leader() {
            if let Err(e) = server.transfer_leader(None).await {
                tracing::warn!(error = %e, "leadership transfer before leaving failed; leaving anyway");
            }
        }
        server.remove_voter(PeerRef::NodeId(server.me.node_id.clone())).await?;
        tracing::info!("left the Raft configuration; shutting down");
    }
    server.tasks.shutdown().cancel();
    Ok(())
}

/// `PUT /v1/agent/force-leave/:node`: a server in the Raft configuration
/// loses its vote; any other node leaves the catalog (with or without
/// `?prune`: there is no gossip member list to keep it in). Unknown: 404.
pub async fn force_leave(
    State(server): State<Arc<Server>>,
    axum::extract::Path(node): axum::extract::Path<String>,
    authz: Authz,
) -> Result<(), ApiError> {
    authz.require(Resource::Operator, "", Access::Write)?;
    let server_id = {
        let metrics = server.raft.metrics().borrow().clone();
        let found = metrics
            .membership_config
            .membership()
            .nodes()
            .find(|(_, n)| n.name == node)
            .map(|(_, n)| n.node_id.clone());
        found
    };
    if let Some(node_id) = server_id {
        server.remove_voter(PeerRef::NodeId(node_id)).await?;
        return Ok(());
    }
    if server.store.view().node(&node)?.is_none() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            format!("agent: No node found with name '{node}'"),
        ));
    }
    let command = tessera_store::command::Command::CatalogDeregister { node, service_id: None, check_id: None };
    server.write(command).await?;
    Ok(())
}

/// `/v1/agent/version`, Consul's shape.
pub async fn version() -> Json<AgentVersion> {
    Json(AgentVersion {
        sdk_version: CONSUL_API_VERSION.to_string(),
        build_date: String::new(),
        human_version: format!("{CONSUL_API_VERSION} (Tessera {TESSERA_VERSION})"),
        fips: String::new(),
        tessera_version: TESSERA_VERSION.to_string(),
    })
}

pub async fn agent_self(
    State(server): State<Arc<Server>>,
    State(agent): State<Arc<Agent>>,
    authz: Authz,
) -> Result<Json<AgentSelf>, ApiError> {
    authz.require(Resource::Agent, &server.me.name, Access::Read)?;
    let leader = server.leader().map(|(_, node)| node.rpc_addr).unwrap_or_default();
    let consul = BTreeMap::from([
        ("server", "true".to_string()),
        ("leader", server.is_leader().to_string()),
        ("leader_addr", leader),
        ("bootstrap", (server.config.bootstrap_expect == 1).to_string()),
        ("known_datacenters", "1".to_string()),
        ("acl", agent_self::acl_stat(&server.config).to_string()),
    ]);
    let mode = agent_self::Mode {
        member: member(&server, &server.me, ALIVE),
        consul,
        raft: Some(agent_self::raft_stats(&server)),
        tasks: server.tasks.tracker().len(),
    };
    Ok(Json(agent_self::build(&server.config, &agent, mode)))
}

/// `/v1/agent/host`.
pub async fn host(
    State(server): State<Arc<Server>>,
    authz: Authz,
) -> Result<Json<crate::http::host::HostInfo>, ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    Ok(crate::http::host::answer(server.config.data_dir.clone()).await)
}

/// `PUT /v1/agent/join/:address` (`?wan` is refused: one datacenter).
pub async fn join(
    State(server): State<Arc<Server>>,
    axum::extract::Path(address): axum::extract::Path<String>,
    params: crate::http::query::QueryParams,
    authz: Authz,
) -> Result<(), ApiError> {
    authz.require(Resource::Agent, &server.me.name, Access::Write)?;
    let addr = join_address(&address, &params, server.config.server_port)?;
    crate::cluster::bootstrap::join_via(&server, &addr).await.map_err(ApiError::internal)
}

/// The address to join, with the server port when none is given.
pub fn join_address(
    address: &str,
    params: &crate::http::query::QueryParams,
    server_port: u16,
) -> Result<String, ApiError> {
    if params.flag("wan")? {
        return Err(ApiError::bad_request("WAN join is not supported: Tessera serves one datacenter"));
    }
    let has_port = address
        .rsplit_once(':')
        .is_some_and(|(host, port)| port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']')));
    Ok(if has_port { address.to_string() } else { format!("{address}:{server_port}") })
}
