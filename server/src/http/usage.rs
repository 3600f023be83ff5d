//! `GET /v1/operator/usage`: how many nodes, services and instances the
//! catalog holds, by datacenter, in Consul's shape (`structs.Usage`: the
//! counts under `Usage`, then the query meta Consul embeds in the body).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;
use tessera_mesh::api::operator::ServiceUsage;
use tessera_mesh::api::operator::Usage;
use tessera_store::CatalogSizes;
use tessera_store::KindCounts;
use tessera_store::Table;

use crate::consensus::Server;
use crate::http::authz::Authz;
use crate::http::blocking::prepare_table;
use crate::http::query::QueryParams;
use crate::http::read_headers;
use crate::http::ApiError;

/// A blocking query on the catalog, as Consul's `Operator.Usage` is. With
/// one datacenter, `?global` (every known datacenter) answers the same.
/// Needs operator:read.
pub async fn usage(State(server): State<Arc<Server>>, authz: Authz, params: QueryParams) -> Result<Response, ApiError> {
    authz.require(Resource::Operator, "", Access::Read)?;
    prepare_table(&server, &params, Table::Catalog).await?;
    let read = server.store.read(Table::Catalog, |view| Ok((view.catalog_sizes()?, view.kind_counts()?)))?;
    let (sizes, kinds) = read.value;
    let index = read.index.max(1);
    let mut usage = BTreeMap::new();
    usage.insert(server.config.datacenter.clone(), service_usage(&sizes, &kinds));
    let body = Usage {
        usage,
        index,
        last_contact: 0,
        known_leader: server.leader().is_some(),
        consistency_level: consistency_level(&params).to_string(),
        not_modified: false,
        backend: 0,
        results_filtered_by_acls: false,
    };
    Ok((read_headers(&server, index), Json(body)).into_response())
}

/// One datacenter's `ServiceUsage`. Consul lists every Connect kind it
/// counts, zero or not; Tessera has no API gateways, so theirs is always 0.
fn service_usage(sizes: &CatalogSizes, kinds: &KindCounts) -> ServiceUsage {
    let connect: BTreeMap<String, u64> = [
        ("api-gateway", 0),
        ("connect-native", kinds.connect_native),
        ("connect-proxy", kinds.connect_proxy),
        ("ingress-gateway", kinds.ingress_gateway),
        ("mesh-gateway", kinds.mesh_gateway),
        ("terminating-gateway", kinds.terminating_gateway),
    ]
    .into_iter()
    .map(|(kind, n)| (kind.to_string(), n))
    .collect();
    ServiceUsage {
        services: sizes.services,
        service_instances: sizes.instances,
        connect_service_instances: connect,
        billable_service_instances: kinds.billable,
        nodes: sizes.nodes,
    }
}

/// What Consul reports in `ConsistencyLevel`: `stale`, `consistent`, or
/// `leader` (its default mode).
fn consistency_level(params: &QueryParams) -> &'static str {
    if params.contains_key("stale") {
        "stale"
    } else if params.contains_key("consistent") {
        "consistent"
    } else {
        "leader"
    }
}
