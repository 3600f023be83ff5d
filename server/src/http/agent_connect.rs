//! `/v1/agent/connect/*`: answered by every agent from what it holds (the
//! roots and intentions the servers pushed, its leaf cache), so sidecars
//! keep working while servers are away.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use tessera_mesh::api::agent::AgentAuthorize;
use tokio::sync::watch;

use crate::agent::connect::LeafError;
use crate::agent::Agent;
use crate::http::authz::Authz;
use crate::http::blocking::QueryOptions;
use crate::http::connect_shapes as shapes;
use crate::http::decode_body;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

/// How long a first leaf or roots fetch may wait for the servers.
const FIRST_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

fn index_header(index: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-consul-index", HeaderValue::from(index.max(1)));
    headers
}

/// Waits until `ready(value)` holds, or until `wait` passes; false on timeout.
async fn wait_until<T>(rx: &mut watch::Receiver<T>, wait: Duration, ready: impl FnMut(&T) -> bool) -> bool {
    matches!(tokio::time::timeout(wait, rx.wait_for(ready)).await, Ok(Ok(_)))
}

pub async fn roots(State(agent): State<Arc<Agent>>, params: QueryParams) -> Result<Response, ApiError> {
    let options = QueryOptions::parse(&params)?;
    let mut rx = agent.connect().roots();
    if !wait_until(&mut rx, FIRST_FETCH_TIMEOUT, |r| r.is_some()).await {
        return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "no CA roots received from the servers yet"));
    }
    if let Some(min) = options.min_index.filter(|i| *i > 0) {
        wait_until(&mut rx, options.wait, |r| r.as_ref().is_some_and(|r| r.index > min)).await;
    }
    let roots = rx.borrow().clone().expect("waited for roots");
    Ok((index_header(roots.index), Json(shapes::roots(&roots))).into_response())
}

pub async fn leaf(
    State(agent): State<Arc<Agent>>,
    Path(service): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    // Before anything is started or signed for the name.
    authz.require(Resource::Service, &service, Access::Write)?;
    let options = QueryOptions::parse(&params)?;
    let mut rx = agent.connect().leaf(&service).map_err(|e| match e {
        LeafError::Refused(reason) => ApiError::new(StatusCode::FORBIDDEN, reason),
        full @ LeafError::Full(_) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, full.to_string()),
    })?;
    // The first fetch returns as soon as the leaf is signed.
    if !wait_until(&mut rx, FIRST_FETCH_TIMEOUT, |l| l.is_some()).await {
        if let Some(reason) = agent.connect().refusal(&service) {
            return Err(ApiError::new(StatusCode::FORBIDDEN, reason));
        }
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no certificate for service {service:?} yet (see the agent log for why)"),
        ));
    }
    if let Some(min) = options.min_index.filter(|i| *i > 0) {
        wait_until(&mut rx, options.wait, |l| l.as_ref().is_some_and(|l| l.modify_index > min)).await;
    }
    let leaf = rx.borrow().clone().expect("waited for the leaf");
    Ok((index_header(leaf.modify_index), Json(shapes::leaf(&leaf))).into_response())
}

#[derive(Deserialize)]
struct AuthorizeBody {
    #[serde(alias = "Target", default)]
    target: String,
    #[serde(alias = "ClientCertURI", default)]
    client_cert_uri: String,
    #[serde(alias = "ClientCertSerial", default)]
    _client_cert_serial: String,
}

pub async fn authorize(State(agent): State<Arc<Agent>>, authz: Authz, body: Bytes) -> Result<Response, ApiError> {
    let body: AuthorizeBody = decode_body(&body)?;
    authz.require(Resource::Service, &body.target, Access::Write)?;
    let decision = agent
        .connect()
        .authorize(&body.target, &body.client_cert_uri)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(AgentAuthorize { authorized: decision.allowed, reason: decision.reason }).into_response())
}
