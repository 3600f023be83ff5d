//! The catalog's pieces as Consul answers them: an agent's service (with
//! its proxy and upstreams), a node, a health check. Built from the domain
//! types by borrowing (`new`/`From`), read back owned.
//!
//! Presence follows what Tessera answered before these types were shared:
//! where Consul uses `omitempty` (`Kind`, `Proxy`, `Connect` of an agent
//! service, `Connect.Native`, the indexes of a service or check not read
//! from a row) the field is skipped when empty; everything else is always
//! written.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use crate::catalog::model;
use crate::catalog::HealthCheck;
use crate::catalog::Service;
use crate::catalog::ServiceKind;

pub type Meta = BTreeMap<String, String>;
/// A proxy's or upstream's opaque `Config`.
pub type Config = BTreeMap<String, serde_json::Value>;

/// `Weights` / `ServiceWeights`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl From<&Service> for Weights {
    fn from(s: &Service) -> Weights {
        Weights { passing: s.weights.passing, warning: s.weights.warning }
    }
}

/// `Connect` of a service: `{"Native": true}`, or `{}` (Go's `omitempty`
/// on a false `Native`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connect {
    #[serde(rename = "Native", default, skip_serializing_if = "std::ops::Not::not")]
    pub native: bool,
}

/// `TaggedAddresses` values of an agent service (Consul's `ServiceAddress`).
/// Tessera keeps none, so its maps are always empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceAddress {
    pub address: String,
    pub port: u16,
}

/// One upstream of a proxy (`api.Upstream`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Upstream<'a> {
    pub destination_type: Cow<'a, str>,
    pub destination_namespace: Cow<'a, str>,
    pub destination_name: Cow<'a, str>,
    pub datacenter: Cow<'a, str>,
    pub local_bind_address: Cow<'a, str>,
    pub local_bind_port: u16,
    pub config: Cow<'a, Config>,
}

impl<'a> From<&'a model::Upstream> for Upstream<'a> {
    fn from(u: &'a model::Upstream) -> Self {
        Upstream {
            destination_type: Cow::Borrowed(&u.destination_type),
            destination_namespace: Cow::Borrowed(&u.destination_namespace),
            destination_name: Cow::Borrowed(&u.destination_name),
            datacenter: Cow::Borrowed(&u.datacenter),
            local_bind_address: Cow::Borrowed(&u.local_bind_address),
            local_bind_port: u.local_bind_port,
            config: Cow::Borrowed(&u.config),
        }
    }
}

/// A connect proxy's settings (`Proxy` of an agent service,
/// `ServiceProxy` of a catalog row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Proxy<'a> {
    pub destination_service_name: Cow<'a, str>,
    #[serde(rename = "DestinationServiceID")]
    pub destination_service_id: Cow<'a, str>,
    pub local_service_address: Cow<'a, str>,
    pub local_service_port: u16,
    pub mode: Cow<'a, str>,
    pub config: Cow<'a, Config>,
    pub upstreams: Vec<Upstream<'a>>,
}

impl<'a> From<&'a model::ProxySettings> for Proxy<'a> {
    fn from(p: &'a model::ProxySettings) -> Self {
        Proxy {
            destination_service_name: Cow::Borrowed(&p.destination_service_name),
            destination_service_id: Cow::Borrowed(&p.destination_service_id),
            local_service_address: Cow::Borrowed(&p.local_service_address),
            local_service_port: p.local_service_port,
            mode: Cow::Borrowed(&p.mode),
            config: Cow::Borrowed(&p.config),
            upstreams: p.upstreams.iter().map(Upstream::from).collect(),
        }
    }
}

/// An agent's view of a service (`api.AgentService`): `/v1/agent/services`
/// values, `Service` of health entries, `/v1/catalog/node-services` services.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentService<'a> {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<Cow<'a, str>>,
    #[serde(rename = "ID")]
    pub id: Cow<'a, str>,
    pub service: Cow<'a, str>,
    pub tags: Cow<'a, [String]>,
    pub meta: Cow<'a, Meta>,
    pub port: u16,
    pub address: Cow<'a, str>,
    pub tagged_addresses: BTreeMap<String, ServiceAddress>,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub datacenter: Cow<'a, str>,
    /// Only for services read from the catalog (Consul's `omitempty`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify_index: Option<u64>,
    /// Only for `/v1/agent/service/:id`, for hash-based blocking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy<'a>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect: Option<Connect>,
}

/// An `AgentService` read back by a client.
pub type OwnedAgentService = AgentService<'static>;

