//! `/v1/agent/service*`, `/v1/agent/check*`, `/v1/agent/reload`: this
//! agent's own services and checks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use tessera_mesh::catalog::CheckDefinition;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceDefinition;

use crate::agent::Agent;
use crate::agent::AgentError;
use crate::http::authz::filtered_response;
use crate::http::authz::Authz;
use crate::http::decode_body;
use crate::http::filter;
use crate::http::json_body;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::api::catalog::AgentService;
use tessera_mesh::api::catalog::Check;
use tessera_mesh::api::entries::AgentServiceChecks;

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Invalid(m) => ApiError::bad_request(m),
            AgentError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, m),
        }
    }
}

fn datacenter(agent: &Agent) -> String {
    agent.node().datacenter.clone()
}

/// Whether the token may see a local check: its service's read, or the
/// node's for a node check.
fn may_read_check(authz: &Authz, check: &HealthCheck) -> bool {
    match check.service_id.is_empty() {
        true => authz.node_read(&check.node),
        false => authz.service_read(&check.service_name),
    }
}

pub async fn services(
    State(agent): State<Arc<Agent>>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::AGENT_SERVICE)?;
    let dc = datacenter(&agent);
    let mut services = agent.services();
    let hidden = crate::http::authz::retain_allowed(&mut services, |s| authz.service_read(&s.name));
    let by_id: BTreeMap<&str, AgentService<'_>> =
        services.iter().map(|s| (s.id.as_str(), AgentService::new(s, &dc))).collect();
    Ok(filtered_response(json_body(&filter::retain_typed_values(by_id, filter.as_ref())?)?, &authz, hidden))
}

pub async fn service(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    authz: Authz,
) -> Result<Response, ApiError> {
    let service =
        agent.service(&id).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("unknown service ID: {id}")))?;
    authz.require(Resource::Service, &service.name, Access::Read)?;
    let dc = datacenter(&agent);
    let mut answer = AgentService::new(&service, &dc);
    answer.content_hash = Some(content_hash(&answer)?);
    json_body(&answer)
}

/// A stable hash of an answer (without its hash), for hash-based blocking (`?hash=`).
fn content_hash(answer: &AgentService<'_>) -> Result<String, ApiError> {
    use std::hash::Hash;
    use std::hash::Hasher;
    let bytes = serde_json::to_vec(answer).map_err(|e| ApiError::internal(e.to_string()))?;
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

pub async fn checks(State(agent): State<Arc<Agent>>, params: QueryParams, authz: Authz) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::CHECK)?;
    let mut checks = agent.checks();
    let hidden = crate::http::authz::retain_allowed(&mut checks, |c| may_read_check(&authz, c));
    let by_id: BTreeMap<&str, Check<'_>> = checks.iter().map(|c| (c.check_id.as_str(), Check::from(c))).collect();
    Ok(filtered_response(json_body(&filter::retain_typed_values(by_id, filter.as_ref())?)?, &authz, hidden))
}

/// The service names a registration writes, each needing service:write
/// (Consul's `vetServiceRegister`): the service, its sidecar, a proxy's
/// destination, and the service the same ID replaces.
fn written_names(agent: &Agent, definition: &ServiceDefinition) -> Vec<String> {
    let mut names = vec![definition.name.clone()];
    if let Some(sidecar) = definition.connect.as_ref().and_then(|c| c.sidecar_service.as_deref()) {
        names.push(match sidecar.name.is_empty() {
            true => format!("{}-sidecar-proxy", definition.name),
            false => sidecar.name.clone(),
        });
    }
    if let Some(destination) = definition.proxy.as_ref().map(|p| &p.destination_service_name) {
        names.push(destination.clone());
    }
    if let Some(replaced) = agent.service(&definition.effective_id()) {
        names.push(replaced.name);
    }
    names.retain(|n| !n.is_empty());
    names.dedup();
    names
}

pub async fn register_service(State(agent): State<Arc<Agent>>, authz: Authz, body: Bytes) -> Result<(), ApiError> {
    let definition: ServiceDefinition = decode_body(&body)?;
    for name in written_names(&agent, &definition) {
        authz.require(Resource::Service, &name, Access::Write)?;
    }
    agent.register_service(&definition)?;
    Ok(())
}

