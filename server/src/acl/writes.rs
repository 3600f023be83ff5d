//! ACL writes: each builds its rows (new IDs, the secret made and hashed
//! here), checks them against the state, and proposes one Command. The
//! state machine checks again (a policy may be deleted meanwhile) and
//! answers `Refused` with the reason, which becomes the error here.

use std::path::Path;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use tessera_mesh::acl::secret;
use tessera_mesh::acl::GLOBAL_MANAGEMENT_POLICY_ID;
use tessera_store::acl::AclPolicy;
use tessera_store::acl::AclRole;
use tessera_store::acl::AclToken;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::acl::input;
use crate::acl::input::PolicyBody;
use crate::acl::input::RoleBody;
use crate::acl::input::TokenBody;
use crate::acl::resolve;
use crate::acl::BOOTSTRAP_RESET_FILE;
use crate::consensus::Server;
use crate::consensus::ServerError;

/// A token just made, with the one copy of its secret there will ever be.
pub struct MadeToken {
    pub token: AclToken,
    pub secret: String,
}

fn bad(message: impl Into<String>) -> ServerError {
    ServerError::BadRequest(message.into())
}

/// Consul's `Hash`: a digest of the content fields, base64 (SHA-256 here,
/// BLAKE2b in Consul; clients only compare it).
fn content_hash(content: &impl Serialize) -> String {
    let bytes = serde_json::to_vec(content).unwrap_or_default();
    STANDARD.encode(ring::digest::digest(&ring::digest::SHA256, &bytes).as_ref())
}

fn token_hash(t: &AclToken) -> String {
    content_hash(&(&t.description, &t.policies, &t.roles, &t.service_identities, &t.node_identities, t.local))
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A write's answer: applied, or the state machine's reason for refusing.
async fn propose(server: &Server, command: Command) -> Result<bool, ServerError> {
    match server.write(command).await?.response {
        CommandResponse::Applied(applied) => Ok(applied),
        CommandResponse::Refused(reason) => Err(bad(reason)),
        other => Err(ServerError::Internal(format!("unexpected answer to an ACL write: {other:?}"))),
    }
}

/// The hashing key of a bootstrapped cluster; token writes need one.
fn hash_key(server: &Server) -> Result<String, ServerError> {
    let key = server.store.view().acl_meta()?.hash_key;
    if key.is_empty() {
        return Err(bad("The ACL system is not bootstrapped; run PUT /v1/acl/bootstrap first"));
    }
    Ok(key)
}

// ---- Bootstrap ----

/// Reads and removes `<data_dir>/acl-bootstrap-reset`, as Consul does
/// whether or not the bootstrap then succeeds.
fn take_reset_index(data_dir: Option<&Path>) -> Result<Option<u64>, ServerError> {
    let Some(path) = data_dir.map(|d| d.join(BOOTSTRAP_RESET_FILE)) else { return Ok(None) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ServerError::Internal(format!("reading {}: {e}", path.display()))),
    };
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!(path = %path.display(), error = %e, "could not remove the ACL bootstrap reset file");
    }
    let index = text
        .trim()
        .parse()
        .map_err(|_| ServerError::Internal(format!("{}: {:?} is not a reset index", path.display(), text.trim())))?;
    Ok(Some(index))
}

fn bootstrap_error(reason: String) -> ServerError {
    match reason {
        r if r.contains("no longer allowed") => ServerError::Forbidden(format!("Permission denied: {r}")),
        // Consul's text lacks the marker above, so it reaches HTTP as a 500.
        r if r.starts_with("Invalid bootstrap reset index") => ServerError::Internal(r),
        r => bad(r),
    }
}

/// `PUT /v1/acl/bootstrap`: the management token, once (and once more for
/// each reset file naming the last bootstrap's index). `data_dir` is where
/// this server looks for the reset file.
pub async fn bootstrap(server: &Server, data_dir: Option<&Path>) -> Result<MadeToken, ServerError> {
    let meta = server.store.view().acl_meta()?;
    let reset_index = take_reset_index(data_dir)?;
    if meta.bootstrap_index != 0 {
        match reset_index {
            None => return Err(bootstrap_error(no_longer_allowed(meta.bootstrap_index))),
            Some(given) if given != meta.bootstrap_index => {
                return Err(bootstrap_error(format!(
                    "Invalid bootstrap reset index (specified {given}, reset index: {})",
                    meta.bootstrap_index
                )))
            }
            Some(_) => {}
        }
    }
    let key = if meta.hash_key.is_empty() { secret::new_key() } else { meta.hash_key };
    made_management(server, key, "Bootstrap Token (Global Management)", None, reset_index).await
}

