//! Consul's JSON answers for catalog data as typed structs, borrowing from
//! the stored rows: the agent, catalog and health endpoints serialize these
//! straight to the response bytes instead of building `serde_json::Value`s
//! (at 10,000 instances building Values was most of a health answer's cost).
//!
//! Fields come in the order Consul's Go structs declare them (`api.AgentService`,
//! `api.Node`, `api.HealthCheck`, `api.CatalogService`), which is the order
//! Go's encoder writes. Which fields are present is what Tessera answered
//! before these types existed: where Consul uses `omitempty` (`Kind`, `Proxy`,
//! `Connect` of an agent service, `Connect.Native`) the field is skipped when
//! empty; everything else is always written.

use std::collections::BTreeMap;

use serde::ser::SerializeSeq;
use serde::Serialize;
use serde::Serializer;
use tessera_mesh::catalog::model::ProxySettings;
use tessera_mesh::catalog::model::Upstream;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceKind;
use tessera_store::Row;

type Meta = BTreeMap<String, String>;
type Config = BTreeMap<String, serde_json::Value>;

/// `Weights` / `ServiceWeights`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Weights {
    pub passing: u32,
    pub warning: u32,
}

impl Weights {
    fn of(s: &Service) -> Weights {
        Weights { passing: s.weights.passing, warning: s.weights.warning }
    }
}

/// `Connect` of a service: `{"Native": true}`, or `{}` (Go's `omitempty`
/// on a false `Native`).
#[derive(Serialize)]
pub struct Connect {
    #[serde(rename = "Native", skip_serializing_if = "std::ops::Not::not")]
    pub native: bool,
}

/// A map answered empty (`{}`): tagged addresses Tessera does not keep.
pub struct EmptyMap;

impl Serialize for EmptyMap {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(std::iter::empty::<((), ())>())
    }
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpstreamJson<'a> {
    pub destination_type: &'a str,
    pub destination_namespace: &'a str,
    pub destination_name: &'a str,
    pub datacenter: &'a str,
    pub local_bind_address: &'a str,
    pub local_bind_port: u16,
    pub config: &'a Config,
}

impl<'a> From<&'a Upstream> for UpstreamJson<'a> {
    fn from(u: &'a Upstream) -> Self {
        UpstreamJson {
            destination_type: &u.destination_type,
            destination_namespace: &u.destination_namespace,
            destination_name: &u.destination_name,
            datacenter: &u.datacenter,
            local_bind_address: &u.local_bind_address,
            local_bind_port: u.local_bind_port,
            config: &u.config,
        }
    }
}

/// Serializes each element of a borrowed slice through a borrowing view,
/// so a list inside an answer needs no `Vec` of its own.
pub struct Each<'a, T, V>(&'a [T], std::marker::PhantomData<fn() -> V>);

impl<'a, T, V> Each<'a, T, V> {
    pub fn new(items: &'a [T]) -> Self {
        Each(items, std::marker::PhantomData)
    }
}

impl<'a, T, V> Serialize for Each<'a, T, V>
where
    V: From<&'a T> + Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for item in self.0 {
            seq.serialize_element(&V::from(item))?;
        }
        seq.end()
    }
}

/// A connect proxy's settings (`Proxy`, `ServiceProxy`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Proxy<'a> {
    pub destination_service_name: &'a str,
    #[serde(rename = "DestinationServiceID")]
    pub destination_service_id: &'a str,
    pub local_service_address: &'a str,
    pub local_service_port: u16,
    pub mode: &'a str,
    pub config: &'a Config,
    pub upstreams: Each<'a, Upstream, UpstreamJson<'a>>,
}

impl<'a> From<&'a ProxySettings> for Proxy<'a> {
    fn from(p: &'a ProxySettings) -> Self {
        Proxy {
            destination_service_name: &p.destination_service_name,
            destination_service_id: &p.destination_service_id,
            local_service_address: &p.local_service_address,
            local_service_port: p.local_service_port,
            mode: &p.mode,
            config: &p.config,
            upstreams: Each::new(&p.upstreams),
        }
    }
}

