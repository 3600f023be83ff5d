//! `/v1/catalog/*`: the cluster-wide service catalog.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use serde_json::Value;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::ServiceDefinition;

use crate::consensus::Server;
use crate::http::decode_body;
use crate::http::read_headers;
use crate::http::shapes;
use crate::http::ApiError;
use tessera_store::command::Command;
use tessera_store::Table;

type Params = Query<HashMap<String, String>>;

/// Waits as the query asks on the catalog.
pub async fn prepare(server: &Server, params: &HashMap<String, String>) -> Result<(), ApiError> {
    crate::http::blocking::prepare_table(server, params, Table::Catalog).await
}

pub async fn services(State(server): State<Arc<Server>>, Query(params): Params) -> Result<Response, ApiError> {
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| view.service_names())?;
    Ok((read_headers(&server, read.index), Json(read.value)).into_response())
}

pub async fn service(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    prepare(&server, &params).await?;
    let tag = params.get("tag");
    let read = server.store.read(Table::Catalog, |view| view.instances(&name))?;
    let rows: Vec<Value> = read
        .value
        .iter()
        .filter(|(_, s)| tag.is_none_or(|t| s.value.tags.contains(t)))
        .map(|(n, s)| shapes::catalog_service(n, s))
        .collect();
    Ok((read_headers(&server, read.index), Json(rows)).into_response())
}

pub async fn nodes(State(server): State<Arc<Server>>, Query(params): Params) -> Result<Response, ApiError> {
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| {
        let mut rows = view.nodes()?;
        if let Some(service) = params.get("service") {
            let with: BTreeSet<String> = view.instances(service)?.into_iter().map(|(n, _)| n.value.name).collect();
            rows.retain(|n| with.contains(&n.value.name));
        }
        Ok(rows)
    })?;
    let nodes: Vec<Value> = read.value.iter().map(shapes::node).collect();
    Ok((read_headers(&server, read.index), Json(nodes)).into_response())
}

pub async fn node(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| match view.node(&name)? {
        Some(node) => Ok(Some((node, view.node_services(&name)?))),
        None => Ok(None),
    })?;
    let Some((node, services)) = read.value else {
        return Ok((read_headers(&server, read.index), Json(Value::Null)).into_response());
    };
    let services: BTreeMap<String, Value> = services
        .iter()
        .map(|row| (row.value.id.clone(), shapes::indexed(shapes::service(&row.value, &node.value.datacenter), row)))
        .collect();
    let body = json!({"Node": shapes::node(&node), "Services": services});
    Ok((read_headers(&server, read.index), Json(body)).into_response())
}

pub async fn datacenters(State(server): State<Arc<Server>>) -> Json<Vec<String>> {
    Json(vec![server.config.datacenter.clone()])
}

/// The body of `/v1/catalog/register` (Consul's field names).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterBody {
    #[serde(rename = "ID", default)]
    id: String,
    node: String,
    address: String,
    #[serde(default)]
    datacenter: String,
    #[serde(default)]
    node_meta: BTreeMap<String, String>,
    #[serde(default)]
    service: Option<ServiceDefinition>,
    #[serde(default)]
    check: Option<RegisterCheck>,
    #[serde(default)]
    checks: Vec<RegisterCheck>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RegisterCheck {
    #[serde(rename = "CheckID", default)]
    check_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    status: String,
    #[serde(rename = "ServiceID", default)]
    service_id: String,
    #[serde(default)]
    notes: String,
    #[serde(default)]
    output: String,
}

pub async fn register(State(server): State<Arc<Server>>, body: Bytes) -> Result<Json<bool>, ApiError> {
    let body: RegisterBody = decode_body(&body)?;
    if body.node.is_empty() || body.address.is_empty() {
        return Err(ApiError::bad_request("Must provide node and address"));
    }
    let datacenter = if body.datacenter.is_empty() { server.config.datacenter.clone() } else { body.datacenter };
    let node = Node { name: body.node.clone(), id: body.id, address: body.address, datacenter, meta: body.node_meta };
    let service = match body.service {
        Some(definition) => {
            definition.validate().map_err(|e| ApiError::bad_request(format!("Invalid service: {e}")))?;
            Some(definition.to_service())
        }
        None => None,
    };
    let checks = body
        .check
        .into_iter()
        .chain(body.checks)
        .map(|c| to_health_check(c, &body.node, service.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    server.write(Command::CatalogRegister { node, service, checks }).await?;
    Ok(Json(true))
}

fn to_health_check(
    c: RegisterCheck,
    node: &str,
    service: Option<&tessera_mesh::catalog::Service>,
) -> Result<HealthCheck, ApiError> {
    let status = match c.status.as_str() {
        "" => CheckStatus::Critical,
        other => {
            CheckStatus::parse(other).ok_or_else(|| ApiError::bad_request(format!("Invalid check status {other:?}")))?
        }
    };
    let id = if c.check_id.is_empty() { c.name.clone() } else { c.check_id };
    let owner = service.filter(|s| s.id == c.service_id);
    Ok(HealthCheck {
        node: node.to_string(),
        check_id: id.clone(),
        name: if c.name.is_empty() { id } else { c.name },
        status,
        notes: c.notes,
        output: c.output,
        service_id: c.service_id,
        service_name: owner.map(|s| s.name.clone()).unwrap_or_default(),
        service_tags: owner.map(|s| s.tags.clone()).unwrap_or_default(),
        ..HealthCheck::default()
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeregisterBody {
    node: String,
    #[serde(rename = "ServiceID", default)]
    service_id: Option<String>,
    #[serde(rename = "CheckID", default)]
    check_id: Option<String>,
}

pub async fn deregister(State(server): State<Arc<Server>>, body: Bytes) -> Result<Json<bool>, ApiError> {
    let body: DeregisterBody = decode_body(&body)?;
    if body.node.is_empty() {
        return Err(ApiError::bad_request("Must provide node"));
    }
    server
        .write(Command::CatalogDeregister { node: body.node, service_id: body.service_id, check_id: body.check_id })
        .await?;
    Ok(Json(true))
}
