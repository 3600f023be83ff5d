//! `?filter=` on the endpoints that list things, with the fields each
//! answer's elements have: Consul's selectable fields are the JSON fields of
//! what the endpoint returns. A bad expression is a 400 naming the problem
//! in go-bexpr's words, after Consul's prefix.

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

/// Keeps the typed answer elements the filter matches, judging each by its
/// JSON (only the parts the selectors reach are built; see
/// `Filter::matches_item`), so a typed answer is filtered as its JSON would be.
pub fn retain_typed<T: serde::Serialize>(items: Vec<T>, filter: Option<&Filter>) -> Result<Vec<T>, ApiError> {
    match filter {
        Some(filter) => {
            items.into_iter().filter_map(|item| keep(filter, &item).map(|k| k.then_some(item)).transpose()).collect()
        }
        None => Ok(items),
    }
}

/// The same for typed answers keyed by id (the agent's services and checks).
pub fn retain_typed_values<K: Ord, T: serde::Serialize>(
    items: std::collections::BTreeMap<K, T>,
    filter: Option<&Filter>,
) -> Result<std::collections::BTreeMap<K, T>, ApiError> {
    match filter {
        Some(filter) => items
            .into_iter()
            .filter_map(|(k, item)| keep(filter, &item).map(|keep| keep.then_some((k, item))).transpose())
            .collect(),
        None => Ok(items),
    }
}

fn keep<T: serde::Serialize>(filter: &Filter, item: &T) -> Result<bool, ApiError> {
    filter.matches_item(item).map_err(refused)
}

pub fn refused(e: tessera_mesh::filter::FilterError) -> ApiError {
    ApiError::bad_request(format!("Failed to create boolean expression evaluator: {e}"))
}
