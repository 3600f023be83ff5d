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
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::catalog::definition::only_default;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::ServiceDefinition;

use crate::acl::caller::Caller;
use crate::consensus::Server;
use crate::http::api_rows;
use crate::http::authz::mark_filtered;
use crate::http::authz::Authz;
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

/// Services the token may read (service:read on the name; Consul's
/// `filterServices` does not look at nodes here).
pub async fn services(
    State(server): State<Arc<Server>>,
    authz: Authz,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::CATALOG_SERVICE)?;
    prepare(&server, &params).await?;
    let mut removed = false;
    let read = match &filter {
        None => {
            let mut read = server.store.read(Table::Catalog, |view| view.service_names())?;
            let before = read.value.len();
            read.value.retain(|name, _| authz.service_read(name));
            removed = read.value.len() != before;
            read
        }
        // A filter is over instances: list them, then fold names as the
        // summaries would.
        Some(filter) => {
            let read = server.store.read(Table::Catalog, all_instances)?;
            let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
            for (n, s) in &read.value {
                if !authz.service_read(&s.value.name) {
                    removed = true;
                    continue;
                }
                if filter.matches_item(&api_rows::catalog_service(n, s)).map_err(filter::refused)? {
                    names.entry(s.value.name.clone()).or_default().extend(s.value.tags.iter().cloned());
                }
            }
            tessera_store::Read { value: names, index: read.index }
        }
    };
    let mut headers = read_headers(&server, read.index);
    mark_filtered(&mut headers, &authz, removed);
    Ok((headers, Json(read.value)).into_response())
}

pub async fn service(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    catalog_instances(&server, &authz, &params, true, |view| view.instances(&name)).await
}

/// `/v1/catalog/connect/:service`: what Connect clients dial for it (its
/// proxies and native instances), in the catalog's shape.
pub async fn connect(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    // Consul also needs service:read on the service proxied for.
    let target_readable = authz.service_read(&name);
    catalog_instances(&server, &authz, &params, target_readable, |view| {
        let instances = crate::health::instances(view, &name, true)?;
        Ok(instances.into_iter().map(|i| (i.node, i.service)).collect())
    })
    .await
}

/// May the token see this instance: node:read on its node and
/// service:read on its service (Consul's `filterServiceNodes`).
pub fn instance_readable(authz: &Caller, node: &Node, service: &tessera_mesh::catalog::Service) -> bool {
    authz.node_read(&node.name) && authz.service_read(&service.name)
}

/// Instances in the catalog's shape, after `?tag` and `?node-meta`, the
/// ACL filter, and `?filter`: what `/v1/catalog/service/:s` and
/// `/connect/:s` answer. With `target_readable` false every entry is
/// filtered.
async fn catalog_instances(
    server: &Server,
    authz: &Caller,
    params: &QueryParams,
    target_readable: bool,
    read: impl FnOnce(&View<'_>) -> Result<Vec<NodeService>, StoreError>,
) -> Result<Response, ApiError> {
    let filter = filter::requested(params, filter::CATALOG_SERVICE)?;
    prepare(server, params).await?;
    let wanted = Wanted::from(params);
    let read = server.store.read(Table::Catalog, read)?;
    let mut removed = false;
    let rows: Vec<tessera_mesh::api::entries::CatalogService<'_>> = read
        .value
        .iter()
        .filter(|(n, s)| wanted.instance(&n.value, &s.value))
        .filter(|(n, s)| {
            let readable = target_readable && instance_readable(authz, &n.value, &s.value);
            removed |= !readable;
            readable
        })
        .map(|(n, s)| api_rows::catalog_service(n, s))
        .collect();
    let rows = filter::retain_typed(rows, filter.as_ref())?;
    let mut headers = read_headers(server, read.index);
    mark_filtered(&mut headers, authz, removed);
    Ok((headers, json_body(&rows)?).into_response())
}

/// `/v1/catalog/node-services/:node`: the node and its services as a list
/// (Consul's newer form of `/v1/catalog/node/:node`).
pub async fn node_services(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    let filter = filter::requested(&params, filter::AGENT_SERVICE)?;
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| node_with_services(view, &name))?;
    let mut headers = read_headers(&server, read.index);
    let Some((node, services, removed)) = readable_node(&authz, read.value, &mut headers) else {
        return Ok((headers, Json(Value::Null)).into_response());
    };
    let dc = &node.value.datacenter;
    let services: Vec<AgentService<'_>> = services.iter().map(|row| api_rows::service(row, dc)).collect();
    let services = filter::retain_typed(services, filter.as_ref())?;
    let body = NodeServiceList { node: api_rows::node(&node), services };
    mark_filtered(&mut headers, &authz, removed);
    Ok((headers, json_body(&body)?).into_response())
}

