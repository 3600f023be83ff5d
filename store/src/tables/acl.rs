//! The ACL table, in [`Cf::Acl`]:
//!
//! - `meta`: [`AclMeta`] (the secret hashing key, the bootstrap index)
//! - `token/<accessor>`: a token; `secret/<hash>`: its accessor, so a lookup
//!   by secret is a hash and one read
//! - `policy/<id>`, `policy_name/<name>` -> id
//! - `role/<id>`, `role_name/<name>` -> id
//!
//! The indexes are written in the same batch as their rows. Every check
//! that keeps a bad row out (links to missing policies, taken names, the
//! built-ins' protections, rules that do not parse) runs here as well as
//! before proposing: between the proposer's read and this apply another
//! write may have landed, and a refused entry must change nothing. A
//! refusal is an answer ([`Refusal`]), never a state machine error.

use tessera_mesh::acl;
use tessera_mesh::acl::names;

use crate::acl::anonymous_token;
use crate::acl::global_management_policy;
use crate::acl::AclMeta;
use crate::acl::AclPolicy;
use crate::acl::AclRole;
use crate::acl::AclToken;
use crate::engine::KeyValue;
use crate::engine::Reads;
use crate::engine::Snapshot;
use crate::engine::StoreError;
use crate::keys::Cf;
use crate::tables::meta;
use crate::txn::Txn;
use crate::watch::Table;

use super::decode;
use super::encode;

const META_KEY: &[u8] = b"meta";
const TOKEN: &str = "token/";
const SECRET: &str = "secret/";
const POLICY: &str = "policy/";
const POLICY_NAME: &str = "policy_name/";
const ROLE: &str = "role/";
const ROLE_NAME: &str = "role_name/";

/// Why an ACL write was refused, in Consul's words where it has them.
pub type Refusal = String;

/// An apply's outcome: done, or refused with nothing changed.
pub type Outcome<T = ()> = Result<Result<T, Refusal>, StoreError>;

/// Reads of this table from a view or from an apply's own txn (which sees
/// its earlier writes), so apply checks what readers check.
pub trait AclReads {
    fn acl_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    fn acl_scan(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError>;
}

impl AclReads for Txn<'_> {
    fn acl_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Cf::Acl, key)
    }
    fn acl_scan(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        self.scan_prefix(Cf::Acl, prefix)
    }
}

impl AclReads for Snapshot<'_> {
    fn acl_get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(Cf::Acl, key)
    }
    fn acl_scan(&self, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        self.scan_prefix(Cf::Acl, prefix)
    }
}

fn key(prefix: &str, id: &str) -> Vec<u8> {
    format!("{prefix}{id}").into_bytes()
}

fn get<T: serde::de::DeserializeOwned>(r: &impl AclReads, k: &[u8], what: &str) -> Result<Option<T>, StoreError> {
    r.acl_get(k)?.map(|b| decode(&b, what)).transpose()
}