fn no_longer_allowed(index: u64) -> String {
    format!("ACL bootstrap no longer allowed (reset index: {index})")
}

/// A management token through the bootstrap command: with `secret_text`
/// (the configured `initial_management`) or a new one.
async fn made_management(
    server: &Server,
    key: String,
    description: &str,
    secret_text: Option<String>,
    reset_index: Option<u64>,
) -> Result<MadeToken, ServerError> {
    let secret_text = secret_text.unwrap_or_else(new_id);
    let mut token = AclToken {
        accessor_id: new_id(),
        secret_hash: secret::hash(&key, &secret_text),
        description: description.to_string(),
        policies: vec![GLOBAL_MANAGEMENT_POLICY_ID.to_string()],
        create_time: resolve::now_text(),
        ..AclToken::default()
    };
    token.hash = token_hash(&token);
    let command = Command::AclBootstrap { hash_key: key, token: token.clone(), reset_index };
    match server.write(command).await?.response {
        CommandResponse::Applied(true) => {}
        CommandResponse::Refused(reason) => return Err(bootstrap_error(reason)),
        other => return Err(ServerError::Internal(format!("unexpected answer to a bootstrap: {other:?}"))),
    }
    let stored = server.store.view().acl_token(&token.accessor_id)?.unwrap_or(token);
    Ok(MadeToken { token: stored, secret: secret_text })
}

/// Consul's `acl.tokens.initial_management`, on the leader: unless a token
/// already has that secret, bootstrap with it (or, once bootstrapped, add
/// it as a management token).
pub async fn ensure_initial_management(server: &Server, secret_text: &str) -> Result<(), ServerError> {
    let view = server.store.view();
    if resolve::token_for_secret(&view, secret_text)?.is_some() {
        return Ok(());
    }
    let meta = view.acl_meta()?;
    drop(view);
    const DESCRIPTION: &str = "Initial Management Token";
    if meta.bootstrap_index == 0 {
        let key = if meta.hash_key.is_empty() { secret::new_key() } else { meta.hash_key };
        made_management(server, key, DESCRIPTION, Some(secret_text.to_string()), None).await?;
        return Ok(());
    }
    let mut token = AclToken {
        accessor_id: new_id(),
        secret_hash: secret::hash(&meta.hash_key, secret_text),
        description: DESCRIPTION.into(),
        policies: vec![GLOBAL_MANAGEMENT_POLICY_ID.to_string()],
        create_time: resolve::now_text(),
        ..AclToken::default()
    };
    token.hash = token_hash(&token);
    propose(server, Command::AclTokenSet { token, create: true }).await.map(|_| ())
}

// ---- Tokens ----

/// The links and identities of a body, checked against the state.
fn links_of(server: &Server, body: &TokenBody, local: bool) -> Result<AclToken, ServerError> {
    let view = server.store.view();
    let token = AclToken {
        description: body.description.clone().unwrap_or_default(),
        policies: input::policy_ids(&view, &body.policies)?,
        roles: input::role_ids(&view, &body.roles)?,
        service_identities: input::service_identities(&body.service_identities, "token", local)?,
        node_identities: input::node_identities(&body.node_identities, "token")?,
        local,
        ..AclToken::default()
    };
    Ok(token)
}

fn expiration(body: &TokenBody, created: OffsetDateTime) -> Result<Option<String>, ServerError> {
    let ttl = body.expiration_ttl.as_ref().filter(|v| !v.is_null()).map(input::expiration_ttl).transpose()?;
    let ttl = ttl.filter(|d| !d.is_zero());
    let at = body.expiration_time.as_deref().filter(|t| !t.is_empty());
    match (ttl, at) {
        (Some(_), Some(_)) => Err(bad("Token Expiration TTL and Expiration Time cannot both be set")),
        (Some(ttl), None) => {
            check_ttl(ttl)?;
            let at = created + ttl;
            Ok(Some(at.format(&Rfc3339).unwrap_or_default()))
        }
        (None, Some(text)) => {
            let at = resolve::parse_time(text).ok_or_else(|| bad(format!("Invalid ExpirationTime {text:?}")))?;
            let ahead = at - created;
            if ahead < time::Duration::ZERO {
                return Err(bad("ExpirationTime cannot be in the past"));
            }
            check_ttl(Duration::try_from(ahead).unwrap_or_default())?;
            Ok(Some(text.to_string()))
        }
        (None, None) => Ok(None),
    }
}

