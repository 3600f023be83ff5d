//! `PUT /v1/agent/token/:type`: sets one of this agent's own tokens
//! (`acl set-agent-token`). Needs acl:write; kept in the data dir with
//! `acl.enable_token_persistence`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::Path;
use axum::extract::State;
use axum::http::StatusCode;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

use crate::acl::tokens::TokenKind;
use crate::agent::Agent;
use crate::http::authz::Authz;
use crate::http::decode_body;
use crate::http::ApiError;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    #[serde(alias = "Token", default)]
    token: String,
}

pub async fn set(
    State(agent): State<Arc<Agent>>,
    Path(kind): Path<String>,
    authz: Authz,
    body: Bytes,
) -> Result<(), ApiError> {
    let tokens = agent.acl().tokens().ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "ACL support disabled"))?;
    authz.require(Resource::Acl, "", Access::Write)?;
    let which = TokenKind::from_path(&kind)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("Token {kind:?} is unknown")))?;
    let body: TokenBody = decode_body(&body)?;
    tokens.set(which, Some(body.token)).map_err(|e| ApiError::internal(format!("Failed persisting tokens: {e}")))?;
    tracing::info!(kind, "agent token set");
    Ok(())
}
