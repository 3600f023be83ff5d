//! `/v1/health/*`: service instances with their checks, and checks by
//! service, node or state.

use std::sync::Arc;

use axum::extract::Path;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde_json::Value;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;

use crate::acl::caller::Caller;
use crate::consensus::Server;
use crate::health::instances;
use crate::health::Instance;
use crate::http::api_rows;
use crate::http::authz::mark_filtered;
use crate::http::authz::Authz;
use crate::http::catalog::instance_readable;
use crate::http::catalog::prepare;
use crate::http::filter;
use crate::http::json_body;
use crate::http::query::QueryParams;
use crate::http::query::Wanted;
use crate::http::read_headers;
use crate::http::ApiError;
use tessera_mesh::api::catalog::Check;
use tessera_mesh::api::entries::HealthEntry;
use tessera_store::Row;
use tessera_store::StoreError;
use tessera_store::Table;
use tessera_store::View;

fn entry(instance: &Instance) -> HealthEntry<'_> {
    api_rows::health_entry(&instance.node, &instance.service, &instance.checks)
}

/// The instances of `name` (its proxies and native instances with
/// `connect`) the token may see: node:read on the node and service:read
/// on the service (Consul's `filterCheckServiceNodes`), and for `connect`
/// service:read on `name` too.
async fn service_entries(
    server: &Server,
    authz: &Caller,
    name: &str,
    params: &QueryParams,
    connect: bool,
) -> Result<Response, ApiError> {
    let passing_only = params.flag("passing")?;
    let filter = filter::requested(params, filter::HEALTH_ENTRY)?;
    prepare(server, params).await?;
    let wanted = Wanted::from(params);
    let target_readable = !connect || authz.service_read(name);
    let read = server.store.read(Table::Catalog, |view| instances(view, name, connect))?;
    let mut removed = false;
    let entries: Vec<HealthEntry<'_>> = read
        .value
        .iter()
        .filter(|i| wanted.instance(&i.node.value, &i.service.value))
        .filter(|i| {
            let readable = target_readable && instance_readable(authz, &i.node.value, &i.service.value);
            removed |= !readable;
            readable
        })
        .filter(|i| !passing_only || i.status() == CheckStatus::Passing)
        .map(entry)
        .collect();
    let entries = filter::retain_typed(entries, filter.as_ref())?;
    let mut headers = read_headers(server, read.index);
    mark_filtered(&mut headers, authz, removed);
    Ok((headers, json_body(&entries)?).into_response())
}

pub async fn service(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    service_entries(&server, &authz, &name, &params, false).await
}

pub async fn connect(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    service_entries(&server, &authz, &name, &params, true).await
}

/// `/v1/health/ingress/:service`: the ingress gateways for a service. There
/// are none until gateways exist, so the answer is empty, at the catalog's
/// index (a blocking query still blocks). The token is still resolved: an
/// unknown one is refused, as everywhere.
pub async fn ingress(
    State(server): State<Arc<Server>>,
    _authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    params.flag("passing")?;
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |_| Ok(()))?;
    Ok((read_headers(&server, read.index), Json(Vec::<Value>::new())).into_response())
}

/// May the token see this check: node:read on its node, and service:read
/// on its service if it has one (Consul's `filterHealthChecks`).
fn check_readable(authz: &Caller, check: &HealthCheck) -> bool {
    authz.node_read(&check.node) && (check.service_name.is_empty() || authz.service_read(&check.service_name))
}

/// The checks `read` returns that `keep` accepts and the token may see
/// (`readable`), after the blocking wait.
async fn checks_where(
    server: &Server,
    authz: &Caller,
    params: &QueryParams,
    read: impl FnOnce(&View<'_>) -> Result<Vec<Row<HealthCheck>>, StoreError>,
    readable: impl Fn(&HealthCheck) -> bool,
    keep: impl Fn(&HealthCheck) -> bool,
) -> Result<Response, ApiError> {
    let filter = filter::requested(params, filter::CHECK)?;
    prepare(server, params).await?;
    let read = server.store.read(Table::Catalog, read)?;
    let mut removed = false;
    let checks: Vec<Check<'_>> = read
        .value
        .iter()
        .filter(|r| keep(&r.value))
        .filter(|r| {
            let allowed = readable(&r.value);
            removed |= !allowed;
            allowed
        })
        .map(api_rows::check)
        .collect();
    let checks = filter::retain_typed(checks, filter.as_ref())?;
    let mut headers = read_headers(server, read.index);
    mark_filtered(&mut headers, authz, removed);
    Ok((headers, json_body(&checks)?).into_response())
}

/// Every check listed belongs to an instance of `service`: service:read
/// on it decides, whatever name a check carries.
pub async fn checks(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(service): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let service_readable = authz.service_read(&service);
    let readable = |c: &HealthCheck| service_readable && authz.node_read(&c.node);
    checks_where(&server, &authz, &params, |view| view.service_checks(&service), readable, |_| true).await
}

pub async fn node(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(node): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let readable = |c: &HealthCheck| check_readable(&authz, c);
    checks_where(&server, &authz, &params, |view| view.node_checks(&node), readable, |_| true).await
}

pub async fn state(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(state): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let wanted = match state.as_str() {
        "any" => None,
        other => {
            Some(CheckStatus::parse(other).ok_or_else(|| ApiError::bad_request(format!("Invalid state {other:?}")))?)
        }
    };
    let readable = |c: &HealthCheck| check_readable(&authz, c);
    let keep = |c: &HealthCheck| wanted.is_none_or(|w| c.status == w);
    checks_where(&server, &authz, &params, |view| view.all_checks(), readable, keep).await
}