fn check_ttl(ttl: Duration) -> Result<(), ServerError> {
    let show = |d: Duration| tessera_mesh::catalog::duration::go::format(d);
    if ttl < input::MIN_TTL {
        return Err(bad(format!("Token Expiration TTL '{}' should be > {}", show(ttl), show(input::MIN_TTL))));
    }
    if ttl > input::MAX_TTL {
        return Err(bad(format!("Token Expiration TTL '{}' should be < {}", show(ttl), show(input::MAX_TTL))));
    }
    Ok(())
}

/// `PUT /v1/acl/token`.
pub async fn create_token(server: &Server, body: TokenBody) -> Result<MadeToken, ServerError> {
    let key = hash_key(server)?;
    let accessor = match body.accessor_id.as_deref().filter(|a| !a.is_empty()) {
        Some(given) => {
            input::check_chosen_id("AccessorID", given)?;
            given.to_string()
        }
        None => new_id(),
    };
    let secret_text = match body.secret_id.as_deref().filter(|s| !s.is_empty()) {
        Some(given) => {
            input::check_chosen_id("SecretID", given)?;
            given.to_string()
        }
        None => new_id(),
    };
    let now = OffsetDateTime::now_utc();
    let mut token = links_of(server, &body, body.local)?;
    token.accessor_id = accessor;
    token.secret_hash = secret::hash(&key, &secret_text);
    token.expiration_time = expiration(&body, now)?;
    token.create_time = now.format(&Rfc3339).unwrap_or_default();
    token.hash = token_hash(&token);
    propose(server, Command::AclTokenSet { token: token.clone(), create: true }).await?;
    let stored = server.store.view().acl_token(&token.accessor_id)?.unwrap_or(token);
    Ok(MadeToken { token: stored, secret: secret_text })
}

/// `PUT /v1/acl/token/:accessor`: the editable fields replaced.
pub async fn update_token(server: &Server, accessor: &str, body: TokenBody) -> Result<AclToken, ServerError> {
    if body.accessor_id.as_deref().is_some_and(|a| !a.is_empty() && a != accessor) {
        return Err(bad("Token Accessor ID in URL and payload do not match"));
    }
    let key = hash_key(server)?;
    let old = server.store.view().acl_token(accessor)?.ok_or_else(|| bad(format!("Cannot find token {accessor:?}")))?;
    if body.secret_id.as_deref().is_some_and(|s| !s.is_empty() && secret::hash(&key, s) != old.secret_hash) {
        return Err(bad("Changing a tokens SecretID is not permitted"));
    }
    if body.local != old.local {
        return Err(bad(format!("cannot toggle local mode of {accessor}")));
    }
    let given_expiry = body.expiration_time.as_deref().filter(|t| !t.is_empty());
    let ttl_given = body.expiration_ttl.as_ref().is_some_and(|v| !v.is_null());
    if ttl_given || given_expiry.is_some_and(|t| Some(t) != old.expiration_time.as_deref()) {
        return Err(bad(format!("Cannot change expiration time of {accessor}")));
    }
    let mut token = links_of(server, &body, old.local)?;
    token.accessor_id = old.accessor_id.clone();
    token.secret_hash = old.secret_hash.clone();
    token.create_time = old.create_time.clone();
    token.expiration_time = old.expiration_time.clone();
    token.hash = token_hash(&token);
    propose(server, Command::AclTokenSet { token: token.clone(), create: false }).await?;
    Ok(server.store.view().acl_token(accessor)?.unwrap_or(token))
}

/// `PUT /v1/acl/token/:accessor/clone`: the same links under new IDs.
pub async fn clone_token(
    server: &Server,
    accessor: &str,
    description: Option<String>,
) -> Result<MadeToken, ServerError> {
    let key = hash_key(server)?;
    let old = server.store.view().acl_token(accessor)?.ok_or_else(|| bad(format!("Cannot find token {accessor:?}")))?;
    if resolve::expired(&old, OffsetDateTime::now_utc()) {
        return Err(bad(format!("Cannot find token {accessor:?}")));
    }
    let secret_text = new_id();
    let mut token = AclToken {
        accessor_id: new_id(),
        secret_hash: secret::hash(&key, &secret_text),
        description: description.filter(|d| !d.is_empty()).unwrap_or(old.description),
        create_time: resolve::now_text(),
        create_index: 0,
        modify_index: 0,
        ..old
    };
    token.hash = token_hash(&token);
    propose(server, Command::AclTokenSet { token: token.clone(), create: true }).await?;
    let stored = server.store.view().acl_token(&token.accessor_id)?.unwrap_or(token);
    Ok(MadeToken { token: stored, secret: secret_text })
}

