//! `?filter=` on the endpoints that list things, with the fields each
//! answer's elements have: Consul's selectable fields are the JSON fields of
//! what the endpoint returns. A bad expression is a 400 naming the problem
//! in go-bexpr's words, after Consul's prefix.

use serde_json::Map;
use serde_json::Value;
use tessera_mesh::filter::Filter;

use crate::http::query::QueryParams;
use crate::http::ApiError;

/// `/v1/health/service/:s` and `/v1/health/connect/:s` entries.
pub const HEALTH_ENTRY: &[&str] = &["Node", "Service", "Checks"];
/// `/v1/catalog/nodes` and `/v1/catalog/node/:n`'s node.
pub const NODE: &[&str] = &["ID", "Node", "Address", "Datacenter", "TaggedAddresses", "Meta"];
/// `/v1/health/*` checks and `/v1/agent/checks`.
pub const CHECK: &[&str] = &[
    "Node",
    "CheckID",
    "Name",
    "Status",
    "Notes",
    "Output",
    "ServiceID",
    "ServiceName",
    "ServiceTags",
    "Type",
    "Interval",
    "Timeout",
];
/// `/v1/agent/services` and a health entry's `Service`.
pub const AGENT_SERVICE: &[&str] = &[
    "ID",
    "Service",
    "Tags",
    "Meta",
    "Port",
    "Address",
    "TaggedAddresses",
    "Weights",
    "EnableTagOverride",
    "Datacenter",
    "Kind",
    "Proxy",
    "Connect",
];
/// `/v1/catalog/service/:s` entries (a node and service flattened).
pub const CATALOG_SERVICE: &[&str] = &[
    "ID",
    "Node",
    "Address",
    "Datacenter",
    "TaggedAddresses",
    "NodeMeta",
    "ServiceKind",
    "ServiceID",
    "ServiceName",
    "ServiceTags",
    "ServiceAddress",
    "ServiceWeights",
    "ServiceMeta",
    "ServicePort",
    "ServiceEnableTagOverride",
    "ServiceProxy",
    "ServiceConnect",
];

/// The request's filter for elements with `fields`, if it has one.
pub fn requested(params: &QueryParams, fields: &[&str]) -> Result<Option<Filter>, ApiError> {
    Filter::from_query(params.get("filter").map_or("", String::as_str), fields).map_err(refused)
}

/// Keeps the elements the filter matches (all of them without one).
pub fn retain(items: Vec<Value>, filter: Option<&Filter>) -> Result<Vec<Value>, ApiError> {
    match filter {
        Some(filter) => matching(items, filter, |item| item),
        None => Ok(items),
    }
}

/// The same for an answer keyed by id (the agent's services and checks).
pub fn retain_values(items: Map<String, Value>, filter: Option<&Filter>) -> Result<Map<String, Value>, ApiError> {
    match filter {
        Some(filter) => matching(items, filter, |(_, item)| item),
        None => Ok(items),
    }
}

/// The entries whose JSON (`json` of each) the filter matches; the first
/// evaluation error refuses the request.
fn matching<T, C: FromIterator<T>>(
    items: impl IntoIterator<Item = T>,
    filter: &Filter,
    json: impl Fn(&T) -> &Value,
) -> Result<C, ApiError> {
    items
        .into_iter()
        .filter_map(|entry| match filter.matches(json(&entry)) {
            Ok(true) => Some(Ok(entry)),
            Ok(false) => None,
            Err(e) => Some(Err(refused(e))),
        })
        .collect()
}

pub fn refused(e: tessera_mesh::filter::FilterError) -> ApiError {
    ApiError::bad_request(format!("Failed to create boolean expression evaluator: {e}"))
}
