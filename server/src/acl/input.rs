//! What an ACL write asks for, as `/v1/acl/*` bodies give it (Consul's
//! field names), and its checks against the state: links by ID or name
//! resolved to IDs (deduplicated, as Consul stores them), identities'
//! names, reserved and malformed UUIDs. The texts are Consul's.

use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use tessera_mesh::acl::names;
use tessera_store::acl::NodeIdentityRow;
use tessera_store::acl::ServiceIdentityRow;
use tessera_store::View;

use crate::consensus::ServerError;

/// A link to a policy or role: by ID, or by name when no ID is given.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Link {
    #[serde(alias = "ID", default)]
    pub id: Option<String>,
    #[serde(alias = "Name", default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceIdentityBody {
    #[serde(alias = "ServiceName", default)]
    pub service_name: String,
    #[serde(alias = "Datacenters", default)]
    pub datacenters: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct NodeIdentityBody {
    #[serde(alias = "NodeName", default)]
    pub node_name: String,
    #[serde(alias = "Datacenter", default)]
    pub datacenter: String,
}

/// A token body (create, update). Read-only fields are accepted, so a
/// read answer can be sent back, and ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    #[serde(alias = "AccessorID", default)]
    pub accessor_id: Option<String>,
    #[serde(alias = "SecretID", default)]
    pub secret_id: Option<String>,
    #[serde(alias = "Description", default)]
    pub description: Option<String>,
    #[serde(alias = "Policies", default)]
    pub policies: Vec<Link>,
    #[serde(alias = "Roles", default)]
    pub roles: Vec<Link>,
    #[serde(alias = "ServiceIdentities", default)]
    pub service_identities: Vec<ServiceIdentityBody>,
    #[serde(alias = "NodeIdentities", default)]
    pub node_identities: Vec<NodeIdentityBody>,
    #[serde(alias = "Local", default)]
    pub local: bool,
    #[serde(alias = "ExpirationTime", default)]
    pub expiration_time: Option<String>,
    /// `"1h"` or nanoseconds, on create only.
    #[serde(alias = "ExpirationTTL", default)]
    pub expiration_ttl: Option<Value>,
    #[serde(alias = "AuthMethod", default)]
    pub auth_method: Option<String>,
    #[serde(alias = "Namespace", default)]
    pub namespace: Option<String>,
    #[serde(alias = "Partition", default)]
    pub partition: Option<String>,
    #[serde(alias = "CreateTime", default)]
    pub create_time: Option<String>,
    #[serde(alias = "Hash", default)]
    pub hash: Option<String>,
    #[serde(alias = "CreateIndex", default)]
    pub create_index: Option<u64>,
    #[serde(alias = "ModifyIndex", default)]
    pub modify_index: Option<u64>,
    #[serde(alias = "Legacy", default)]
    pub legacy: Option<bool>,
    /// The legacy `ID`, equal to SecretID in bootstrap answers.
    #[serde(alias = "ID", default)]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    #[serde(alias = "ID", default)]
    pub id: Option<String>,
    #[serde(alias = "Name", default)]
    pub name: String,
    #[serde(alias = "Description", default)]
    pub description: String,
    #[serde(alias = "Rules", default)]
    pub rules: String,
    #[serde(alias = "Datacenters", default)]
    pub datacenters: Vec<String>,
    #[serde(alias = "Namespace", default)]
    pub namespace: Option<String>,
    #[serde(alias = "Partition", default)]
    pub partition: Option<String>,
    #[serde(alias = "Hash", default)]
    pub hash: Option<String>,
    #[serde(alias = "CreateIndex", default)]
    pub create_index: Option<u64>,
    #[serde(alias = "ModifyIndex", default)]
    pub modify_index: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleBody {
    #[serde(alias = "ID", default)]
    pub id: Option<String>,
    #[serde(alias = "Name", default)]
    pub name: String,
    #[serde(alias = "Description", default)]
    pub description: String,
    #[serde(alias = "Policies", default)]
    pub policies: Vec<Link>,
    #[serde(alias = "ServiceIdentities", default)]
    pub service_identities: Vec<ServiceIdentityBody>,
    #[serde(alias = "NodeIdentities", default)]
    pub node_identities: Vec<NodeIdentityBody>,
    #[serde(alias = "Namespace", default)]
    pub namespace: Option<String>,
    #[serde(alias = "Partition", default)]
    pub partition: Option<String>,
    #[serde(alias = "Hash", default)]
    pub hash: Option<String>,
    #[serde(alias = "CreateIndex", default)]
    pub create_index: Option<u64>,
    #[serde(alias = "ModifyIndex", default)]
    pub modify_index: Option<u64>,
}

fn bad(message: impl Into<String>) -> ServerError {
    ServerError::BadRequest(message.into())
}

/// A user-chosen AccessorID or SecretID (`what`): a UUID, not reserved.
pub fn check_chosen_id(what: &str, id: &str) -> Result<(), ServerError> {
    if !names::is_uuid(id) {
        return Err(bad(format!("Invalid Token: {what} is not a valid UUID")));
    }
    if names::is_reserved_id(id) {
        return Err(bad(format!("Invalid Token: UUIDs with the prefix {:?} are reserved", names::RESERVED_ID_PREFIX)));
    }
    Ok(())
}

