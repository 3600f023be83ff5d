//! The HTTP API on the client address (8500), with Consul's paths, JSON
//! shapes, headers and status codes. Handlers are thin: parse, call the
//! [`Server`], shape the answer.

pub mod acl;
pub mod agent;
mod agent_connect;
pub mod agent_self;
mod agent_services;
mod agent_token;
mod api_rows;
pub mod authz;
mod autopilot;
mod blocking;
pub mod browser;
pub mod catalog;
pub mod client;
mod connect;
pub mod connect_shapes;
mod filter;
pub mod health;
pub mod host;
pub mod https;
mod kv;
mod listen;
pub mod member;
mod metrics;
mod monitor;
pub mod query;
mod status;
mod ui;
mod usage;

use std::sync::Arc;

use axum::extract::FromRef;
use axum::http::header::HeaderName;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::delete;
use axum::routing::get;
use axum::routing::put;
use axum::Router;
use tessera_mesh::decode;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::consensus::Server;
use crate::consensus::ServerError;
use crate::limits::ListenerLimits;
use crate::transport;

/// What the handlers share: the server (Raft, store) and this process's agent.
#[derive(Clone)]
pub struct App {
    pub server: Arc<Server>,
    pub agent: Arc<Agent>,
}

impl FromRef<App> for Arc<Server> {
    fn from_ref(app: &App) -> Arc<Server> {
        app.server.clone()
    }
}

impl FromRef<App> for Arc<Agent> {
    fn from_ref(app: &App) -> Arc<Agent> {
        app.agent.clone()
    }
}

/// The endpoints about this agent's own services and checks, answered
/// locally by servers and client agents alike.
pub fn agent_routes<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
    Arc<Agent>: FromRef<S>,
{
    Router::new()
        .route("/v1/agent/services", get(agent_services::services))
        .route("/v1/agent/service/{id}", get(agent_services::service))
        .route("/v1/agent/service/register", put(agent_services::register_service))
        .route("/v1/agent/service/deregister/{id}", put(agent_services::deregister_service))
        .route("/v1/agent/checks", get(agent_services::checks))
        .route("/v1/agent/check/register", put(agent_services::register_check))
        .route("/v1/agent/check/deregister/{id}", put(agent_services::deregister_check))
        .route("/v1/agent/check/pass/{id}", put(agent_services::pass))
        .route("/v1/agent/check/warn/{id}", put(agent_services::warn))
        .route("/v1/agent/check/fail/{id}", put(agent_services::fail))
        .route("/v1/agent/check/update/{id}", put(agent_services::update))
        .route("/v1/agent/maintenance", put(agent_services::node_maintenance))
        .route("/v1/agent/service/maintenance/{id}", put(agent_services::service_maintenance))
        .route("/v1/agent/reload", put(agent_services::reload))
        .route("/v1/agent/token/{kind}", put(agent_token::set))
        .route("/v1/agent/health/service/name/{name}", get(agent_services::health_by_name))
        .route("/v1/agent/health/service/id/{id}", get(agent_services::health_by_id))
        .route("/v1/agent/version", get(agent::version))
        .route("/v1/agent/monitor", get(monitor::monitor))
        .route("/v1/agent/metrics", get(metrics::agent_metrics))
        .route("/", get(ui::root))
        .route("/ui", get(ui::page))
        .route("/ui/", get(ui::page))
        .route("/v1/agent/connect/ca/roots", get(agent_connect::roots))
        .route("/v1/agent/connect/ca/leaf/{service}", get(agent_connect::leaf))
        .route("/v1/agent/connect/authorize", axum::routing::post(agent_connect::authorize))
}

