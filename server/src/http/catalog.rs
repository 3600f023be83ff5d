//! `/v1/catalog/*`: the cluster-wide service catalog.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tessera_mesh::catalog::definition::only_default;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::ServiceDefinition;

use crate::consensus::Server;
use crate::http::api_rows;
use crate::http::decode_body;
use crate::http::filter;
use crate::http::json_body;
use crate::http::query::QueryParams;
use crate::http::query::Wanted;
use crate::http::read_headers;
use crate::http::ApiError;
use tessera_mesh::api::catalog::AgentService;
use tessera_mesh::api::entries::CatalogNode;
use tessera_mesh::api::entries::NodeServiceList;
use tessera_store::command::Command;
use tessera_store::NodeService;
use tessera_store::Row;
use tessera_store::StoreError;
use tessera_store::Table;
use tessera_store::View;

/// Every instance with its node, for reads a summary cannot answer.
fn all_instances(view: &View<'_>) -> Result<Vec<NodeService>, StoreError> {
    let mut out = Vec::new();
    for (node, service) in view.all_services()? {
        if let Some(node) = view.node(&node)? {
            out.push((node, service));
        }
    }
    Ok(out)
}

/// Waits as the query asks on the catalog.
pub async fn prepare(server: &Server, params: &QueryParams) -> Result<(), ApiError> {
    crate::http::blocking::prepare_table(server, params, Table::Catalog).await
}

pub async fn services(State(server): State<Arc<Server>>, params: QueryParams) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::CATALOG_SERVICE)?;
    prepare(&server, &params).await?;
    let read = match &filter {
        None => server.store.read(Table::Catalog, |view| view.service_names())?,
        // A filter is over instances: list them, then fold names as the
        // summaries would.
        Some(filter) => {
            let read = server.store.read(Table::Catalog, all_instances)?;
            let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (n, s) in &read.value {
                if filter.matches_item(&api_rows::catalog_service(n, s)).map_err(filter::refused)? {
                    names.entry(s.value.name.clone()).or_default().extend(s.value.tags.iter().cloned());
                }
            }
            tessera_store::Read { value: names, index: read.index }
        }
    };
    Ok((read_headers(&server, read.index), Json(read.value)).into_response())
}

pub async fn service(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    catalog_instances(&server, &params, |view| view.instances(&name)).await
}

/// `/v1/catalog/connect/:service`: what Connect clients dial for it (its
/// proxies and native instances), in the catalog's shape.
pub async fn connect(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    catalog_instances(&server, &params, |view| {
        let instances = crate::health::instances(view, &name, true)?;
        Ok(instances.into_iter().map(|i| (i.node, i.service)).collect())
    })
    .await
}

/// Instances in the catalog's shape, after `?tag`, `?node-meta` and
/// `?filter`: what `/v1/catalog/service/:s` and `/connect/:s` answer.
async fn catalog_instances(
    server: &Server,
    params: &QueryParams,
    read: impl FnOnce(&View<'_>) -> Result<Vec<NodeService>, StoreError>,
) -> Result<Response, ApiError> {
    let filter = filter::requested(params, filter::CATALOG_SERVICE)?;
    prepare(server, params).await?;
    let wanted = Wanted::from(params);
    let read = server.store.read(Table::Catalog, read)?;
    let rows: Vec<tessera_mesh::api::entries::CatalogService<'_>> = read
        .value
        .iter()
        .filter(|(n, s)| wanted.instance(&n.value, &s.value))
        .map(|(n, s)| api_rows::catalog_service(n, s))
        .collect();
    let rows = filter::retain_typed(rows, filter.as_ref())?;
    Ok((read_headers(server, read.index), json_body(&rows)?).into_response())
}

/// `/v1/catalog/node-services/:node`: the node and its services as a list
/// (Consul's newer form of `/v1/catalog/node/:node`).
pub async fn node_services(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::AGENT_SERVICE)?;
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| node_with_services(view, &name))?;
    let Some((node, services)) = read.value else {
        return Ok((read_headers(&server, read.index), Json(Value::Null)).into_response());
    };
    let dc = &node.value.datacenter;
    let services: Vec<AgentService<'_>> = services.iter().map(|row| api_rows::service(row, dc)).collect();
    let services = filter::retain_typed(services, filter.as_ref())?;
    let body = NodeServiceList { node: api_rows::node(&node), services };
    Ok((read_headers(&server, read.index), json_body(&body)?).into_response())
}

