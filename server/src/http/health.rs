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

use crate::consensus::Server;
use crate::health::instances;
use crate::health::Instance;
use crate::http::api_rows;
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

async fn service_entries(
    server: &Server,
    name: &str,
    params: &QueryParams,
    connect: bool,
) -> Result<Response, ApiError> {
    let passing_only = params.flag("passing")?;
    let filter = filter::requested(params, filter::HEALTH_ENTRY)?;
    prepare(server, params).await?;
    let wanted = Wanted::from(params);
    let read = server.store.read(Table::Catalog, |view| instances(view, name, connect))?;
    let entries: Vec<HealthEntry<'_>> = read
        .value
        .iter()
        .filter(|i| !passing_only || i.status() == CheckStatus::Passing)
        .filter(|i| wanted.instance(&i.node.value, &i.service.value))
        .map(entry)
        .collect();
    let entries = filter::retain_typed(entries, filter.as_ref())?;
    Ok((read_headers(server, read.index), json_body(&entries)?).into_response())
}

pub async fn service(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    service_entries(&server, &name, &params, false).await
}

pub async fn connect(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    service_entries(&server, &name, &params, true).await
}

/// `/v1/health/ingress/:service`: the ingress gateways for a service. There
/// are none until gateways exist, so the answer is empty, at the catalog's
/// index (a blocking query still blocks).
pub async fn ingress(State(server): State<Arc<Server>>, params: QueryParams) -> Result<Response, ApiError> {
    params.flag("passing")?;
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |_| Ok(()))?;
    Ok((read_headers(&server, read.index), Json(Vec::<Value>::new())).into_response())
}

/// The checks `read` returns that `keep` accepts, after the blocking wait.
async fn checks_where(
    server: &Server,
    params: &QueryParams,
    read: impl FnOnce(&View<'_>) -> Result<Vec<Row<HealthCheck>>, StoreError>,
    keep: impl Fn(&HealthCheck) -> bool,
) -> Result<Response, ApiError> {
    let filter = filter::requested(params, filter::CHECK)?;
    prepare(server, params).await?;
    let read = server.store.read(Table::Catalog, read)?;
    let checks: Vec<Check<'_>> = read.value.iter().filter(|r| keep(&r.value)).map(api_rows::check).collect();
    let checks = filter::retain_typed(checks, filter.as_ref())?;
    Ok((read_headers(server, read.index), json_body(&checks)?).into_response())
}

pub async fn checks(
    State(server): State<Arc<Server>>,
    Path(service): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    checks_where(&server, &params, |view| view.service_checks(&service), |_| true).await
}

pub async fn node(
    State(server): State<Arc<Server>>,
    Path(node): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    checks_where(&server, &params, |view| view.node_checks(&node), |_| true).await
}

pub async fn state(
    State(server): State<Arc<Server>>,
    Path(state): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let wanted = match state.as_str() {
        "any" => None,
        other => {
            Some(CheckStatus::parse(other).ok_or_else(|| ApiError::bad_request(format!("Invalid state {other:?}")))?)
        }
    };
    checks_where(&server, &params, |view| view.all_checks(), |c| wanted.is_none_or(|w| c.status == w)).await
}
