//! What the ACL system keeps in Raft: tokens, policies, roles and the
//! cluster's ACL settings. Everything here is a stored format: fields are
//! only ever added (with `#[serde(default)]`).
//!
//! A token never holds its SecretID: only `secret_hash`, its keyed hash
//! ([`tessera_mesh::acl::secret`]) under [`AclMeta::hash_key`]. Links to
//! policies and roles are kept by ID only (names are resolved on write and
//! shown from the policy or role on read, so a rename shows everywhere).

use serde::Deserialize;
use serde::Serialize;

/// The ACL system's own row: the secret hashing key and the bootstrap state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclMeta {
    /// Hex; made by the server that proposed the first bootstrap.
    pub hash_key: String,
    /// The Raft index of the last bootstrap; 0 while never bootstrapped.
    /// Consul's "reset index": a bootstrap naming it may run once more.
    pub bootstrap_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceIdentityRow {
    pub service_name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub datacenters: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeIdentityRow {
    pub node_name: String,
    pub datacenter: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclToken {
    pub accessor_id: String,
    /// The SecretID's keyed hash (hex), never the secret.
    pub secret_hash: String,
    #[serde(default)]
    pub description: String,
    /// Policy IDs.
    #[serde(default)]
    pub policies: Vec<String>,
    /// Role IDs.
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub service_identities: Vec<ServiceIdentityRow>,
    #[serde(default)]
    pub node_identities: Vec<NodeIdentityRow>,
    #[serde(default)]
    pub local: bool,
    /// RFC 3339; none: never expires.
    #[serde(default)]
    pub expiration_time: Option<String>,
    /// RFC 3339, decided by the proposing server.
    #[serde(default)]
    pub create_time: String,
    /// Base64 SHA-256 of the content fields (Consul's `Hash`).
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclPolicy {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub rules: String,
    #[serde(default)]
    pub datacenters: Vec<String>,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclRole {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Policy IDs.
    #[serde(default)]
    pub policies: Vec<String>,
    #[serde(default)]
    pub service_identities: Vec<ServiceIdentityRow>,
    #[serde(default)]
    pub node_identities: Vec<NodeIdentityRow>,
    #[serde(default)]
    pub hash: String,
    #[serde(default)]
    pub create_index: u64,
    #[serde(default)]
    pub modify_index: u64,
}

/// The built-in anonymous token's SecretID (as Consul's).
pub const ANONYMOUS_SECRET: &str = "anonymous";

/// The built-in global-management policy, as bootstrap writes it.
pub fn global_management_policy() -> AclPolicy {
    AclPolicy {
        id: tessera_mesh::acl::GLOBAL_MANAGEMENT_POLICY_ID.to_string(),
        name: tessera_mesh::acl::names::GLOBAL_MANAGEMENT_NAME.to_string(),
        description: "Builtin Policy that grants unlimited access".to_string(),
        rules: tessera_mesh::acl::GLOBAL_MANAGEMENT_RULES.to_string(),
        ..AclPolicy::default()
    }
}

/// The built-in anonymous token, as bootstrap writes it: no links, so the
/// default policy decides for it.
pub fn anonymous_token(hash_key: &str, create_time: &str) -> AclToken {
    AclToken {
        accessor_id: tessera_mesh::acl::ANONYMOUS_TOKEN_ID.to_string(),
        secret_hash: tessera_mesh::acl::secret::hash(hash_key, ANONYMOUS_SECRET),
        description: "Anonymous Token".to_string(),
        create_time: create_time.to_string(),
        ..AclToken::default()
    }
}