pub async fn nodes(State(server): State<Arc<Server>>, params: QueryParams) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::NODE)?;
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| {
        let mut rows = view.nodes()?;
        if let Some(service) = params.get("service") {
            let with: BTreeSet<String> = view.instances(service)?.into_iter().map(|(n, _)| n.value.name).collect();
            rows.retain(|n| with.contains(&n.value.name));
        }
        let wanted = Wanted::from(&params);
        rows.retain(|n| wanted.node(&n.value));
        Ok(rows)
    })?;
    let nodes = filter::retain_typed(read.value.iter().map(api_rows::node).collect(), filter.as_ref())?;
    Ok((read_headers(&server, read.index), json_body(&nodes)?).into_response())
}

pub async fn node(
    State(server): State<Arc<Server>>,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| node_with_services(view, &name))?;
    let Some((node, services)) = read.value else {
        return Ok((read_headers(&server, read.index), Json(Value::Null)).into_response());
    };
    let dc = &node.value.datacenter;
    let services = services.iter().map(|row| (row.value.id.as_str().into(), api_rows::service(row, dc))).collect();
    let body = CatalogNode { node: api_rows::node(&node), services };
    Ok((read_headers(&server, read.index), json_body(&body)?).into_response())
}

/// A node and its services, from one view; None if there is no such node.
type NodeServices = Option<(Row<Node>, Vec<Row<tessera_mesh::catalog::Service>>)>;

fn node_with_services(view: &View<'_>, name: &str) -> Result<NodeServices, StoreError> {
    match view.node(name)? {
        Some(node) => Ok(Some((node, view.node_services(name)?))),
        None => Ok(None),
    }
}

pub async fn datacenters(State(server): State<Arc<Server>>) -> Json<Vec<String>> {
    Json(vec![server.config.datacenter.clone()])
}

/// The body of `/v1/catalog/register`: Consul's `CatalogRegistration`, every
/// field its API knows (unknown ones are refused as Consul refuses them).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct RegisterBody {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    node: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    datacenter: String,
    #[serde(default)]
    node_meta: BTreeMap<String, String>,
    #[serde(default)]
    service: Option<CatalogService>,
    #[serde(default)]
    check: Option<RegisterCheck>,
    #[serde(default)]
    checks: Vec<RegisterCheck>,
    // Accepted, not acted on yet.
    #[serde(default)]
    #[allow(dead_code)]
    tagged_addresses: BTreeMap<String, String>,
    #[serde(default)]
    #[allow(dead_code)]
    skip_node_update: bool,
    #[serde(default)]
    partition: String,
    #[serde(default)]
    #[allow(dead_code)]
    locality: Option<Value>,
}

/// A service in a catalog registration: Consul's `AgentService`, whose name
/// field is `Service`, not `Name`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct CatalogService {
    #[serde(rename = "ID", default)]
    id: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    meta: BTreeMap<String, String>,
    #[serde(default)]
    port: u16,
    #[serde(default)]
    address: String,
    #[serde(default)]
    weights: Option<tessera_mesh::catalog::definition::WeightsDefinition>,
    #[serde(default)]
    enable_tag_override: bool,
    #[serde(default)]
    proxy: Option<tessera_mesh::catalog::definition::ProxyDefinition>,
    #[serde(default)]
    connect: Option<tessera_mesh::catalog::definition::ConnectDefinition>,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    partition: String,
    // Accepted, not acted on yet (read-only fields a client may echo back).
    #[serde(default)]
    #[allow(dead_code)]
    socket_path: String,
    #[serde(default)]
    #[allow(dead_code)]
    tagged_addresses: BTreeMap<String, Value>,
    #[serde(default)]
    #[allow(dead_code)]
    create_index: u64,
    #[serde(default)]
    #[allow(dead_code)]
    modify_index: u64,
    #[serde(default)]
    #[allow(dead_code)]
    content_hash: String,
    #[serde(default)]
    #[allow(dead_code)]
    peer_name: String,
    #[serde(default)]
    #[allow(dead_code)]
    datacenter: String,
    #[serde(default)]
    #[allow(dead_code)]
    locality: Option<Value>,
}