pub async fn deregister_service(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    authz: Authz,
) -> Result<(), ApiError> {
    if let Some(service) = agent.service(&id) {
        authz.require(Resource::Service, &service.name, Access::Write)?;
    }
    Ok(agent.deregister_service(&id)?)
}

/// Writing a check needs service:write on its service, or node:write on
/// this agent's node for a node check.
fn require_check_write(agent: &Agent, authz: &Authz, service_id: &str) -> Result<(), ApiError> {
    if service_id.is_empty() {
        return Ok(authz.require(Resource::Node, &agent.node().name, Access::Write)?);
    }
    match agent.service(service_id) {
        Some(service) => Ok(authz.require(Resource::Service, &service.name, Access::Write)?),
        // The registration is refused for the unknown service anyway.
        None => Ok(()),
    }
}

/// The same, for an existing check by ID (unknown IDs are left to the
/// handler's own 404).
fn require_existing_check_write(agent: &Agent, authz: &Authz, check_id: &str) -> Result<(), ApiError> {
    match agent.checks().into_iter().find(|c| c.check_id == check_id) {
        Some(check) if check.service_id.is_empty() => {
            Ok(authz.require(Resource::Node, &agent.node().name, Access::Write)?)
        }
        Some(check) => Ok(authz.require(Resource::Service, &check.service_name, Access::Write)?),
        None => Ok(()),
    }
}

pub async fn register_check(State(agent): State<Arc<Agent>>, authz: Authz, body: Bytes) -> Result<(), ApiError> {
    let definition: CheckDefinition = decode_body(&body)?;
    require_check_write(&agent, &authz, &definition.service_id)?;
    if let Some(id) = definition.id.as_deref().filter(|id| !id.is_empty()) {
        require_existing_check_write(&agent, &authz, id)?;
    }
    agent.register_check(&definition)?;
    Ok(())
}

pub async fn deregister_check(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    authz: Authz,
) -> Result<(), ApiError> {
    require_existing_check_write(&agent, &authz, &id)?;
    Ok(agent.deregister_check(&id)?)
}

async fn update_ttl(
    agent: &Agent,
    authz: &Authz,
    id: &str,
    status: CheckStatus,
    params: &QueryParams,
) -> Result<(), ApiError> {
    require_existing_check_write(agent, authz, id)?;
    let note = params.get("note").map(String::as_str).unwrap_or("");
    Ok(agent.update_ttl(id, status, note)?)
}

pub async fn pass(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    p: QueryParams,
    authz: Authz,
) -> Result<(), ApiError> {
    update_ttl(&agent, &authz, &id, CheckStatus::Passing, &p).await
}

pub async fn warn(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    p: QueryParams,
    authz: Authz,
) -> Result<(), ApiError> {
    update_ttl(&agent, &authz, &id, CheckStatus::Warning, &p).await
}

pub async fn fail(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    p: QueryParams,
    authz: Authz,
) -> Result<(), ApiError> {
    update_ttl(&agent, &authz, &id, CheckStatus::Critical, &p).await
}

/// The body of `/v1/agent/check/update/:id`: a TTL check's status and output.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CheckUpdate {
    #[serde(default)]
    status: String,
    #[serde(default)]
    output: String,
}

pub async fn update(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    authz: Authz,
    body: Bytes,
) -> Result<(), ApiError> {
    require_existing_check_write(&agent, &authz, &id)?;
    let update: CheckUpdate = decode_body(&body)?;
    let status = CheckStatus::parse(&update.status)
        .ok_or_else(|| ApiError::bad_request(format!("Invalid check status: '{}'", update.status)))?;
    Ok(agent.update_ttl(&id, status, &update.output)?)
}

/// `?enable=` of the maintenance endpoints: required, a Go boolean.
fn enable(params: &QueryParams) -> Result<bool, ApiError> {
    match params.get("enable") {
        None => Err(ApiError::bad_request("Missing value for enable")),
        Some(_) => params.flag("enable").map_err(|_| ApiError::bad_request("Invalid value for enable")),
    }
}

