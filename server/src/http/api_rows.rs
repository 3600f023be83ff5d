//! From the store's rows to Consul's API types (`tessera_mesh::api`): the
//! types borrow from the domain values and take indexes as numbers, since
//! they cannot know the store's `Row`. The agent, catalog and health
//! endpoints serialize these views straight to the response bytes instead
//! of building `serde_json::Value`s (at 10,000 instances building Values
//! was most of a health answer's cost).

use tessera_mesh::api::catalog::AgentService;
use tessera_mesh::api::catalog::Check;
use tessera_mesh::api::catalog::Node as NodeJson;
use tessera_mesh::api::entries::CatalogService;
use tessera_mesh::api::entries::HealthEntry;
use tessera_mesh::api::entries::Indexed;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_store::Row;

pub fn indexed<T>(row: &Row<T>) -> Indexed<'_, T> {
    Indexed { value: &row.value, create_index: row.create_index, modify_index: row.modify_index }
}

pub fn node(row: &Row<Node>) -> NodeJson<'_> {
    NodeJson::new(&row.value, row.create_index, row.modify_index)
}

pub fn check(row: &Row<HealthCheck>) -> Check<'_> {
    Check::indexed(&row.value, row.create_index, row.modify_index)
}

/// A catalog row's service, with its indexes.
pub fn service<'a>(row: &'a Row<Service>, datacenter: &'a str) -> AgentService<'a> {
    AgentService::indexed(&row.value, datacenter, row.create_index, row.modify_index)
}

pub fn health_entry<'a>(node: &'a Row<Node>, service: &'a Row<Service>, checks: &'a [HealthCheck]) -> HealthEntry<'a> {
    HealthEntry::new(indexed(node), indexed(service), checks)
}

pub fn catalog_service<'a>(node: &'a Row<Node>, service: &'a Row<Service>) -> CatalogService<'a> {
    CatalogService::new(&node.value, indexed(service))
}