impl<'a> AgentService<'a> {
    /// The agent's own view (no indexes: the service is not read from a row).
    pub fn new(s: &'a Service, datacenter: &'a str) -> Self {
        AgentService {
            kind: (s.kind != ServiceKind::Typical).then(|| Cow::Borrowed(s.kind.as_str())),
            id: Cow::Borrowed(&s.id),
            service: Cow::Borrowed(&s.name),
            tags: Cow::Borrowed(&s.tags),
            meta: Cow::Borrowed(&s.meta),
            port: s.port,
            address: Cow::Borrowed(&s.address),
            tagged_addresses: BTreeMap::new(),
            weights: Weights::from(s),
            enable_tag_override: s.enable_tag_override,
            datacenter: Cow::Borrowed(datacenter),
            create_index: None,
            modify_index: None,
            content_hash: None,
            proxy: s.proxy.as_ref().map(Proxy::from),
            connect: s.connect_native.then_some(Connect { native: true }),
        }
    }

    /// A catalog row's service, with the row's indexes.
    pub fn indexed(s: &'a Service, datacenter: &'a str, create_index: u64, modify_index: u64) -> Self {
        AgentService {
            create_index: Some(create_index),
            modify_index: Some(modify_index),
            ..AgentService::new(s, datacenter)
        }
    }
}

/// `TaggedAddresses` of a node: its one address, LAN and WAN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeAddresses<'a> {
    pub lan: Cow<'a, str>,
    pub wan: Cow<'a, str>,
}

/// A catalog node (`api.Node`: `/v1/catalog/nodes`, `Node` of health entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node<'a> {
    #[serde(rename = "ID")]
    pub id: Cow<'a, str>,
    pub node: Cow<'a, str>,
    pub address: Cow<'a, str>,
    pub datacenter: Cow<'a, str>,
    pub tagged_addresses: NodeAddresses<'a>,
    pub meta: Cow<'a, Meta>,
    pub create_index: u64,
    pub modify_index: u64,
}

pub type OwnedNode = Node<'static>;

impl<'a> Node<'a> {
    pub fn new(n: &'a model::Node, create_index: u64, modify_index: u64) -> Self {
        Node {
            id: Cow::Borrowed(&n.id),
            node: Cow::Borrowed(&n.name),
            address: Cow::Borrowed(&n.address),
            datacenter: Cow::Borrowed(&n.datacenter),
            tagged_addresses: NodeAddresses { lan: Cow::Borrowed(&n.address), wan: Cow::Borrowed(&n.address) },
            meta: Cow::Borrowed(&n.meta),
            create_index,
            modify_index,
        }
    }
}

/// A health check (`api.HealthCheck`: `/v1/health/checks|node|state`,
/// `/v1/agent/checks`, `Checks` of health entries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Check<'a> {
    pub node: Cow<'a, str>,
    #[serde(rename = "CheckID")]
    pub check_id: Cow<'a, str>,
    pub name: Cow<'a, str>,
    pub status: Cow<'a, str>,
    pub notes: Cow<'a, str>,
    pub output: Cow<'a, str>,
    #[serde(rename = "ServiceID")]
    pub service_id: Cow<'a, str>,
    pub service_name: Cow<'a, str>,
    pub service_tags: Cow<'a, [String]>,
    #[serde(rename = "Type")]
    pub kind: Cow<'a, str>,
    pub interval: Cow<'a, str>,
    pub timeout: Cow<'a, str>,
    /// Only for checks read as catalog rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_index: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modify_index: Option<u64>,
}

pub type OwnedCheck = Check<'static>;

impl<'a> From<&'a HealthCheck> for Check<'a> {
    fn from(c: &'a HealthCheck) -> Self {
        Check {
            node: Cow::Borrowed(&c.node),
            check_id: Cow::Borrowed(&c.check_id),
            name: Cow::Borrowed(&c.name),
            status: Cow::Borrowed(c.status.as_str()),
            notes: Cow::Borrowed(&c.notes),
            output: Cow::Borrowed(&c.output),
            service_id: Cow::Borrowed(&c.service_id),
            service_name: Cow::Borrowed(&c.service_name),
            service_tags: Cow::Borrowed(&c.service_tags),
            kind: Cow::Borrowed(&c.kind),
            interval: Cow::Borrowed(&c.interval),
            timeout: Cow::Borrowed(&c.timeout),
            create_index: None,
            modify_index: None,
        }
    }
}

impl<'a> Check<'a> {
    /// A catalog row's check, with the row's indexes.
    pub fn indexed(c: &'a HealthCheck, create_index: u64, modify_index: u64) -> Self {
        Check { create_index: Some(create_index), modify_index: Some(modify_index), ..Check::from(c) }
    }
}
