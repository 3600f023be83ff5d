//! `/v1/acl/policy*`, `/v1/acl/policies`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Json;
use tessera_mesh::acl::ACL_NOT_FOUND;
use tessera_store::acl::AclPolicy;
use tessera_store::Table;

use super::require_acl;
use super::shapes;
use crate::acl::input::PolicyBody;
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

fn answer(server: &Server, found: Option<AclPolicy>) -> Result<Response, ApiError> {
    let policy = found.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, format!("Requested policy does not exist: {ACL_NOT_FOUND}"))
    })?;
    let index = server.store.view().index(Table::Acl)?;
    Ok((read_headers(server, index), json_body(&shapes::policy(&policy, true))?).into_response())
}

pub async fn create(State(app): State<App>, authz: Authz, body: Bytes) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let body: PolicyBody = decode_body(&body)?;
    let policy = writes::create_policy(&app.server, body).await?;
    json_body(&shapes::policy(&policy, true))
}

pub async fn read(
    State(app): State<App>,
    Path(id): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Read)?;
    prepare(&app.server, &params, Table::Acl).await?;
    answer(&app.server, app.server.store.view().acl_policy(&id)?)
}

pub async fn read_by_name(
    State(app): State<App>,
    Path(name): Path<String>,
    params: QueryParams,
    authz: Authz,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Read)?;
    prepare(&app.server, &params, Table::Acl).await?;
    answer(&app.server, app.server.store.view().acl_policy_by_name(&name)?)
}

pub async fn update(
    State(app): State<App>,
    Path(id): Path<String>,
    authz: Authz,
    body: Bytes,
) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    let body: PolicyBody = decode_body(&body)?;
    let policy = writes::update_policy(&app.server, &id, body).await?;
    json_body(&shapes::policy(&policy, true))
}

pub async fn delete(State(app): State<App>, Path(id): Path<String>, authz: Authz) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Write)?;
    writes::delete_policy(&app.server, &id).await?;
    Ok(Json(true).into_response())
}

pub async fn list(State(app): State<App>, params: QueryParams, authz: Authz) -> Result<Response, ApiError> {
    require_acl(&app.server, &authz, Access::Read)?;
    prepare(&app.server, &params, Table::Acl).await?;
    let view = app.server.store.view();
    let stubs: Vec<_> = view.acl_policies()?.iter().map(|p| shapes::policy(p, false)).collect();
    Ok((read_headers(&app.server, view.index(Table::Acl)?), json_body(&stubs)?).into_response())
}
