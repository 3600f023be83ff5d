//! `/v1/acl/*`: bootstrap, tokens, policies and roles, with Consul's paths,
//! shapes and texts. With ACLs disabled every one answers 401 `ACL support
//! disabled`.
//!
//! Reads need `acl:read`, writes `acl:write` (bootstrap none); reads never
//! show a SecretID (see `shapes`).

mod policies;
mod roles;
mod shapes;
mod tokens;

use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::routing::get;
use axum::routing::put;
use axum::Router;
use tessera_mesh::acl::ACL_NOT_FOUND;
use tessera_store::acl::AclToken;

use crate::acl::resolve;
use crate::consensus::Server;
use crate::http::authz::request_token;
use crate::http::authz::Authz;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use crate::http::App;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

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

/// `acl:read` or `acl:write`, with ACLs enabled.
fn require_acl(server: &Server, authz: &Authz, access: Access) -> Result<(), ApiError> {
    require_enabled(server)?;
    authz.require(Resource::Acl, "", access)?;
    Ok(())
}