fn get_id(r: &impl AclReads, k: &[u8]) -> Result<Option<String>, StoreError> {
    Ok(r.acl_get(k)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

fn list<T: serde::de::DeserializeOwned>(r: &impl AclReads, prefix: &str, what: &str) -> Result<Vec<T>, StoreError> {
    r.acl_scan(prefix.as_bytes())?.iter().map(|(_, v)| decode(v, what)).collect()
}

// ---- Reads (also from a txn, for apply) ----

pub fn acl_meta(r: &impl AclReads) -> Result<AclMeta, StoreError> {
    Ok(get(r, META_KEY, "ACL meta")?.unwrap_or_default())
}

pub fn token(r: &impl AclReads, accessor: &str) -> Result<Option<AclToken>, StoreError> {
    get(r, &key(TOKEN, accessor), "ACL token")
}

/// The token whose secret hashes to `secret_hash`.
pub fn token_by_secret_hash(r: &impl AclReads, secret_hash: &str) -> Result<Option<AclToken>, StoreError> {
    match get_id(r, &key(SECRET, secret_hash))? {
        Some(accessor) => token(r, &accessor),
        None => Ok(None),
    }
}

pub fn tokens(r: &impl AclReads) -> Result<Vec<AclToken>, StoreError> {
    list(r, TOKEN, "ACL token")
}

pub fn policy(r: &impl AclReads, id: &str) -> Result<Option<AclPolicy>, StoreError> {
    get(r, &key(POLICY, id), "ACL policy")
}

pub fn policy_by_name(r: &impl AclReads, name: &str) -> Result<Option<AclPolicy>, StoreError> {
    match get_id(r, &key(POLICY_NAME, name))? {
        Some(id) => policy(r, &id),
        None => Ok(None),
    }
}

pub fn policies(r: &impl AclReads) -> Result<Vec<AclPolicy>, StoreError> {
    list(r, POLICY, "ACL policy")
}

pub fn role(r: &impl AclReads, id: &str) -> Result<Option<AclRole>, StoreError> {
    get(r, &key(ROLE, id), "ACL role")
}

pub fn role_by_name(r: &impl AclReads, name: &str) -> Result<Option<AclRole>, StoreError> {
    match get_id(r, &key(ROLE_NAME, name))? {
        Some(id) => role(r, &id),
        None => Ok(None),
    }
}

pub fn roles(r: &impl AclReads) -> Result<Vec<AclRole>, StoreError> {
    list(r, ROLE, "ACL role")
}

// ---- Bootstrap ----

/// Consul's refusal of a second bootstrap.
pub fn bootstrap_refusal(reset_index: u64) -> Refusal {
    format!("ACL bootstrap no longer allowed (reset index: {reset_index})")
}

/// The first bootstrap (or, with `reset_index` equal to the last
/// bootstrap's index, one more): records the hashing key, writes the
/// built-ins if missing, and the management `token`.
pub fn bootstrap(txn: &mut Txn<'_>, index: u64, hash_key: &str, token: &AclToken, reset_index: Option<u64>) -> Outcome {
    let meta_row = acl_meta(txn)?;
    if meta_row.bootstrap_index != 0 {
        match reset_index {
            None => return Ok(Err(bootstrap_refusal(meta_row.bootstrap_index))),
            Some(given) if given != meta_row.bootstrap_index => {
                return Ok(Err(format!(
                    "Invalid bootstrap reset index (specified {given}, reset index: {})",
                    meta_row.bootstrap_index
                )))
            }
            Some(_) => {}
        }
    }
    // Hashes already stored were made under the key in the state; a
    // proposer that read no key raced another bootstrap and must retry.
    if !meta_row.hash_key.is_empty() && meta_row.hash_key != hash_key {
        return Ok(Err("the ACL state changed while bootstrapping; try again".into()));
    }
    if hash_key.is_empty() {
        return Ok(Err("a bootstrap needs the secret hashing key".into()));
    }
    // Checked before any write, so a refusal leaves the txn untouched.
    let anonymous = anonymous_token(hash_key, &token.create_time);
    let anonymous_exists = self::token(txn, &anonymous.accessor_id)?.is_some();
    // Its link to the built-in policy is good: the policy is written below.
    let others: Vec<String> =
        token.policies.iter().filter(|id| *id != acl::GLOBAL_MANAGEMENT_POLICY_ID).cloned().collect();
    if let Err(refusal) = check_unique(txn, token)?.and(check_links(txn, &others, &token.roles)?) {
        return Ok(Err(refusal));
    }
    if !anonymous_exists && token.secret_hash == anonymous.secret_hash {
        return Ok(Err("Invalid Token: SecretID is already in use".into()));
    }
    txn.put(Cf::Acl, META_KEY, encode(&AclMeta { hash_key: hash_key.to_string(), bootstrap_index: index }));
    if policy(txn, acl::GLOBAL_MANAGEMENT_POLICY_ID)?.is_none() {
        let builtin = AclPolicy { create_index: index, modify_index: index, ..global_management_policy() };
        put_policy(txn, &builtin);
    }
    if !anonymous_exists {
        put_token(txn, &AclToken { create_index: index, modify_index: index, ..anonymous });
    }
    put_token(txn, &AclToken { create_index: index, modify_index: index, ..token.clone() });
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(()))
}

// ---- Tokens ----

fn put_token(txn: &mut Txn<'_>, token: &AclToken) {
    txn.put(Cf::Acl, key(SECRET, &token.secret_hash), token.accessor_id.as_bytes());
    txn.put(Cf::Acl, key(TOKEN, &token.accessor_id), encode(token));
}

fn check_unique(txn: &Txn<'_>, token: &AclToken) -> Outcome {
    if self::token(txn, &token.accessor_id)?.is_some() {
        return Ok(Err("Invalid Token: AccessorID is already in use".into()));
    }
    if token.secret_hash.is_empty() || get_id(txn, &key(SECRET, &token.secret_hash))?.is_some() {
        return Ok(Err("Invalid Token: SecretID is already in use".into()));
    }
    Ok(Ok(()))
}

fn check_new_token(txn: &Txn<'_>, token: &AclToken) -> Outcome {
    if let Err(refusal) = check_unique(txn, token)? {
        return Ok(Err(refusal));
    }
    check_links(txn, &token.policies, &token.roles)
}

fn check_links(txn: &Txn<'_>, policies: &[String], roles: &[String]) -> Outcome {
    for id in policies {
        if policy(txn, id)?.is_none() {
            return Ok(Err(format!("No such ACL policy with ID {id:?}")));
        }
    }
    for id in roles {
        if role(txn, id)?.is_none() {
            return Ok(Err(format!("No such ACL role with ID {id:?}")));
        }
    }
    Ok(Ok(()))
}

/// Creates `token` (`create`) or replaces the editable fields of the
/// existing one (its secret, locality, create time and index stay).
pub fn set_token(txn: &mut Txn<'_>, index: u64, token: &AclToken, create: bool) -> Outcome {
    if acl_meta(txn)?.hash_key.is_empty() {
        return Ok(Err("the ACL system is not bootstrapped".into()));
    }
    let row = match (create, self::token(txn, &token.accessor_id)?) {
        (true, _) => {
            if let Err(refusal) = check_new_token(txn, token)? {
                return Ok(Err(refusal));
            }
            AclToken { create_index: index, modify_index: index, ..token.clone() }
        }
        (false, None) => return Ok(Err(format!("Cannot find token {:?}", token.accessor_id))),
        (false, Some(old)) => {
            if token.secret_hash != old.secret_hash {
                return Ok(Err("Changing a tokens SecretID is not permitted".into()));
            }
            if token.local != old.local {
                return Ok(Err(format!("cannot toggle local mode of {}", old.accessor_id)));
            }
            if let Err(refusal) = check_links(txn, &token.policies, &token.roles)? {
                return Ok(Err(refusal));
            }
            AclToken {
                create_time: old.create_time,
                expiration_time: old.expiration_time,
                create_index: old.create_index,
                modify_index: index,
                ..token.clone()
            }
        }
    };
    put_token(txn, &row);
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(()))
}

