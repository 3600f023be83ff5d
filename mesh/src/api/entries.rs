//! Answers that put the catalog's pieces together: health entries, catalog
//! service rows, a node with its services, an agent's service with its
//! checks.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use crate::api::catalog::AgentService;
use crate::api::catalog::Check;
use crate::api::catalog::Connect;
use crate::api::catalog::Meta;
use crate::api::catalog::Node;
use crate::api::catalog::NodeAddresses;
use crate::api::catalog::Proxy;
use crate::api::catalog::Weights;
use crate::api::serde_util::empty_as_none;
use crate::catalog::model;
use crate::catalog::HealthCheck;
use crate::catalog::Service;

/// One `/v1/health/service/:s` or `/v1/health/connect/:s` entry
/// (`api.ServiceEntry`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthEntry<'a> {
    pub node: Node<'a>,
    pub service: AgentService<'a>,
    pub checks: Vec<Check<'a>>,
}

pub type OwnedHealthEntry = HealthEntry<'static>;

/// Where an entry's rows come from: a node and a service, each with its
/// row's indexes, and the instance's checks (answered without indexes).
pub struct Indexed<'a, T> {
    pub value: &'a T,
    pub create_index: u64,
    pub modify_index: u64,
}

impl<'a> HealthEntry<'a> {
    pub fn new(node: Indexed<'a, model::Node>, service: Indexed<'a, Service>, checks: &'a [HealthCheck]) -> Self {
        HealthEntry {
            node: Node::new(node.value, node.create_index, node.modify_index),
            service: AgentService::indexed(
                service.value,
                &node.value.datacenter,
                service.create_index,
                service.modify_index,
            ),
            checks: checks.iter().map(Check::from).collect(),
        }
    }
}

/// A `/v1/catalog/service/:s` row (`api.CatalogService`): node and service
/// fields side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogService<'a> {
    #[serde(rename = "ID")]
    pub id: Cow<'a, str>,
    pub node: Cow<'a, str>,
    pub address: Cow<'a, str>,
    pub datacenter: Cow<'a, str>,
    pub tagged_addresses: NodeAddresses<'a>,
    pub node_meta: Cow<'a, Meta>,
    pub service_kind: Cow<'a, str>,
    #[serde(rename = "ServiceID")]
    pub service_id: Cow<'a, str>,
    pub service_name: Cow<'a, str>,
    pub service_tags: Cow<'a, [String]>,
    pub service_address: Cow<'a, str>,
    pub service_weights: Weights,
    pub service_meta: Cow<'a, Meta>,
    pub service_port: u16,
    pub service_enable_tag_override: bool,
    /// The proxy, or `{}` for other kinds (Consul's zero-valued struct).
    #[serde(with = "empty_as_none")]
    pub service_proxy: Option<Proxy<'a>>,
    pub service_connect: Connect,
    pub create_index: u64,
    pub modify_index: u64,
}

pub type OwnedCatalogService = CatalogService<'static>;

impl<'a> CatalogService<'a> {
    /// The service row's indexes, as Consul's `ServiceNode` carries them.
    pub fn new(node: &'a model::Node, s: Indexed<'a, Service>) -> Self {
        let svc = s.value;
        CatalogService {
            id: Cow::Borrowed(&node.id),
            node: Cow::Borrowed(&node.name),
            address: Cow::Borrowed(&node.address),
            datacenter: Cow::Borrowed(&node.datacenter),
            tagged_addresses: NodeAddresses { lan: Cow::Borrowed(&node.address), wan: Cow::Borrowed(&node.address) },
            node_meta: Cow::Borrowed(&node.meta),
            service_kind: Cow::Borrowed(svc.kind.as_str()),
            service_id: Cow::Borrowed(&svc.id),
            service_name: Cow::Borrowed(&svc.name),
            service_tags: Cow::Borrowed(&svc.tags),
            service_address: Cow::Borrowed(&svc.address),
            service_weights: Weights::from(svc),
            service_meta: Cow::Borrowed(&svc.meta),
            service_port: svc.port,
            service_enable_tag_override: svc.enable_tag_override,
            service_proxy: svc.proxy.as_ref().map(Proxy::from),
            service_connect: Connect { native: svc.connect_native },
            create_index: s.create_index,
            modify_index: s.modify_index,
        }
    }
}

/// `/v1/agent/health/service/*` entries (`api.AgentServiceChecksInfo`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AgentServiceChecks<'a> {
    pub aggregated_status: Cow<'a, str>,
    pub service: AgentService<'a>,
    pub checks: Vec<Check<'a>>,
}

pub type OwnedAgentServiceChecks = AgentServiceChecks<'static>;

/// `/v1/catalog/node-services/:node` (`api.CatalogNodeServiceList`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeServiceList<'a> {
    pub node: Node<'a>,
    pub services: Vec<AgentService<'a>>,
}

pub type OwnedNodeServiceList = NodeServiceList<'static>;

/// `/v1/catalog/node/:node` (`api.CatalogNode`): services by id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CatalogNode<'a> {
    pub node: Node<'a>,
    pub services: BTreeMap<Cow<'a, str>, AgentService<'a>>,
}

pub type OwnedCatalogNode = CatalogNode<'static>;
