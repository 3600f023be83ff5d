//! The JSON Consul's ACL endpoints answer, field for field in its order.
//!
//! SecretIDs: a token's secret exists only when it is made, so it is shown
//! in that answer (bootstrap, create, clone) and nowhere else: every other
//! read shows `<hidden>`. Consul shows the secret on any read by a caller
//! with `acl:write`; Tessera cannot, as it keeps only a hash.

use serde::Serialize;
use tessera_store::acl::AclPolicy;
use tessera_store::acl::AclRole;
use tessera_store::acl::AclToken;
use tessera_store::acl::NodeIdentityRow;
use tessera_store::acl::ServiceIdentityRow;
use tessera_store::StoreError;
use tessera_store::View;

pub const HIDDEN: &str = "<hidden>";

#[derive(Serialize)]
pub struct Link {
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Name")]
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceIdentity {
    service_name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    datacenters: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeIdentity {
    node_name: String,
    datacenter: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Token {
    #[serde(rename = "AccessorID")]
    accessor_id: String,
    #[serde(rename = "SecretID")]
    secret_id: String,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    service_identities: Vec<ServiceIdentity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_identities: Vec<NodeIdentity>,
    local: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_time: Option<String>,
    create_time: String,
    hash: String,
    create_index: u64,
    modify_index: u64,
    /// The legacy `ID` (= SecretID) of bootstrap answers.
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    id: Option<String>,
}

fn services(rows: &[ServiceIdentityRow]) -> Vec<ServiceIdentity> {
    rows.iter()
        .map(|s| ServiceIdentity { service_name: s.service_name.clone(), datacenters: s.datacenters.clone() })
        .collect()
}

fn nodes(rows: &[NodeIdentityRow]) -> Vec<NodeIdentity> {
    rows.iter().map(|n| NodeIdentity { node_name: n.node_name.clone(), datacenter: n.datacenter.clone() }).collect()
}

/// Policy links with their current names; links to deleted policies drop.
fn policy_links(view: &View<'_>, ids: &[String]) -> Result<Vec<Link>, StoreError> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(p) = view.acl_policy(id)? {
            out.push(Link { id: p.id, name: p.name });
        }
    }
    Ok(out)
}

fn role_links(view: &View<'_>, ids: &[String]) -> Result<Vec<Link>, StoreError> {
    let mut out = Vec::new();
    for id in ids {
        if let Some(r) = view.acl_role(id)? {
            out.push(Link { id: r.id, name: r.name });
        }
    }
    Ok(out)
}

/// A token as answered; `secret` only when it was just made.
pub fn token(view: &View<'_>, t: &AclToken, secret: Option<&str>) -> Result<Token, StoreError> {
    Ok(Token {
        accessor_id: t.accessor_id.clone(),
        secret_id: secret.unwrap_or(HIDDEN).to_string(),
        description: t.description.clone(),
        policies: policy_links(view, &t.policies)?,
        roles: role_links(view, &t.roles)?,
        service_identities: services(&t.service_identities),
        node_identities: nodes(&t.node_identities),
        local: t.local,
        expiration_time: t.expiration_time.clone(),
        create_time: t.create_time.clone(),
        hash: t.hash.clone(),
        create_index: t.create_index,
        modify_index: t.modify_index,
        id: None,
    })
}

/// The bootstrap answer: the token with Consul's legacy `ID` = SecretID.
pub fn bootstrap_token(view: &View<'_>, t: &AclToken, secret: &str) -> Result<Token, StoreError> {
    Ok(Token { id: Some(secret.to_string()), ..token(view, t, Some(secret))? })
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Policy {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    rules: Option<String>,
    datacenters: Option<Vec<String>>,
    hash: String,
    create_index: u64,
    modify_index: u64,
}

/// A policy; list entries (`full` false) leave `Rules` out, as Consul's stubs do.
pub fn policy(p: &AclPolicy, full: bool) -> Policy {
    Policy {
        id: p.id.clone(),
        name: p.name.clone(),
        description: p.description.clone(),
        rules: full.then(|| p.rules.clone()),
        datacenters: (!p.datacenters.is_empty()).then(|| p.datacenters.clone()),
        hash: p.hash.clone(),
        create_index: p.create_index,
        modify_index: p.modify_index,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Role {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    policies: Vec<Link>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    service_identities: Vec<ServiceIdentity>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    node_identities: Vec<NodeIdentity>,
    hash: String,
    create_index: u64,
    modify_index: u64,
}

pub fn role(view: &View<'_>, r: &AclRole) -> Result<Role, StoreError> {
    Ok(Role {
        id: r.id.clone(),
        name: r.name.clone(),
        description: r.description.clone(),
        policies: policy_links(view, &r.policies)?,
        service_identities: services(&r.service_identities),
        node_identities: nodes(&r.node_identities),
        hash: r.hash.clone(),
        create_index: r.create_index,
        modify_index: r.modify_index,
    })
}
