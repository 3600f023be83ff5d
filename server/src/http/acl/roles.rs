//! `/v1/acl/role*`, `/v1/acl/roles`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use tessera_mesh::acl::ACL_NOT_FOUND;
use tessera_store::acl::AclRole;
use tessera_store::Table;

use super::require_acl;
use super::shapes;
use crate::acl::input::RoleBody;
use crate::acl::writes;
use crate::consensus::Server;
use crate::http::authz::Authz;
use crate::http::blocking::prepare_table as prepare;
use crate::http::decode_body;
use crate::http::json_body;
use crate::http::query::QueryParams;
use crate::http::read_headers;
use crate::http::ApiError;
use crate::http::App;
use tessera_mesh::acl::Access;

fn answer(server: &Server, found: Option<AclRole>) -> Result<Response, ApiError> {
    let role = found.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("Requested role does not exist: {ACL_NOT_FOUND}"))
    })?;
    let view = server.store.view();
    let index = view.index(Table::Acl)?;
    Ok((read_headers(server, index), json_body(&shapes::role(&view, &role)?)?).into_response())
}

pub async fn create(State(app): State<App>, authz: Authz, body: Bytes) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let body: RoleBody = decode_body(&body)?;
    let role = writes::create_role(&app.server, body).await?;
    json_body(&shapes::role(&app.server.store.view(), &role)?)
}

pub async fn read(
    State(app): State<App>,
    Path(id): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Read)?;
    prepare(&app.server, &params, Table::Acl).await?;
    answer(&app.server, app.server.store.view().acl_role(&id)?)
}

pub async fn read_by_name(
    State(app): State<App>,
    Path(name): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Read)?;
    prepare(&app.server, &params, Table::Acl).await?;
    answer(&app.server, app.server.store.view().acl_role_by_name(&name)?)
}

pub async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    authz: Authz,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let body: RoleBody = decode_body(&body)?;
    let role = writes::update_role(&app.server, &id, body).await?;
    json_body(&shapes::role(&app.server.store.view(), &role)?)
}

pub async fn delete(State(app): State<App>, Path(id): Path<String>, authz: Authz) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    writes::delete_role(&app.server, &id).await?;
    Ok(Json(true).into_response())
}

/// `?policy=` (an ID) filters.
pub async fn list(State(app): State<App>, params: QueryParams, authz: Authz) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Read)?;
    prepare(&app.server, &params, Table::Acl).await?;
    let view = app.server.store.view();
    let policy = params.get("policy").filter(|p| !p.is_empty());
    let mut out = Vec::new();
    for role in view.acl_roles()? {
        if policy.is_none_or(|p| role.policies.contains(p)) {
            out.push(shapes::role(&view, &role)?);
        }
    }
    Ok((read_headers(&app.server, view.index(Table::Acl)?), json_body(&out)?).into_response())
}
