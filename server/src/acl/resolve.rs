//! From a presented SecretID to its token, and what a token is.

use tessera_mesh::acl::secret;
use tessera_mesh::acl::GLOBAL_MANAGEMENT_POLICY_ID;
use tessera_store::acl::AclToken;
use tessera_store::StoreError;
use tessera_store::View;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as tokens record times (RFC 3339, UTC).
pub fn now_text() -> String {
    OffsetDateTime::now_utc().format(&Rfc3339).unwrap_or_default()
}

pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

/// Whether the token's expiration time has passed (Consul hides such
/// tokens from reads and lists, and they resolve to nothing).
pub fn expired(token: &AclToken, now: OffsetDateTime) -> bool {
    token.expiration_time.as_deref().and_then(parse_time).is_some_and(|at| at <= now)
}

/// The live token whose SecretID is `secret`; none before bootstrap, for
/// an unknown secret, or for an expired token.
pub fn token_for_secret(view: &View<'_>, secret_text: &str) -> Result<Option<AclToken>, StoreError> {
    let meta = view.acl_meta()?;
    if meta.hash_key.is_empty() || secret_text.is_empty() {
        return Ok(None);
    }
    let token = view.acl_token_by_secret_hash(&secret::hash(&meta.hash_key, secret_text))?;
    Ok(token.filter(|t| !expired(t, OffsetDateTime::now_utc())))
}

/// Whether the token carries the global-management policy, itself or
/// through one of its roles: what the ACL writes require until general
/// enforcement checks `acl:write`.
pub fn is_management(view: &View<'_>, token: &AclToken) -> Result<bool, StoreError> {
    if token.policies.iter().any(|p| p == GLOBAL_MANAGEMENT_POLICY_ID) {
        return Ok(true);
    }
    for role_id in &token.roles {
        if view.acl_role(role_id)?.is_some_and(|r| r.policies.iter().any(|p| p == GLOBAL_MANAGEMENT_POLICY_ID)) {
            return Ok(true);
        }
    }
    Ok(false)
}