pub fn router(app: App) -> Router {
    agent_routes::<App>()
        .route("/v1/status/leader", get(status::leader))
        .route("/v1/status/peers", get(status::peers))
        .route("/v1/operator/raft/configuration", get(status::raft_configuration))
        .route("/v1/operator/raft/peer", delete(status::remove_peer))
        .route("/v1/operator/raft/transfer-leader", axum::routing::post(status::transfer_leader))
        .route("/v1/operator/autopilot/configuration", get(autopilot::configuration).put(autopilot::set_configuration))
        .route("/v1/operator/autopilot/health", get(autopilot::health))
        .route("/v1/operator/autopilot/state", get(autopilot::state))
        .route("/v1/operator/usage", get(usage::usage))
        .route("/v1/agent/members", get(agent::members))
        .route("/v1/agent/self", get(agent::agent_self))
        .route("/v1/agent/host", get(agent::host))
        .route("/v1/agent/leave", put(agent::leave))
        .route("/v1/agent/join/{address}", put(agent::join))
        .route("/v1/agent/force-leave/{node}", put(agent::force_leave))
        .route("/v1/kv", get(kv::get_root).put(kv::put_root).delete(kv::delete_root))
        .route("/v1/kv/", get(kv::get_root).put(kv::put_root).delete(kv::delete_root))
        .route("/v1/kv/{*key}", get(kv::get).put(kv::put).delete(kv::delete))
        .route("/v1/catalog/services", get(catalog::services))
        .route("/v1/catalog/service/{name}", get(catalog::service))
        .route("/v1/catalog/nodes", get(catalog::nodes))
        .route("/v1/catalog/node/{name}", get(catalog::node))
        .route("/v1/catalog/datacenters", get(catalog::datacenters))
        .route("/v1/catalog/connect/{name}", get(catalog::connect))
        .route("/v1/catalog/node-services/{name}", get(catalog::node_services))
        .route("/v1/catalog/register", put(catalog::register))
        .route("/v1/catalog/deregister", put(catalog::deregister))
        .route("/v1/health/service/{name}", get(health::service))
        .route("/v1/health/connect/{name}", get(health::connect))
        .route("/v1/health/ingress/{name}", get(health::ingress))
        .route("/v1/health/checks/{service}", get(health::checks))
        .route("/v1/health/node/{node}", get(health::node))
        .route("/v1/health/state/{state}", get(health::state))
        .route("/v1/connect/ca/roots", get(connect::roots))
        .route("/v1/connect/ca/configuration", get(connect::get_ca_config).put(connect::put_ca_config))
        .route("/v1/connect/intentions", get(connect::list).post(connect::create))
        .route(
            "/v1/connect/intentions/exact",
            get(connect::get_exact).put(connect::put_exact).delete(connect::delete_exact),
        )
        .route("/v1/connect/intentions/check", get(connect::check))
        .route("/v1/connect/intentions/match", get(connect::matches))
        .merge(acl::routes())
        .fallback(not_found)
        .layer(axum::middleware::from_fn_with_state(app.server.config.datacenter.clone(), query::common_params))
        .layer(axum::middleware::from_fn_with_state(app.agent.acl().default_policy(), authz::default_policy_header))
        // Outermost: every request is timed and counted by its route
        // pattern, those the parameters check refuses included.
        .layer(axum::middleware::from_fn_with_state(app.agent.metrics().http.clone(), crate::metrics::record_http))
        .with_state(app)
}

pub async fn serve(
    listener: TcpListener,
    app: App,
    limits: &ListenerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_router(listener, router(app), limits, shutdown).await
}

/// Serves `router` on the plain HTTP port until `shutdown` is cancelled:
/// connections accepted under `limits.http()` (each counted against its
/// client address; nodelay set), headers bounded by the header timeout.
pub async fn serve_router(
    listener: TcpListener,
    router: Router,
    limits: &ListenerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let router = browser::guarded(router, listener.local_addr()?);
    let conns = transport::accept::accepting(listener, "HTTP API", limits.http(), |stream, addr| {
        Box::pin(std::future::ready(Some((stream, addr, listen::Protocol::Http1))))
    });
    listen::serve(conns, router, limits.config.http_header_timeout, shutdown).await;
    Ok(())
}

pub async fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "404 page not found\n").into_response()
}

/// An error as Consul's HTTP API shows it: a status code and plain text.
pub struct ApiError {
    status: StatusCode,
    message: String,
}

/// A JSON answer serialized straight to its bytes (Go's `json.Marshal`
/// order: the fields as the typed answer declares them). `?pretty` is
/// applied later, by `query::common_params`, on these bytes.
pub fn json_body<T: serde::Serialize + ?Sized>(value: &T) -> Result<Response, ApiError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ApiError::internal(format!("cannot encode the answer: {e}")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response())
}

/// A JSON request body decoded as Go's decoder would (any key case, `null`
/// as absent; `tessera_mesh::decode`), or 400 naming what did not parse, in
/// Consul's and Go's words (`Request decode failed: json: unknown field "X"`).
pub fn decode_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let failed =
        |e: serde_json::Error| ApiError::bad_request(format!("Request decode failed: {}", decode::go_error(&e)));
    decode::from_slice(body).map_err(failed)
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: message.into() }
    }

    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into() }
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        ApiError { status, message: e.to_string() }
    }
}

impl From<tessera_store::StoreError> for ApiError {
    fn from(e: tessera_store::StoreError) -> Self {
        ServerError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, self.message).into_response()
    }
}

/// Consul's read headers: the index and whether a leader is known.
pub fn read_headers(server: &Server, index: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-consul-index", index.max(1).to_string());
    set("x-consul-knownleader", server.leader().is_some().to_string());
    set("x-consul-lastcontact", "0".to_string());
    headers
}