/// Deletes a token; false if there was none. The anonymous token stays.
pub fn delete_token(txn: &mut Txn<'_>, index: u64, accessor: &str) -> Outcome<bool> {
    if accessor == acl::ANONYMOUS_TOKEN_ID {
        return Ok(Err("Delete operation not permitted on the anonymous token".into()));
    }
    let Some(old) = token(txn, accessor)? else { return Ok(Ok(false)) };
    txn.delete(Cf::Acl, key(SECRET, &old.secret_hash));
    txn.delete(Cf::Acl, key(TOKEN, accessor));
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(true))
}

// ---- Policies ----

fn put_policy(txn: &mut Txn<'_>, policy: &AclPolicy) {
    txn.put(Cf::Acl, key(POLICY_NAME, &policy.name), policy.id.as_bytes());
    txn.put(Cf::Acl, key(POLICY, &policy.id), encode(policy));
}

/// Creates or replaces a policy. Its name must be free, its rules must
/// parse, and the built-in's rules and datacenters never change.
pub fn set_policy(txn: &mut Txn<'_>, index: u64, policy: &AclPolicy, create: bool) -> Outcome {
    if !names::valid_policy_name(&policy.name) {
        return Ok(Err("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed".into()));
    }
    if let Err(e) = acl::parse(&policy.rules) {
        return Ok(Err(format!("Invalid Policy: {e}")));
    }
    let existing = self::policy(txn, &policy.id)?;
    let create_index = match (create, &existing) {
        (true, Some(_)) => return Ok(Err(format!("Invalid Policy: ID {:?} is already in use", policy.id))),
        (true, None) => index,
        (false, None) => return Ok(Err(format!("Cannot find policy {:?}", policy.id))),
        (false, Some(old)) => old.create_index,
    };
    if get_id(txn, &key(POLICY_NAME, &policy.name))?.is_some_and(|owner| owner != policy.id) {
        return Ok(Err(format!("Invalid Policy: A Policy with Name {:?} already exists", policy.name)));
    }
    if policy.id == acl::GLOBAL_MANAGEMENT_POLICY_ID {
        let builtin = global_management_policy();
        if policy.rules != builtin.rules {
            return Ok(Err("Changing the Rules for the builtin global-management policy is not permitted".into()));
        }
        if policy.datacenters != builtin.datacenters {
            return Ok(Err("Changing the Datacenters of the builtin global-management policy is not permitted".into()));
        }
    }
    if let Some(old) = &existing {
        if old.name != policy.name {
            txn.delete(Cf::Acl, key(POLICY_NAME, &old.name));
        }
    }
    put_policy(txn, &AclPolicy { create_index, modify_index: index, ..policy.clone() });
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(()))
}