/// `DELETE /v1/acl/token/:accessor`; `caller` is the request's own token,
/// which may not delete itself. True also when there was none (Consul).
/// `caller` is the requesting token's AccessorID.
pub async fn delete_token(server: &Server, accessor: &str, caller: &str) -> Result<(), ServerError> {
    if caller == accessor {
        return Err(bad("Deletion of the request's authorization token is not permitted"));
    }
    propose(server, Command::AclTokenDelete { accessor_id: accessor.to_string() }).await.map(|_| ())
}

// ---- Policies ----

fn policy_row(id: String, body: PolicyBody) -> AclPolicy {
    let hash = content_hash(&(&body.name, &body.description, &body.rules, &body.datacenters));
    AclPolicy {
        id,
        name: body.name,
        description: body.description,
        rules: body.rules,
        datacenters: body.datacenters,
        hash,
        ..AclPolicy::default()
    }
}

/// `PUT /v1/acl/policy`.
pub async fn create_policy(server: &Server, body: PolicyBody) -> Result<AclPolicy, ServerError> {
    if body.id.as_deref().is_some_and(|i| !i.is_empty()) {
        return Err(bad("Cannot specify the ID when creating a new policy"));
    }
    hash_key(server)?;
    input::check_policy(&body)?;
    let policy = policy_row(new_id(), body);
    propose(server, Command::AclPolicySet { policy: policy.clone(), create: true }).await?;
    Ok(server.store.view().acl_policy(&policy.id)?.unwrap_or(policy))
}

/// `PUT /v1/acl/policy/:id`.
pub async fn update_policy(server: &Server, id: &str, body: PolicyBody) -> Result<AclPolicy, ServerError> {
    if body.id.as_deref().is_some_and(|i| !i.is_empty() && i != id) {
        return Err(bad("Policy ID in URL and payload do not match"));
    }
    input::check_policy(&body)?;
    if server.store.view().acl_policy(id)?.is_none() {
        return Err(bad(format!("Cannot find policy {id:?}")));
    }
    let policy = policy_row(id.to_string(), body);
    propose(server, Command::AclPolicySet { policy: policy.clone(), create: false }).await?;
    Ok(server.store.view().acl_policy(id)?.unwrap_or(policy))
}

pub async fn delete_policy(server: &Server, id: &str) -> Result<(), ServerError> {
    propose(server, Command::AclPolicyDelete { id: id.to_string() }).await.map(|_| ())
}

// ---- Roles ----

fn role_row(server: &Server, id: String, body: RoleBody) -> Result<AclRole, ServerError> {
    input::check_role_name(&body.name)?;
    let view = server.store.view();
    let mut role = AclRole {
        id,
        name: body.name,
        description: body.description,
        policies: input::policy_ids(&view, &body.policies)?,
        service_identities: input::service_identities(&body.service_identities, "role", false)?,
        node_identities: input::node_identities(&body.node_identities, "role")?,
        ..AclRole::default()
    };
    role.hash =
        content_hash(&(&role.name, &role.description, &role.policies, &role.service_identities, &role.node_identities));
    Ok(role)
}

/// `PUT /v1/acl/role`.
pub async fn create_role(server: &Server, body: RoleBody) -> Result<AclRole, ServerError> {
    if body.id.as_deref().is_some_and(|i| !i.is_empty()) {
        return Err(bad("Cannot specify the ID when creating a new role"));
    }
    hash_key(server)?;
    let role = role_row(server, new_id(), body)?;
    propose(server, Command::AclRoleSet { role: role.clone(), create: true }).await?;
    Ok(server.store.view().acl_role(&role.id)?.unwrap_or(role))
}

/// `PUT /v1/acl/role/:id`.
pub async fn update_role(server: &Server, id: &str, body: RoleBody) -> Result<AclRole, ServerError> {
    if body.id.as_deref().is_some_and(|i| !i.is_empty() && i != id) {
        return Err(bad("Role ID in URL and payload do not match"));
    }
    if server.store.view().acl_role(id)?.is_none() {
        return Err(bad(format!("Cannot find role {id:?}")));
    }
    let role = role_row(server, id.to_string(), body)?;
    propose(server, Command::AclRoleSet { role: role.clone(), create: false }).await?;
    Ok(server.store.view().acl_role(id)?.unwrap_or(role))
}

pub async fn delete_role(server: &Server, id: &str) -> Result<(), ServerError> {
    propose(server, Command::AclRoleDelete { id: id.to_string() }).await.map(|_| ())
}
