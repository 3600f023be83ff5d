//! `/v1/acl/*`: bootstrap, tokens, policies and roles, with Consul's paths,
//! shapes and texts. With ACLs disabled every one answers 401 `ACL support
//! disabled`.
//!
//! Not yet `acl:read`/`acl:write` enforcement (the next step): until it
//! lands, every write but bootstrap requires a token holding the
//! global-management policy ([`require_management`]), so ACL state can be
//! changed only by whoever holds the bootstrap secret. Reads are open to
//! anyone who can reach the API, as every other endpoint still is; they
//! never show a SecretID (see `shapes`).

mod policies;
mod roles;
mod shapes;
mod tokens;

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::get;
use axum::routing::put;
use axum::Router;
use tessera_mesh::acl::ACL_NOT_FOUND;
use tessera_store::acl::AclToken;

use crate::acl::resolve;
use crate::consensus::Server;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use crate::http::App;

pub fn routes() -> Router<App> {
    Router::new()
        .route("/v1/acl/bootstrap", put(tokens::bootstrap))
        .route("/v1/acl/token", put(tokens::create))
        .route("/v1/acl/token/self", get(tokens::read_self))
        .route("/v1/acl/token/{id}", get(tokens::read).put(tokens::update).delete(tokens::delete))
        .route("/v1/acl/token/{id}/clone", put(tokens::clone))
        .route("/v1/acl/tokens", get(tokens::list))
        .route("/v1/acl/policy", put(policies::create))
        .route("/v1/acl/policy/name/{name}", get(policies::read_by_name))
        .route("/v1/acl/policy/{id}", get(policies::read).put(policies::update).delete(policies::delete))
        .route("/v1/acl/policies", get(policies::list))
        .route("/v1/acl/role", put(roles::create))
        .route("/v1/acl/role/name/{name}", get(roles::read_by_name))
        .route("/v1/acl/role/{id}", get(roles::read).put(roles::update).delete(roles::delete))
        .route("/v1/acl/roles", get(roles::list))
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

/// 401 unless `acl.enabled`.
fn require_enabled(server: &Server) -> Result<(), ApiError> {
    match server.config.acl.enabled {
        true => Ok(()),
        false => Err(ApiError::new(StatusCode::UNAUTHORIZED, "ACL support disabled")),
    }
}

/// The request's token, resolved: none when no secret was presented, 403
/// `ACL not found` for a secret that resolves to nothing.
fn caller(server: &Server, headers: &HeaderMap, params: &QueryParams) -> Result<Option<AclToken>, ApiError> {
    let secret = request_token(headers, params).or_else(|| server.config.acl.tokens.default.clone());
    let Some(secret) = secret else { return Ok(None) };
    match resolve::token_for_secret(&server.store.view(), &secret)? {
        Some(token) => Ok(Some(token)),
        None => Err(ApiError::new(StatusCode::FORBIDDEN, ACL_NOT_FOUND)),
    }
}

/// The stand-in for `acl:write` until enforcement lands: the caller's
/// token must hold global-management (itself or through a role).
fn require_management(server: &Arc<Server>, headers: &HeaderMap, params: &QueryParams) -> Result<AclToken, ApiError> {
    require_enabled(server)?;
    let denied = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "Permission denied: ACL writes need a token with the global-management policy until ACL enforcement lands",
        )
    };
    let token = caller(server, headers, params)?.ok_or_else(denied)?;
    if !resolve::is_management(&server.store.view(), &token)? {
        return Err(denied());
    }
    Ok(token)
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