/// `ServiceProxy` of a catalog row: the proxy, or `{}` for other kinds
/// (Consul's zero-valued struct).
pub enum ProxyOrEmpty<'a> {
    Proxy(Proxy<'a>),
    Empty,
}

impl Serialize for ProxyOrEmpty<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ProxyOrEmpty::Proxy(p) => p.serialize(serializer),
            ProxyOrEmpty::Empty => EmptyMap.serialize(serializer),
        }
    }
}

/// An agent's view of a service: `/v1/agent/services` values, `Service`
/// of health entries, `/v1/catalog/node-services` services.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentService<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    #[serde(rename = "ID")]
    pub id: &'a str,
    pub service: &'a str,
    pub tags: &'a [String],
    pub meta: &'a Meta,
    pub port: u16,
    pub address: &'a str,
    pub tagged_addresses: EmptyMap,
    pub weights: Weights,
    pub enable_tag_override: bool,
    pub datacenter: &'a str,
    /// Only for services read from the catalog (Consul's `omitempty`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify_index: Option<u64>,
    /// Only for `/v1/agent/service/:id`, for hash-based blocking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<Proxy<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect: Option<Connect>,
}

impl<'a> AgentService<'a> {
    /// The agent's own view (no indexes: the service is not read from a row).
    pub fn new(s: &'a Service, datacenter: &'a str) -> Self {
        AgentService {
            kind: (s.kind != ServiceKind::Typical).then(|| s.kind.as_str()),
            id: &s.id,
            service: &s.name,
            tags: &s.tags,
            meta: &s.meta,
            port: s.port,
            address: &s.address,
            tagged_addresses: EmptyMap,
            weights: Weights::of(s),
            enable_tag_override: s.enable_tag_override,
            datacenter,
            create_index: None,
            modify_index: None,
            content_hash: None,
            proxy: s.proxy.as_ref().map(Proxy::from),
            connect: s.connect_native.then_some(Connect { native: true }),
        }
    }

    /// A catalog row's service, with its indexes.
    pub fn indexed(row: &'a Row<Service>, datacenter: &'a str) -> Self {
        AgentService {
            create_index: Some(row.create_index),
            modify_index: Some(row.modify_index),
            ..AgentService::new(&row.value, datacenter)
        }
    }
}

/// `TaggedAddresses` of a node: its one address, LAN and WAN.
#[derive(Serialize)]
pub struct NodeAddresses<'a> {
    pub lan: &'a str,
    pub wan: &'a str,
}

/// A catalog node (`/v1/catalog/nodes`, `Node` of health entries).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeJson<'a> {
    #[serde(rename = "ID")]
    pub id: &'a str,
    pub node: &'a str,
    pub address: &'a str,
    pub datacenter: &'a str,
    pub tagged_addresses: NodeAddresses<'a>,
    pub meta: &'a Meta,
    pub create_index: u64,
    pub modify_index: u64,
}

impl<'a> From<&'a Row<Node>> for NodeJson<'a> {
    fn from(n: &'a Row<Node>) -> Self {
        let v = &n.value;
        NodeJson {
            id: &v.id,
            node: &v.name,
            address: &v.address,
            datacenter: &v.datacenter,
            tagged_addresses: NodeAddresses { lan: &v.address, wan: &v.address },
            meta: &v.meta,
            create_index: n.create_index,
            modify_index: n.modify_index,
        }
    }
}

/// A health check (`/v1/health/checks|node|state`, `/v1/agent/checks`,
/// `Checks` of health entries).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Check<'a> {
    pub node: &'a str,
    #[serde(rename = "CheckID")]
    pub check_id: &'a str,
    pub name: &'a str,
    pub status: &'static str,
    pub notes: &'a str,
    pub output: &'a str,
    #[serde(rename = "ServiceID")]
    pub service_id: &'a str,
    pub service_name: &'a str,
    pub service_tags: &'a [String],
    #[serde(rename = "Type")]
    pub kind: &'a str,
    pub interval: &'a str,
    pub timeout: &'a str,
    /// Only for checks read as catalog rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub create_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify_index: Option<u64>,
}

