//! A client agent's HTTP API: `/v1/agent/*` answered by the local agent,
//! everything else forwarded to a server (identical blocking queries
//! coalesced into one call).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::FromRef;
use axum::extract::State;
use axum::http::HeaderMap;
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
use tessera_store::command::Command;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::client_agent::coalesce;
use crate::client_agent::pool::ServerPool;
use crate::config::AgentConfig;
use crate::http;
use crate::http::agent_self;
use crate::http::agent_self::AgentSelf;
use crate::http::authz::Authz;
use crate::http::member;
use crate::http::member::MemberFacts;
use crate::http::member::Role;
use crate::tasks::Tasks;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

#[derive(Clone)]
pub struct ClientApp {
    pub config: Arc<AgentConfig>,
    pub agent: Arc<Agent>,
    pub tasks: Tasks,
    pub servers: Arc<ServerPool>,
    pub blocking: Arc<coalesce::Coalescer>,
    pub shutdown: CancellationToken,
}

impl FromRef<ClientApp> for Arc<Agent> {
    fn from_ref(app: &ClientApp) -> Arc<Agent> {
        app.agent.clone()
    }
}

pub fn router(app: ClientApp) -> axum::Router {
    let datacenter = app.agent.node().datacenter.clone();
    http::agent_routes::<ClientApp>()
        .route("/v1/agent/self", get(agent_self))
        .route("/v1/agent/host", get(host))
        .route("/v1/agent/leave", put(leave))
        .route("/v1/agent/join/{address}", put(join))
        .fallback(forward)
        .layer(axum::middleware::from_fn_with_state(datacenter, http::query::common_params))
        .layer(axum::middleware::from_fn_with_state(
            app.agent.acl().default_policy(),
            http::authz::default_policy_header,
        ))
        .layer(axum::middleware::from_fn_with_state(app.agent.metrics().http.clone(), crate::metrics::record_http))
        .with_state(app)
}

async fn agent_self(State(app): State<ClientApp>, authz: Authz) -> Result<Json<AgentSelf>, http::ApiError> {
    let node = app.agent.node();
    authz.require(Resource::Agent, &node.name, Access::Read)?;
    let member = member::member(MemberFacts {
        name: &node.name,
        node_id: &node.id,
        addr: &node.address,
        datacenter: &node.datacenter,
        status: member::ALIVE,
        role: Role::Client,
    });
    let consul = BTreeMap::from([
        ("server", "false".to_string()),
        ("known_servers", app.servers.known().len().to_string()),
        ("known_datacenters", "1".to_string()),
        ("acl", agent_self::acl_stat(&app.config).to_string()),
    ]);
    let mode = agent_self::Mode { member, consul, raft: None, tasks: app.tasks.tracker().len() };
    Ok(Json(agent_self::build(&app.config, &app.agent, mode)))
}

async fn host(State(app): State<ClientApp>, authz: Authz) -> Result<Json<http::host::HostInfo>, http::ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    Ok(http::host::answer(app.config.data_dir.clone()).await)
}

async fn join(
    State(app): State<ClientApp>,
    axum::extract::Path(address): axum::extract::Path<String>,
    params: http::query::QueryParams,
    authz: Authz,
) -> Result<(), http::ApiError> {
    authz.require(Resource::Agent, &app.agent.node().name, Access::Write)?;
    let addr = http::agent::join_address(&address, &params, app.config.server_port)?;
    app.servers.join(&addr, &app.config.datacenter).await.map_err(http::ApiError::internal)
}

/// Graceful leave: the node leaves the catalog, then the agent stops.
async fn leave(State(app): State<ClientApp>, authz: Authz) -> Response {
    let node = app.agent.node().name.clone();
    if let Err(denied) = authz.require(Resource::Agent, &node, Access::Write) {
        return http::ApiError::from(denied).into_response();
    }
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
/// The caller's token travels with the call (or this agent's default
/// token when it has none): the server checks it.
async fn forward(State(app): State<ClientApp>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string());
    if !path.starts_with("/v1/") {
        return http::not_found().await;
    }
    let params = http::query::QueryParams::parse(uri.query().unwrap_or(""));
    let token = http::authz::request_token(&headers, &params);
    let token = match app.agent.acl().tokens() {
        Some(tokens) => Some(tokens.forwarded(token)),
        None => token,
    };
    let answer = match coalesce::shareable(method.as_str(), &path) {
        true => app.blocking.get(app.servers.clone(), path, token).await,
        false => app
            .servers
            .forward(method.as_str(), &path, body.to_vec(), token.as_deref())
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
