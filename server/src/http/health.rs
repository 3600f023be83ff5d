//! `/v1/health/*`: service instances with their checks, and checks by
//! service, node or state.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::Path;
use axum::extract::Query;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde_json::json;
use serde_json::Value;
use tessera_proto::catalog::CheckStatus;
use tessera_proto::catalog::HealthCheck;
use tessera_proto::catalog::Node;
use tessera_proto::catalog::Service;
use tessera_proto::catalog::ServiceKind;

use crate::http::catalog::prepare;
use crate::http::read_headers;
use crate::http::shapes;
use crate::http::ApiError;
use crate::server::Server;
use crate::store::engine::Engine;
use crate::store::engine::EngineError;
use crate::store::tables::catalog;
use crate::store::tables::catalog::Row;

type Params = Query<HashMap<String, String>>;

/// One instance with the checks that decide its health: its own and its node's.
pub struct Instance {
    pub node: Row<Node>,
    pub service: Row<Service>,
    pub checks: Vec<HealthCheck>,
}

impl Instance {
    pub fn status(&self) -> CheckStatus {
        self.checks.iter().map(|c| c.status).max().unwrap_or(CheckStatus::Passing)
    }
}

/// Instances of `name`; with `connect`, the proxies for it and its native instances.
pub fn instances(engine: &Engine, name: &str, connect: bool) -> Result<Vec<Instance>, EngineError> {
    let rows = match connect {
        false => catalog::instances(engine, name)?,
        true => {
            let mut rows: Vec<_> = catalog::all_services(engine)?
                .into_iter()
                .filter(|(_, s)| {
                    let proxies_for = s.value.kind == ServiceKind::ConnectProxy
                        && s.value.proxy.as_ref().is_some_and(|p| p.destination_service_name == name);
                    proxies_for || (s.value.connect_native && s.value.name == name)
                })
                .filter_map(|(node, s)| catalog::node(engine, &node).ok().flatten().map(|n| (n, s)))
                .collect();
            rows.sort_by(|a, b| a.0.value.name.cmp(&b.0.value.name));
            rows
        }
    };
    let mut out = Vec::new();
    for (node, service) in rows {
        let checks = catalog::node_checks(engine, &node.value.name)?
            .into_iter()
            .map(|r| r.value)
            .filter(|c| c.service_id.is_empty() || c.service_id == service.value.id)
            .collect();
        out.push(Instance { node, service, checks });
    }
    Ok(out)
}

fn entry(instance: &Instance) -> Value {
    let service = shapes::indexed(shapes::service(&instance.service.value, &instance.node.value.datacenter), &instance.service);
    let checks: Vec<Value> = instance.checks.iter().map(|c| Value::Object(shapes::check(c))).collect();
    json!({"Node": shapes::node(&instance.node), "Service": service, "Checks": checks})
}

async fn service_entries(server: &Server, name: &str, params: &HashMap<String, String>, connect: bool) -> Result<Response, ApiError> {
    let index = prepare(server, params).await?;
    let passing_only = params.contains_key("passing");
    let tag = params.get("tag");
    let entries: Vec<Value> = instances(server.store.engine(), name, connect)?
        .iter()
        .filter(|i| !passing_only || i.status() == CheckStatus::Passing)
        .filter(|i| tag.is_none_or(|t| i.service.value.tags.contains(t)))
        .map(entry)
        .collect();
    Ok((read_headers(server, index), Json(entries)).into_response())
}

pub async fn service(State(server): State<Arc<Server>>, Path(name): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    service_entries(&server, &name, &params, false).await
}

pub async fn connect(State(server): State<Arc<Server>>, Path(name): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    service_entries(&server, &name, &params, true).await
}

async fn checks_where(server: &Server, params: &HashMap<String, String>, keep: impl Fn(&HealthCheck) -> bool) -> Result<Response, ApiError> {
    let index = prepare(server, params).await?;
    let checks: Vec<Value> = catalog::all_checks(server.store.engine())?
        .iter()
        .filter(|r| keep(&r.value))
        .map(|r| shapes::indexed(shapes::check(&r.value), r))
        .collect();
    Ok((read_headers(server, index), Json(checks)).into_response())
}

pub async fn checks(State(server): State<Arc<Server>>, Path(service): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    checks_where(&server, &params, |c| c.service_name == service).await
}

pub async fn node(State(server): State<Arc<Server>>, Path(node): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    checks_where(&server, &params, |c| c.node == node).await
}

pub async fn state(State(server): State<Arc<Server>>, Path(state): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let wanted = match state.as_str() {
        "any" => None,
        other => Some(CheckStatus::parse(other).ok_or_else(|| ApiError::bad_request(format!("Invalid state {other:?}")))?),
    };
    checks_where(&server, &params, |c| wanted.is_none_or(|w| c.status == w)).await
}