impl CatalogService {
    fn into_definition(self) -> ServiceDefinition {
        // Go's client sends `"Weights": {"Passing": 0, "Warning": 0}` when
        // none are set; Consul takes that as its defaults.
        let weights = self.weights.filter(|w| w.passing != 0 || w.warning != 0);
        ServiceDefinition {
            id: Some(self.id).filter(|id| !id.is_empty()),
            name: self.service,
            kind: self.kind,
            tags: self.tags,
            meta: self.meta,
            port: self.port,
            address: self.address,
            weights,
            enable_tag_override: self.enable_tag_override,
            proxy: self.proxy,
            connect: self.connect,
            namespace: self.namespace,
            partition: self.partition,
            ..ServiceDefinition::default()
        }
    }
}

/// A check in a catalog registration: Consul's `AgentCheck`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
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
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    partition: String,
    // Accepted, not acted on yet (the catalog keeps a check's result only).
    #[serde(default)]
    #[allow(dead_code)]
    node: String,
    #[serde(default)]
    #[allow(dead_code)]
    service_name: String,
    #[serde(default)]
    #[allow(dead_code)]
    service_tags: Vec<String>,
    #[serde(rename = "Type", default)]
    #[allow(dead_code)]
    check_type: String,
    #[serde(default)]
    #[allow(dead_code)]
    interval: String,
    #[serde(default)]
    #[allow(dead_code)]
    timeout: String,
    #[serde(default)]
    #[allow(dead_code)]
    definition: Option<Value>,
    #[serde(default)]
    #[allow(dead_code)]
    exposed_port: u16,
    #[serde(default)]
    #[allow(dead_code)]
    create_index: u64,
    #[serde(default)]
    #[allow(dead_code)]
    modify_index: u64,
}

pub async fn register(State(server): State<Arc<Server>>, body: Bytes) -> Result<Json<bool>, ApiError> {
    let body: RegisterBody = decode_body(&body)?;
    if body.node.is_empty() || body.address.is_empty() {
        return Err(ApiError::bad_request("Must provide node and address"));
    }
    only_default("Partition", &body.partition).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let datacenter = if body.datacenter.is_empty() { server.config.datacenter.clone() } else { body.datacenter };
    let node = Node { name: body.node.clone(), id: body.id, address: body.address, datacenter, meta: body.node_meta };
    let service = match body.service.map(CatalogService::into_definition) {
        Some(definition) => {
            // A catalog registration carries no check definitions: nothing runs.
            let scripts = tessera_mesh::catalog::definition::Scripts::Allowed;
            definition.validate(scripts).map_err(|e| ApiError::bad_request(format!("Invalid service: {e}")))?;
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
    only_default("Check.Namespace", &c.namespace).map_err(|e| ApiError::bad_request(e.to_string()))?;
    only_default("Check.Partition", &c.partition).map_err(|e| ApiError::bad_request(e.to_string()))?;
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

/// Consul's `CatalogDeregistration`. Go's client always sends `ServiceID`
/// and `CheckID`, empty when not meant: empty is "not given".
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct DeregisterBody {
    #[serde(default)]
    node: String,
    #[serde(rename = "ServiceID", default)]
    service_id: String,
    #[serde(rename = "CheckID", default)]
    check_id: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    partition: String,
    // Accepted, not acted on: the node is named, its address adds nothing.
    #[serde(default)]
    #[allow(dead_code)]
    address: String,
    #[serde(default)]
    #[allow(dead_code)]
    datacenter: String,
}

pub async fn deregister(State(server): State<Arc<Server>>, body: Bytes) -> Result<Json<bool>, ApiError> {
    let body: DeregisterBody = decode_body(&body)?;
    if body.node.is_empty() {
        return Err(ApiError::bad_request("Must provide node"));
    }
    only_default("Namespace", &body.namespace).map_err(|e| ApiError::bad_request(e.to_string()))?;
    only_default("Partition", &body.partition).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let given = |id: String| Some(id).filter(|id| !id.is_empty());
    let command = Command::CatalogDeregister {
        node: body.node,
        service_id: given(body.service_id),
        check_id: given(body.check_id),
    };
    server.write(command).await?;
    Ok(Json(true))
}