/// Policy links to IDs: each must exist; deduplicated in order.
pub fn policy_ids(view: &View<'_>, links: &[Link]) -> Result<Vec<String>, ServerError> {
    let mut ids: Vec<String> = Vec::new();
    for link in links {
        let id = match (link.id.as_deref().filter(|i| !i.is_empty()), link.name.as_deref()) {
            (Some(id), _) => match view.acl_policy(id)? {
                Some(p) => p.id,
                None => return Err(bad(format!("No such ACL policy with ID {id:?}"))),
            },
            (None, Some(name)) if !name.is_empty() => match view.acl_policy_by_name(name)? {
                Some(p) => p.id,
                None => return Err(bad(format!("No such ACL policy with name {name:?}"))),
            },
            _ => return Err(bad("Policy links need an ID or a Name")),
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

pub fn role_ids(view: &View<'_>, links: &[Link]) -> Result<Vec<String>, ServerError> {
    let mut ids: Vec<String> = Vec::new();
    for link in links {
        let id = match (link.id.as_deref().filter(|i| !i.is_empty()), link.name.as_deref()) {
            (Some(id), _) => match view.acl_role(id)? {
                Some(r) => r.id,
                None => return Err(bad(format!("No such ACL role with ID {id:?}"))),
            },
            (None, Some(name)) if !name.is_empty() => match view.acl_role_by_name(name)? {
                Some(r) => r.id,
                None => return Err(bad(format!("No such ACL role with name {name:?}"))),
            },
            _ => return Err(bad("Role links need an ID or a Name")),
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Service identities checked (`on` names the holder in Consul's texts:
/// "token", "role"); `local` tokens may not name datacenters.
pub fn service_identities(
    given: &[ServiceIdentityBody],
    on: &str,
    local: bool,
) -> Result<Vec<ServiceIdentityRow>, ServerError> {
    let mut out: Vec<ServiceIdentityRow> = Vec::new();
    for s in given {
        if s.service_name.is_empty() {
            return Err(bad(format!("Service identity is missing the service name field on this {on}")));
        }
        if !names::valid_identity_name(&s.service_name) {
            return Err(bad(format!(
                "Service identity {:?} has an invalid name. Only lowercase alphanumeric characters, '-' and '_' are allowed",
                s.service_name
            )));
        }
        if local && !s.datacenters.is_empty() {
            return Err(bad(format!(
                "Service identity {:?} cannot specify a list of datacenters on a local token",
                s.service_name
            )));
        }
        // Consul merges repeats of one name, their datacenters together.
        match out.iter_mut().find(|o| o.service_name == s.service_name) {
            Some(existing) => {
                for dc in &s.datacenters {
                    if !existing.datacenters.contains(dc) {
                        existing.datacenters.push(dc.clone());
                    }
                }
            }
            None => out
                .push(ServiceIdentityRow { service_name: s.service_name.clone(), datacenters: s.datacenters.clone() }),
        }
    }
    Ok(out)
}

pub fn node_identities(given: &[NodeIdentityBody], on: &str) -> Result<Vec<NodeIdentityRow>, ServerError> {
    let mut out: Vec<NodeIdentityRow> = Vec::new();
    for n in given {
        if n.node_name.is_empty() {
            return Err(bad(format!("Node identity is missing the node name field on this {on}")));
        }
        if !names::valid_identity_name(&n.node_name) {
            return Err(bad(format!(
                "Node identity {:?} has an invalid name. Only lowercase alphanumeric characters, '-' and '_' are allowed",
                n.node_name
            )));
        }
        if n.datacenter.is_empty() {
            return Err(bad(format!("Node identity is missing the datacenter field on this {on}")));
        }
        let row = NodeIdentityRow { node_name: n.node_name.clone(), datacenter: n.datacenter.clone() };
        if !out.contains(&row) {
            out.push(row);
        }
    }
    Ok(out)
}

/// `ExpirationTTL`: a Go duration text or nanoseconds.
pub fn expiration_ttl(value: &Value) -> Result<Duration, ServerError> {
    match value {
        Value::String(text) => tessera_mesh::catalog::duration::go::parse(text)
            .map_err(|e| bad(format!("Request decode failed: ExpirationTTL: {e}"))),
        Value::Number(n) => n
            .as_u64()
            .map(Duration::from_nanos)
            .ok_or_else(|| bad("Request decode failed: ExpirationTTL must not be negative")),
        _ => Err(bad("Request decode failed: ExpirationTTL must be a duration")),
    }
}

/// The TTL range Consul allows by default.
pub const MIN_TTL: Duration = Duration::from_secs(60);
pub const MAX_TTL: Duration = Duration::from_secs(24 * 3600);

/// Policy fields checked before proposing (apply checks them again).
pub fn check_policy(body: &PolicyBody) -> Result<(), ServerError> {
    if !names::valid_policy_name(&body.name) {
        return Err(bad("Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"));
    }
    tessera_mesh::acl::parse(&body.rules).map_err(|e| bad(format!("Invalid Policy: {e}")))?;
    for dc in &body.datacenters {
        tessera_mesh::agent_config::datacenter("Datacenters", dc)
            .map_err(|_| bad(format!("Invalid Policy: invalid datacenter name {dc:?}")))?;
    }
    Ok(())
}

pub fn check_role_name(name: &str) -> Result<(), ServerError> {
    if !names::valid_role_name(name) {
        return Err(bad("Invalid Role: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"));
    }
    Ok(())
}