/// A node as the token may see it (Consul's `filterNodeServices`): none
/// without node:read on it (answered as a missing node, marked filtered),
/// else its services the token may read, and whether some were dropped.
fn readable_node(
    authz: &Caller,
    found: NodeServices,
    headers: &mut axum::http::HeaderMap,
) -> Option<(Row<Node>, Vec<Row<tessera_mesh::catalog::Service>>, bool)> {
    let (node, mut services) = found?;
    if !authz.node_read(&node.value.name) {
        mark_filtered(headers, authz, true);
        return None;
    }
    let removed = crate::http::authz::retain_allowed(&mut services, |s| authz.service_read(&s.value.name));
    Some((node, services, removed))
}

pub async fn nodes(State(server): State<Arc<Server>>, authz: Authz, params: QueryParams) -> Result<Response, ApiError> {
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
    let mut removed = false;
    let readable = read.value.iter().filter(|n| {
        let readable = authz.node_read(&n.value.name);
        removed |= !readable;
        readable
    });
    let nodes = filter::retain_typed(readable.map(api_rows::node).collect(), filter.as_ref())?;
    let mut headers = read_headers(&server, read.index);
    mark_filtered(&mut headers, &authz, removed);
    Ok((headers, json_body(&nodes)?).into_response())
}

pub async fn node(
    State(server): State<Arc<Server>>,
    authz: Authz,
    Path(name): Path<String>,
    params: QueryParams,
) -> Result<Response, ApiError> {
    prepare(&server, &params).await?;
    let read = server.store.read(Table::Catalog, |view| node_with_services(view, &name))?;
    let mut headers = read_headers(&server, read.index);
    let Some((node, services, removed)) = readable_node(&authz, read.value, &mut headers) else {
        return Ok((headers, Json(Value::Null)).into_response());
    };
    let dc = &node.value.datacenter;
    let services = services.iter().map(|row| (row.value.id.as_str().into(), api_rows::service(row, dc))).collect();
    let body = CatalogNode { node: api_rows::node(&node), services };
    mark_filtered(&mut headers, &authz, removed);
    Ok((headers, json_body(&body)?).into_response())
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

pub async fn register(State(server): State<Arc<Server>>, authz: Authz, body: Bytes) -> Result<Json<bool>, ApiError> {
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
    let mut checks = body
        .check
        .into_iter()
        .chain(body.checks)
        .map(|c| to_health_check(c, &body.node, service.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    vet_register(&authz, &server.store.view(), &node, service.as_ref(), &mut checks)?;
    server.write(Command::CatalogRegister { node, service, checks }).await?;
    Ok(Json(true))
}

/// What a catalog registration needs, in Consul's order
/// (`servicePreApply`, then `vetRegisterWithACL`), checked against the
/// stored node before anything is proposed:
/// - service:write on the service, and on its destination for a
///   `connect-proxy`;
/// - node:write on the node when the registration changes its record (a
///   new node, or another ID, address, datacenter or meta; Consul also
///   compares tagged addresses, which Tessera does not store);
/// - service:write on a stored service the registration replaces by ID;
/// - node:write for a node check, service:write on the service of a
///   check on another stored service of the node (whose name and tags the
///   check then carries, as Consul's state store fills them). A check on
///   a service ID the node does not have needs node:write (Consul refuses
///   it as `Unknown service ID`).
fn vet_register(
    authz: &Caller,
    view: &View<'_>,
    node: &Node,
    service: Option<&tessera_mesh::catalog::Service>,
    checks: &mut [HealthCheck],
) -> Result<(), ApiError> {
    if let Some(service) = service {
        authz.require(Resource::Service, &service.name, Access::Write)?;
        if service.kind == tessera_mesh::catalog::ServiceKind::ConnectProxy {
            let destination = service.proxy.as_ref().map_or("", |p| p.destination_service_name.as_str());
            authz.require(Resource::Service, destination, Access::Write)?;
        }
    }
    // The stored node is read only when node:write could be missing.
    if !authz.allowed(Resource::Node, &node.name, Access::Write) {
        let stored = view.node(&node.name)?;
        if stored.is_none_or(|stored| stored.value != *node) {
            authz.require(Resource::Node, &node.name, Access::Write)?;
        }
    }
    let needs_services = service.is_some() || checks.iter().any(|c| !c.service_id.is_empty());
    let stored_services = match needs_services {
        true => view.node_services(&node.name)?,
        false => Vec::new(),
    };
    let stored_service = |id: &str| stored_services.iter().map(|row| &row.value).find(|s| s.id == id);
    if let Some(service) = service {
        if let Some(replaced) = stored_service(&service.id).filter(|old| old.name != service.name) {
            authz.require(Resource::Service, &replaced.name, Access::Write)?;
        }
    }
    for check in checks {
        if check.service_id.is_empty() {
            authz.require(Resource::Node, &node.name, Access::Write)?;
            continue;
        }
        if service.is_some_and(|s| s.id == check.service_id) {
            continue;
        }
        match stored_service(&check.service_id) {
            Some(other) => {
                authz.require(Resource::Service, &other.name, Access::Write)?;
                check.service_name = other.name.clone();
                check.service_tags = other.tags.clone();
            }
            None => authz.require(Resource::Node, &node.name, Access::Write)?,
        }
    }
    Ok(())
}

/// What a catalog deregistration needs (Consul's `vetDeregisterWithACL`):
/// node:write on the node allows all of it; without it, a service needs
/// service:write on the stored service (found by ID), a service's check
/// service:write on that service, and a node check or the whole node is
/// refused as node:write. An ID the node does not have is refused as
/// node:write too (Consul: `Unknown service ID`).
fn vet_deregister(
    authz: &Caller,
    view: &View<'_>,
    node: &str,
    service_id: Option<&str>,
    check_id: Option<&str>,
) -> Result<(), ApiError> {
    let Err(node_write) = authz.require(Resource::Node, node, Access::Write) else {
        return Ok(());
    };
    let service_name = |id: &str| -> Result<Option<String>, StoreError> {
        Ok(view.node_services(node)?.into_iter().find(|s| s.value.id == id).map(|s| s.value.name))
    };
    let owner = match (service_id, check_id) {
        (Some(id), _) => service_name(id)?,
        (None, Some(id)) => match view.check(node, id)? {
            Some(check) if !check.value.service_id.is_empty() => match check.value.service_name.is_empty() {
                true => service_name(&check.value.service_id)?,
                false => Some(check.value.service_name),
            },
            _ => None,
        },
        (None, None) => None,
    };
    match owner {
        Some(name) => Ok(authz.require(Resource::Service, &name, Access::Write)?),
        None => Err(node_write.into()),
    }
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

pub async fn deregister(State(server): State<Arc<Server>>, authz: Authz, body: Bytes) -> Result<Json<bool>, ApiError> {
    let body: DeregisterBody = decode_body(&body)?;
    if body.node.is_empty() {
        return Err(ApiError::bad_request("Must provide node"));
    }
    only_default("Namespace", &body.namespace).map_err(|e| ApiError::bad_request(e.to_string()))?;
    only_default("Partition", &body.partition).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let given = |id: String| Some(id).filter(|id| !id.is_empty());
    let (service_id, check_id) = (given(body.service_id), given(body.check_id));
    vet_deregister(&authz, &server.store.view(), &body.node, service_id.as_deref(), check_id.as_deref())?;
    let command = Command::CatalogDeregister { node: body.node, service_id, check_id };
    server.write(command).await?;
    Ok(Json(true))
}