/// Deletes a policy; false if there was none. Links to it from tokens and
/// roles are left to dangle and are not shown (as Consul does).
pub fn delete_policy(txn: &mut Txn<'_>, index: u64, id: &str) -> Outcome<bool> {
    if id == acl::GLOBAL_MANAGEMENT_POLICY_ID {
        return Ok(Err("Delete operation not permitted on the builtin global-management policy".into()));
    }
    let Some(old) = policy(txn, id)? else { return Ok(Ok(false)) };
    txn.delete(Cf::Acl, key(POLICY_NAME, &old.name));
    txn.delete(Cf::Acl, key(POLICY, id));
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(true))
}

// ---- Roles ----

fn put_role(txn: &mut Txn<'_>, role: &AclRole) {
    txn.put(Cf::Acl, key(ROLE_NAME, &role.name), role.id.as_bytes());
    txn.put(Cf::Acl, key(ROLE, &role.id), encode(role));
}

pub fn set_role(txn: &mut Txn<'_>, index: u64, role: &AclRole, create: bool) -> Outcome {
    if !names::valid_role_name(&role.name) {
        return Ok(Err("Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed".into()));
    }
    let existing = self::role(txn, &role.id)?;
    let create_index = match (create, &existing) {
        (true, Some(_)) => return Ok(Err(format!("Invalid Role: ID {:?} is already in use", role.id))),
        (true, None) => index,
        (false, None) => return Ok(Err(format!("Cannot find role {:?}", role.id))),
        (false, Some(old)) => old.create_index,
    };
    if get_id(txn, &key(ROLE_NAME, &role.name))?.is_some_and(|owner| owner != role.id) {
        return Ok(Err(format!("Invalid Role: A Role with Name {:?} already exists", role.name)));
    }
    if let Err(refusal) = check_links(txn, &role.policies, &[])? {
        return Ok(Err(refusal));
    }
    if let Some(old) = &existing {
        if old.name != role.name {
            txn.delete(Cf::Acl, key(ROLE_NAME, &old.name));
        }
    }
    put_role(txn, &AclRole { create_index, modify_index: index, ..role.clone() });
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(()))
}

pub fn delete_role(txn: &mut Txn<'_>, index: u64, id: &str) -> Outcome<bool> {
    let Some(old) = role(txn, id)? else { return Ok(Ok(false)) };
    txn.delete(Cf::Acl, key(ROLE_NAME, &old.name));
    txn.delete(Cf::Acl, key(ROLE, id));
    meta::bump_table_index(txn, Table::Acl, index);
    Ok(Ok(true))
}

#[cfg(test)]
#[path = "acl_tests.rs"]
mod tests;