fn reason(params: &QueryParams) -> &str {
    params.get("reason").map_or("", String::as_str)
}

/// `PUT /v1/agent/maintenance?enable=true|false&reason=...`
pub async fn node_maintenance(
    State(agent): State<Arc<Agent>>,
    params: QueryParams,
    authz: Authz,
) -> Result<(), ApiError> {
    authz.require(Resource::Node, &agent.node().name, Access::Write)?;
    agent.set_node_maintenance(enable(&params)?, reason(&params));
    Ok(())
}

/// `PUT /v1/agent/service/maintenance/:id?enable=true|false&reason=...`
pub async fn service_maintenance(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<(), ApiError> {
    if let Some(service) = agent.service(&id) {
        authz.require(Resource::Service, &service.name, Access::Write)?;
    }
    Ok(agent.set_service_maintenance(&id, enable(&params)?, reason(&params))?)
}

/// Consul answers a refused reload with 500 and the reason.
pub async fn reload(State(agent): State<Arc<Agent>>, authz: Authz) -> Result<(), ApiError> {
    authz.require(Resource::Agent, &agent.node().name, Access::Write)?;
    agent
        .reload()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("Failed reloading configuration: {e}")))
}

/// `/v1/agent/health/service/name/:name`: 200 passing, 429 warning, 503 critical.
pub async fn health_by_name(
    State(agent): State<Arc<Agent>>,
    Path(name): Path<String>,
    authz: Authz,
) -> Result<Response, ApiError> {
    authz.require(Resource::Service, &name, Access::Read)?;
    Ok(health_by_name_allowed(&agent, &name))
}

fn health_by_name_allowed(agent: &Agent, name: &str) -> Response {
    let services: Vec<_> = agent.services().into_iter().filter(|s| s.name == name).collect();
    if services.is_empty() {
        return (StatusCode::NOT_FOUND, format!("ServiceName {name} Not Found")).into_response();
    }
    let (checks, dc) = (agent.checks(), datacenter(agent));
    let (worst, entries) = local_health(&services, &checks, &dc);
    (health_code(worst), Json(entries)).into_response()
}

/// `/v1/agent/health/service/id/:id`: one instance, the same codes.
pub async fn health_by_id(
    State(agent): State<Arc<Agent>>,
    Path(id): Path<String>,
    authz: Authz,
) -> Result<Response, ApiError> {
    let Some(service) = agent.service(&id) else {
        return Ok((StatusCode::NOT_FOUND, format!("ServiceId {id} not found")).into_response());
    };
    authz.require(Resource::Service, &service.name, Access::Read)?;
    let services = [service];
    let (checks, dc) = (agent.checks(), datacenter(&agent));
    let (worst, mut entries) = local_health(&services, &checks, &dc);
    Ok((health_code(worst), Json(entries.remove(0))).into_response())
}

/// Each service with its own checks and their worst status, and the worst of all.
fn local_health<'a>(
    services: &'a [Service],
    checks: &'a [HealthCheck],
    dc: &'a str,
) -> (CheckStatus, Vec<AgentServiceChecks<'a>>) {
    let mut worst = CheckStatus::Passing;
    let entries = services
        .iter()
        .map(|s| {
            let own: Vec<&HealthCheck> = checks.iter().filter(|c| c.service_id == s.id).collect();
            let status = own.iter().map(|c| c.status).max().unwrap_or(CheckStatus::Passing);
            worst = worst.max(status);
            AgentServiceChecks {
                aggregated_status: status.as_str().into(),
                service: AgentService::new(s, dc),
                checks: own.into_iter().map(Check::from).collect(),
            }
        })
        .collect();
    (worst, entries)
}

fn health_code(worst: CheckStatus) -> StatusCode {
    match worst {
        CheckStatus::Passing => StatusCode::OK,
        CheckStatus::Warning => StatusCode::TOO_MANY_REQUESTS,
        CheckStatus::Critical => StatusCode::SERVICE_UNAVAILABLE,
    }
}
