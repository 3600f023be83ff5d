//! The ACL check at the HTTP edge: [`Authz`] resolves the request's token
//! (Consul's precedence, [`request_token`]) through the agent's
//! resolver before the handler runs; handlers then ask it per resource.
//! Also the two headers ACLs add to answers.

use std::sync::Arc;

use axum::extract::FromRef;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use axum::http::HeaderValue;
use axum::http::StatusCode;
use axum::response::Response;
use tessera_mesh::acl::DefaultPolicy;

use crate::acl::caller::AclError;
use crate::acl::caller::Caller;
use crate::agent::Agent;
use crate::http::query::QueryParams;
use crate::http::ApiError;

/// The request's resolved token.
pub struct Authz(pub Arc<Caller>);

impl std::ops::Deref for Authz {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<S> FromRequestParts<S> for Authz
where
    S: Send + Sync,
    Arc<Agent>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let agent = Arc::<Agent>::from_ref(state);
        if !agent.acl().enforcing() {
            // ACLs off: nothing to parse or look up.
            return Ok(Authz(Caller::manage_all()));
        }
        let params = QueryParams::parse(parts.uri.query().unwrap_or(""));
        let secret = request_token(&parts.headers, &params);
        if serves_replicated_state(parts, &params) {
            agent.acl().catch_up().await?;
        }
        Ok(Authz(agent.acl().resolve(secret.as_deref()).await?))
    }
}

/// Whether the request is checked against the ACL state the leader has
/// acknowledged (a token deleted there is refused here too; a write is
/// validated against the same state): any call on the replicated state
/// but a `?stale` read, which is answered from what this server has,
/// token rules included, as in Consul. The agent's own endpoints are
/// answered from the local agent, as Consul answers them with the
/// server's local ACL state: they work on a server cut off from its
/// leader, as they would on a client agent.
fn serves_replicated_state(parts: &Parts, params: &QueryParams) -> bool {
    let read = parts.method == axum::http::Method::GET || parts.method == axum::http::Method::HEAD;
    let stale_read = read && params.contains_key("stale");
    !stale_read && !parts.uri.path().starts_with("/v1/agent/")
}

impl From<AclError> for ApiError {
    fn from(e: AclError) -> Self {
        match e {
            AclError::NotFound | AclError::Denied(_) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()),
            AclError::Failed(_) => ApiError::internal(e.to_string()),
        }
    }
}

const FILTERED: &str = "x-consul-results-filtered-by-acls";

/// Marks an answer some of whose entries the token may not read. Not for
/// a caller who presented no secret: anonymous callers are not told what
/// is hidden from them (Consul's `maskResultsFilteredByACLs`).
pub fn mark_filtered(headers: &mut HeaderMap, caller: &Caller, removed: bool) {
    if removed && !caller.is_implicit() {
        headers.insert(FILTERED, HeaderValue::from_static("true"));
    }
}

/// A response with [`mark_filtered`] applied.
pub fn filtered_response(mut response: Response, caller: &Caller, removed: bool) -> Response {
    mark_filtered(response.headers_mut(), caller, removed);
    response
}

/// Keeps the items `keep` allows; says whether any went.
pub fn retain_allowed<T>(items: &mut Vec<T>, keep: impl FnMut(&T) -> bool) -> bool {
    let before = items.len();
    items.retain(keep);
    items.len() != before
}

/// The SecretID a request presents, by Consul's precedence
/// (`agent/http.go` `parseTokenInternal`): `?token=`, then
/// `X-Consul-Token`, then `Authorization: Bearer <secret>` (scheme in any
/// case; only the first word after it). None when none is given; the
/// caller then falls back to `acl.tokens.default`, then anonymous.
pub fn request_token(headers: &HeaderMap, params: &QueryParams) -> Option<String> {
    if let Some(token) = params.get("token").filter(|t| !t.is_empty()) {
        return Some(token.clone());
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(token) = header("x-consul-token").filter(|t| !t.is_empty()) {
        return Some(token.to_string());
    }
    let (scheme, rest) = header("authorization")?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    rest.split_whitespace().next().map(str::to_string)
}

/// `X-Consul-Default-ACL-Policy` on every answer, ACLs on or off, as Consul.
pub async fn default_policy_header(
    axum::extract::State(policy): axum::extract::State<DefaultPolicy>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    response.headers_mut().insert("x-consul-default-acl-policy", HeaderValue::from_static(policy.as_str()));
    response
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn the_request_token_follows_consuls_precedence() {
        let all = headers(&[("x-consul-token", "header"), ("authorization", "Bearer bearer")]);
        assert_eq!(request_token(&all, &QueryParams::parse("token=query")).as_deref(), Some("query"));
        assert_eq!(request_token(&all, &QueryParams::parse("")).as_deref(), Some("header"));
        let bearer = headers(&[("authorization", "bEaReR  first second")]);
        assert_eq!(request_token(&bearer, &QueryParams::parse("")).as_deref(), Some("first"));
        assert_eq!(request_token(&headers(&[("authorization", "Basic abc")]), &QueryParams::parse("")), None);
        assert_eq!(request_token(&headers(&[("authorization", "Bearer")]), &QueryParams::parse("")), None);
        assert_eq!(request_token(&HeaderMap::new(), &QueryParams::parse("token=")), None);
    }
}
