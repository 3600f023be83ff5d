//! `GET /v1/agent/metrics`: this agent's series in Consul's JSON, or with
//! `?format=prometheus` (or an OpenMetrics `Accept`, as Consul takes it) in
//! the Prometheus text format. Any other `format` answers JSON, as Consul's
//! does. Unlike Consul, the Prometheus form needs no
//! `prometheus_retention_time`: it is always on.

use std::sync::Arc;

use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;

use crate::agent::Agent;
use crate::http::authz::Authz;
use crate::metrics::PROMETHEUS_CONTENT_TYPE;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

pub async fn agent_metrics(
    State(agent): State<Arc<Agent>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    authz: Authz,
) -> Response {
    if let Err(denied) = authz.require(Resource::Agent, &agent.node().name, Access::Read) {
        return crate::http::ApiError::from(denied).into_response();
    }
    let metrics = agent.metrics();
    if wants_prometheus(query.as_deref(), &headers) {
        return ([(header::CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE)], metrics.prometheus()).into_response();
    }
    Json(metrics.summary()).into_response()
}

/// Consul's rule: `format=prometheus` exactly, or an `Accept` naming
/// `application/openmetrics-text` or `text/plain; version=0.4.0`.
fn wants_prometheus(query: Option<&str>, headers: &HeaderMap) -> bool {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or("")).unwrap_or_default();
    // Go's Query().Get: the first value given.
    if pairs.iter().find(|(k, _)| k == "format").is_some_and(|(_, v)| v == "prometheus") {
        return true;
    }
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    accept.split(',').any(|mime| {
        let mut parts = mime.split(';').map(str::trim);
        let kind = parts.next().unwrap_or("").to_ascii_lowercase();
        kind == "application/openmetrics-text" || (kind == "text/plain" && parts.next() == Some("version=0.4.0"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_is_asked_for_as_consul_reads_it() {
        let none = HeaderMap::new();
        assert!(wants_prometheus(Some("format=prometheus"), &none));
        assert!(!wants_prometheus(Some("format=Prometheus"), &none), "Consul's agent compares exactly");
        assert!(!wants_prometheus(Some("format=xml"), &none), "any other format is JSON");
        assert!(!wants_prometheus(None, &none));
        let mut open_metrics = HeaderMap::new();
        open_metrics.insert(header::ACCEPT, "application/openmetrics-text; version=1.0.0,*/*;q=0.1".parse().unwrap());
        assert!(wants_prometheus(None, &open_metrics));
        let mut text = HeaderMap::new();
        text.insert(header::ACCEPT, "text/plain;version=0.4.0".parse().unwrap());
        assert!(wants_prometheus(None, &text));
    }
}