impl<'a> From<&'a HealthCheck> for Check<'a> {
    fn from(c: &'a HealthCheck) -> Self {
        Check {
            node: &c.node,
            check_id: &c.check_id,
            name: &c.name,
            status: c.status.as_str(),
            notes: &c.notes,
            output: &c.output,
            service_id: &c.service_id,
            service_name: &c.service_name,
            service_tags: &c.service_tags,
            kind: &c.kind,
            interval: &c.interval,
            timeout: &c.timeout,
            create_index: None,
            modify_index: None,
        }
    }
}

impl<'a> From<&'a Row<HealthCheck>> for Check<'a> {
    fn from(r: &'a Row<HealthCheck>) -> Self {
        Check { create_index: Some(r.create_index), modify_index: Some(r.modify_index), ..Check::from(&r.value) }
    }
}

/// One `/v1/health/service/:s` or `/v1/health/connect/:s` entry.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthEntry<'a> {
    pub node: NodeJson<'a>,
    pub service: AgentService<'a>,
    pub checks: Each<'a, HealthCheck, Check<'a>>,
}

impl<'a> HealthEntry<'a> {
    pub fn new(node: &'a Row<Node>, service: &'a Row<Service>, checks: &'a [HealthCheck]) -> Self {
        HealthEntry {
            node: NodeJson::from(node),
            service: AgentService::indexed(service, &node.value.datacenter),
            checks: Each::new(checks),
        }
    }
}

/// A `/v1/catalog/service/:s` row: node and service fields side by side.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogService<'a> {
    #[serde(rename = "ID")]
    pub id: &'a str,
    pub node: &'a str,
    pub address: &'a str,
    pub datacenter: &'a str,
    pub tagged_addresses: NodeAddresses<'a>,
    pub node_meta: &'a Meta,
    pub service_kind: &'static str,
    #[serde(rename = "ServiceID")]
    pub service_id: &'a str,
    pub service_name: &'a str,
    pub service_tags: &'a [String],
    pub service_address: &'a str,
    pub service_weights: Weights,
    pub service_meta: &'a Meta,
    pub service_port: u16,
    pub service_enable_tag_override: bool,
    pub service_proxy: ProxyOrEmpty<'a>,
    pub service_connect: Connect,
    pub create_index: u64,
    pub modify_index: u64,
}

impl<'a> CatalogService<'a> {
    pub fn new(n: &'a Row<Node>, s: &'a Row<Service>) -> Self {
        let (node, svc) = (&n.value, &s.value);
        CatalogService {
            id: &node.id,
            node: &node.name,
            address: &node.address,
            datacenter: &node.datacenter,
            tagged_addresses: NodeAddresses { lan: &node.address, wan: &node.address },
            node_meta: &node.meta,
            service_kind: svc.kind.as_str(),
            service_id: &svc.id,
            service_name: &svc.name,
            service_tags: &svc.tags,
            service_address: &svc.address,
            service_weights: Weights::of(svc),
            service_meta: &svc.meta,
            service_port: svc.port,
            service_enable_tag_override: svc.enable_tag_override,
            service_proxy: svc.proxy.as_ref().map_or(ProxyOrEmpty::Empty, |p| ProxyOrEmpty::Proxy(p.into())),
            service_connect: Connect { native: svc.connect_native },
            // The service row's indexes, as Consul's ServiceNode carries them.
            create_index: s.create_index,
            modify_index: s.modify_index,
        }
    }
}

/// `/v1/agent/health/service/*` entries.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentServiceChecks<'a> {
    pub aggregated_status: &'static str,
    pub service: AgentService<'a>,
    pub checks: Vec<Check<'a>>,
}

/// `/v1/catalog/node-services/:node` (Consul's `NodeServiceList`).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServiceList<'a> {
    pub node: NodeJson<'a>,
    pub services: Vec<AgentService<'a>>,
}

/// `/v1/catalog/node/:node` (Consul's `CatalogNode`): services by id.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogNode<'a> {
    pub node: NodeJson<'a>,
    pub services: BTreeMap<&'a str, AgentService<'a>>,
}
