//! `/v1/acl/bootstrap`, `/v1/acl/token*`, `/v1/acl/tokens`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use serde::Deserialize;
use tessera_mesh::acl::ACL_NOT_FOUND;
use tessera_store::Table;
use time::OffsetDateTime;

use super::caller;
use super::require_acl;
use super::require_enabled;
use super::shapes;
use crate::acl::resolve;
use crate::acl::writes;
use crate::http::authz::Authz;
use crate::http::blocking::prepare_table as prepare;
use crate::http::decode_body;
use crate::http::json_body;
use crate::http::query::QueryParams;
use crate::http::read_headers;
use crate::http::ApiError;
use crate::http::App;
use tessera_mesh::acl::Access;

fn body_or_default<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    decode_body(body)
}

/// Consul 1.x answers a missing token, policy or role with a 403 or a 404
/// depending on version; this is the current 404.
fn not_found(what: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("Requested {what} does not exist: {ACL_NOT_FOUND}"))
}

pub async fn bootstrap(State(app): State<App>) -> Result<Response, ApiError> {
    let server = &app.server;
    require_enabled(server)?;
    let made = writes::bootstrap(server, server.config.data_dir.as_deref()).await?;
    tracing::info!(accessor = %made.token.accessor_id, "ACL system bootstrapped");
    json_body(&shapes::bootstrap_token(&server.store.view(), &made.token, &made.secret)?)
}

pub async fn create(State(app): State<App>, authz: Authz, body: Bytes) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let made = writes::create_token(&app.server, body_or_default(&body)?).await?;
    json_body(&shapes::token(&app.server.store.view(), &made.token, Some(&made.secret))?)
}

pub async fn read(
    State(app): State<App>,
    Path(id): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    let server = &app.server;
    require_acl(server, &authz, Access::Read)?;
    prepare(server, &params, Table::Acl).await?;
    let view = server.store.view();
    let token = view.acl_token(&id)?.filter(|t| !resolve::expired(t, OffsetDateTime::now_utc()));
    let token = token.ok_or_else(|| not_found("token"))?;
    let index = view.index(Table::Acl)?;
    Ok((read_headers(server, index), json_body(&shapes::token(&view, &token, None)?)?).into_response())
}

pub async fn read_self(State(app): State<App>, headers: HeaderMap, params: QueryParams) -> Result<Response, ApiError> {
    let server = &app.server;
    require_enabled(server)?;
    prepare(server, &params, Table::Acl).await?;
    let token =
        caller(server, &headers, &params)?.ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, ACL_NOT_FOUND))?;
    let view = server.store.view();
    let index = view.index(Table::Acl)?;
    Ok((read_headers(server, index), json_body(&shapes::token(&view, &token, None)?)?).into_response())
}

pub async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    authz: Authz,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let token = writes::update_token(&app.server, &id, body_or_default(&body)?).await?;
    json_body(&shapes::token(&app.server.store.view(), &token, None)?)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CloneBody {
    #[serde(alias = "Description", default)]
    description: Option<String>,
}

pub async fn clone(
    State(app): State<App>,
    Path(id): Path<String>,
    authz: Authz,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let body: CloneBody = body_or_default(&body)?;
    let made = writes::clone_token(&app.server, &id, body.description).await?;
    json_body(&shapes::token(&app.server.store.view(), &made.token, Some(&made.secret))?)
}

pub async fn delete(State(app): State<App>, Path(id): Path<String>, authz: Authz) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    writes::delete_token(&app.server, &id, authz.accessor_id()).await?;
    Ok(Json(true).into_response())
}

/// `?policy=`, `?role=` (IDs) and `?authmethod=` filter; expired tokens
/// are left out. No auth methods exist yet, so `?authmethod=` matches none.
pub async fn list(State(app): State<App>, params: QueryParams, authz: Authz) -> Result<Response, ApiError> {
    let server = &app.server;
    require_acl(server, &authz, Access::Read)?;
    prepare(server, &params, Table::Acl).await?;
    let view = server.store.view();
    let now = OffsetDateTime::now_utc();
    let policy = params.get("policy").filter(|p| !p.is_empty());
    let role = params.get("role").filter(|r| !r.is_empty());
    let auth_method = params.get("authmethod").filter(|a| !a.is_empty());
    let mut out = Vec::new();
    for token in view.acl_tokens()? {
        let keep = !resolve::expired(&token, now)
            && policy.is_none_or(|p| token.policies.contains(p))
            && role.is_none_or(|r| token.roles.contains(r))
            && auth_method.is_none();
        if keep {
            out.push(shapes::token(&view, &token, None)?);
        }
    }
    let index = view.index(Table::Acl)?;
    Ok((read_headers(server, index), json_body(&out)?).into_response())
}
