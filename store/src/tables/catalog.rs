//! The catalog table: nodes, service instances and health checks, in
//! [`Cf::Catalog`] under these keys (`\0` separates parts, so names may hold
//! any other byte):
//!
//! - `n\0<node>`: the node
//! - `s\0<node>\0<service id>`: a service instance
//! - `c\0<node>\0<check id>`: a health check
//! - `x\0<service name>\0<node>\0<service id>`: empty; finds instances by name
//! - `p\0<service name>\0<node>\0<service id>`: empty; finds what Connect
//!   clients dial for a service: its proxies and its Connect-native instances
//! - `v\0<service name>`: how many instances have the name, and each tag
//!   ([`NameSummary`]), so listing services costs a row per name, not one
//!   per instance
//!
//! Every row carries the Raft index that created it and the one that last
//! changed it. Writes that change nothing leave both, and the table's modify
//! index, untouched, so periodic agent syncs do not wake blocking queries.

use std::collections::BTreeMap;
use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde::Serialize;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::catalog::ServiceKind;

use crate::engine::Reads;
use crate::engine::StoreError;
use crate::keys::Cf;
use crate::tables::meta;
use crate::txn::Txn;
use crate::watch::Table;

/// A service instance with the node it runs on.
pub type Instance = (Row<Node>, Row<Service>);

/// A stored value with its Consul-style indexes.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row<T> {
    pub create_index: u64,
    pub modify_index: u64,
    pub value: T,
}

fn key(parts: &[&str]) -> Vec<u8> {
    parts.join("\0").into_bytes()
}

fn prefix(parts: &[&str]) -> Vec<u8> {
    let mut k = key(parts);
    k.push(0);
    k
}

fn node_key(node: &str) -> Vec<u8> {
    key(&["n", node])
}

fn service_key(node: &str, id: &str) -> Vec<u8> {
    key(&["s", node, id])
}

fn check_key(node: &str, id: &str) -> Vec<u8> {
    key(&["c", node, id])
}

fn name_index_key(name: &str, node: &str, id: &str) -> Vec<u8> {
    key(&["x", name, node, id])
}

fn connect_index_key(target: &str, node: &str, id: &str) -> Vec<u8> {
    key(&["p", target, node, id])
}

/// The service a Connect client reaches through this instance: a proxy's
/// destination, or a native instance's own name.
fn connect_target(service: &Service) -> Option<&str> {
    match (&service.kind, &service.proxy) {
        (ServiceKind::ConnectProxy, Some(p)) if !p.destination_service_name.is_empty() => {
            Some(&p.destination_service_name)
        }
        _ if service.connect_native => Some(&service.name),
        _ => None,
    }
}

/// Moves an instance's derived rows from what `old` said to what `new`
/// says (either may be absent): the name index, the connect index and the
/// name summaries.
fn reindex(txn: &mut Txn<'_>, node: &str, old: Option<&Service>, new: Option<&Service>) -> Result<(), StoreError> {
    if let Some(old) = old {
        txn.delete(Cf::Catalog, name_index_key(&old.name, node, &old.id));
        if let Some(target) = connect_target(old) {
            txn.delete(Cf::Catalog, connect_index_key(target, node, &old.id));
        }
        count_instance(txn, old, false)?;
    }
    if let Some(new) = new {
        txn.put(Cf::Catalog, name_index_key(&new.name, node, &new.id), Vec::new());
        if let Some(target) = connect_target(new) {
            txn.put(Cf::Catalog, connect_index_key(target, node, &new.id), Vec::new());
        }
        count_instance(txn, new, true)?;
    }
    Ok(())
}

fn summary_key(name: &str) -> Vec<u8> {
    key(&["v", name])
}

/// Derived from the service rows and kept with them in the same batch; the
/// tags are counted so that removing one instance keeps the others' tags.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NameSummary {
    instances: u64,
    tags: BTreeMap<String, u64>,
}

/// Adds (`added`) or removes one instance of `service` from its name's summary.
fn count_instance(txn: &mut Txn<'_>, service: &Service, added: bool) -> Result<(), StoreError> {
    let k = summary_key(&service.name);
    let mut summary: NameSummary =
        txn.get(Cf::Catalog, &k)?.map(|b| super::decode(&b, "service name summary")).transpose()?.unwrap_or_default();
    let step = |n: &mut u64| if added { *n += 1 } else { *n = n.saturating_sub(1) };
    step(&mut summary.instances);
    // A tag listed twice on one instance counts once, as the answer shows it once.
    let tags: BTreeSet<&String> = service.tags.iter().collect();
    for tag in tags {
        let count = summary.tags.entry(tag.clone()).or_default();
        step(count);
        if *count == 0 {
            summary.tags.remove(tag);
        }
    }
    if summary.instances == 0 {
        txn.delete(Cf::Catalog, k);
    } else {
        txn.put(Cf::Catalog, k, super::encode(&summary));
    }
    Ok(())
}

/// A key's parts; there are always at least as many as its layout has, so
/// a short key reads as empty parts rather than failing.
fn key_parts(k: &[u8]) -> Vec<String> {
    let mut parts: Vec<String> = String::from_utf8_lossy(k).split('\0').map(str::to_string).collect();
    parts.resize(parts.len().max(4), String::new());
    parts
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<Row<T>, StoreError> {
    super::decode(bytes, "catalog row")
}

fn encode<T: Serialize>(row: &Row<T>) -> Vec<u8> {
    super::encode(row)
}

/// Writes `value` under `k` unless it is already there; true if it changed.
fn upsert<T>(txn: &mut Txn<'_>, index: u64, k: Vec<u8>, value: &T) -> Result<bool, StoreError>
where
    T: Serialize + DeserializeOwned + PartialEq + Clone,
{
    let existing: Option<Row<T>> = txn.get(Cf::Catalog, &k)?.map(|b| decode(&b)).transpose()?;
    if existing.as_ref().is_some_and(|row| row.value == *value) {
        return Ok(false);
    }
    let create_index = existing.map_or(index, |row| row.create_index);
    txn.put(Cf::Catalog, k, encode(&Row { create_index, modify_index: index, value: value.clone() }));
    meta::bump_table_index(txn, Table::Catalog, index);
    Ok(true)
}

fn remove(txn: &mut Txn<'_>, index: u64, k: Vec<u8>) -> Result<bool, StoreError> {
    if txn.get(Cf::Catalog, &k)?.is_none() {
        return Ok(false);
    }
    txn.delete(Cf::Catalog, k);
    meta::bump_table_index(txn, Table::Catalog, index);
    Ok(true)
}

pub fn upsert_node(txn: &mut Txn<'_>, index: u64, node: &Node) -> Result<(), StoreError> {
    upsert(txn, index, node_key(&node.name), node)?;
    Ok(())
}

pub fn upsert_service(txn: &mut Txn<'_>, index: u64, node: &str, service: &Service) -> Result<(), StoreError> {
    let k = service_key(node, &service.id);
    let old = txn.get(Cf::Catalog, &k)?.map(|b| decode::<Service>(&b)).transpose()?;
    if upsert(txn, index, k, service)? {
        reindex(txn, node, old.as_ref().map(|o| &o.value), Some(service))?;
    }
    Ok(())
}

pub fn upsert_check(txn: &mut Txn<'_>, index: u64, check: &HealthCheck) -> Result<(), StoreError> {
    upsert(txn, index, check_key(&check.node, &check.check_id), check)?;
    Ok(())
}

/// Removes a service instance and its checks.
pub fn delete_service(txn: &mut Txn<'_>, index: u64, node: &str, id: &str) -> Result<(), StoreError> {
    let k = service_key(node, id);
    if let Some(old) = txn.get(Cf::Catalog, &k)?.map(|b| decode::<Service>(&b)).transpose()? {
        reindex(txn, node, Some(&old.value), None)?;
    }
    remove(txn, index, k)?;
    for (check_k, bytes) in txn.scan_prefix(Cf::Catalog, &prefix(&["c", node]))? {
        if decode::<HealthCheck>(&bytes)?.value.service_id == id {
            remove(txn, index, check_k)?;
        }
    }
    Ok(())
}

pub fn delete_check(txn: &mut Txn<'_>, index: u64, node: &str, id: &str) -> Result<(), StoreError> {
    remove(txn, index, check_key(node, id))?;
    Ok(())
}

/// Removes a node with all its services and checks.
pub fn delete_node(txn: &mut Txn<'_>, index: u64, node: &str) -> Result<(), StoreError> {
    for (_, bytes) in txn.scan_prefix(Cf::Catalog, &prefix(&["s", node]))? {
        delete_service(txn, index, node, &decode::<Service>(&bytes)?.value.id)?;
    }
    for (k, _) in txn.scan_prefix(Cf::Catalog, &prefix(&["c", node]))? {
        remove(txn, index, k)?;
    }
    remove(txn, index, node_key(node))?;
    Ok(())
}

/// Makes the node's services and checks exactly `services` and `checks`:
/// an agent's full anti-entropy sync.
pub fn sync_node(
    txn: &mut Txn<'_>,
    index: u64,
    node: &Node,
    services: &[Service],
    checks: &[HealthCheck],
) -> Result<(), StoreError> {
    upsert_node(txn, index, node)?;
    for (_, bytes) in txn.scan_prefix(Cf::Catalog, &prefix(&["s", &node.name]))? {
        let id = decode::<Service>(&bytes)?.value.id;
        if !services.iter().any(|s| s.id == id) {
            delete_service(txn, index, &node.name, &id)?;
        }
    }
    for (k, bytes) in txn.scan_prefix(Cf::Catalog, &prefix(&["c", &node.name]))? {
        let id = decode::<HealthCheck>(&bytes)?.value.check_id;
        if !checks.iter().any(|c| c.check_id == id) {
            remove(txn, index, k)?;
        }
    }
    for service in services {
        upsert_service(txn, index, &node.name, service)?;
    }
    for check in checks {
        upsert_check(txn, index, check)?;
    }
    Ok(())
}

fn scan<T: DeserializeOwned>(engine: &impl Reads, parts: &[&str]) -> Result<Vec<Row<T>>, StoreError> {
    engine.scan_prefix(Cf::Catalog, &prefix(parts))?.iter().map(|(_, v)| decode(v)).collect()
}

fn get<T: DeserializeOwned>(engine: &impl Reads, k: &[u8]) -> Result<Option<Row<T>>, StoreError> {
    engine.get(Cf::Catalog, k)?.map(|b| decode(&b)).transpose()
}

pub fn nodes(engine: &impl Reads) -> Result<Vec<Row<Node>>, StoreError> {
    scan(engine, &["n"])
}

pub fn node(engine: &impl Reads, name: &str) -> Result<Option<Row<Node>>, StoreError> {
    get(engine, &node_key(name))
}

pub fn node_services(engine: &impl Reads, node: &str) -> Result<Vec<Row<Service>>, StoreError> {
    scan(engine, &["s", node])
}

pub fn check(engine: &impl Reads, node: &str, check_id: &str) -> Result<Option<Row<HealthCheck>>, StoreError> {
    get(engine, &check_key(node, check_id))
}

pub fn node_checks(engine: &impl Reads, node: &str) -> Result<Vec<Row<HealthCheck>>, StoreError> {
    scan(engine, &["c", node])
}

/// Every service instance of every node, as (node name, instance).
pub fn all_services(engine: &impl Reads) -> Result<Vec<(String, Row<Service>)>, StoreError> {
    let rows = engine.scan_prefix(Cf::Catalog, &prefix(&["s"]))?;
    rows.iter()
        .map(|(k, v)| {
            let node = key_parts(k).swap_remove(1);
            Ok((node, decode(v)?))
        })
        .collect()
}

/// Every service name with the union of its instances' tags (Consul's
/// `/v1/catalog/services`), from the summaries.
pub fn service_names(engine: &impl Reads) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
    let rows = engine.scan_prefix(Cf::Catalog, &prefix(&["v"]))?;
    rows.iter()
        .map(|(k, v)| {
            let name = String::from_utf8_lossy(&k[2..]).into_owned();
            let summary: NameSummary = super::decode(v, "service name summary")?;
            Ok((name, summary.tags.into_keys().collect()))
        })
        .collect()
}

/// How many nodes, service names and service instances the catalog holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sizes {
    pub nodes: u64,
    pub services: u64,
    pub instances: u64,
}

/// The catalog's [`Sizes`], cheaply: node keys are counted without decoding
/// their rows, instances summed from the one summary row per service name.
pub fn sizes(engine: &impl Reads) -> Result<Sizes, StoreError> {
    let mut sizes = Sizes::default();
    let nodes = prefix(&["n"]);
    engine.scan_from(Cf::Catalog, &nodes, &mut |k, _| {
        let inside = k.starts_with(&nodes);
        sizes.nodes += u64::from(inside);
        Ok(inside)
    })?;
    for (_, v) in engine.scan_prefix(Cf::Catalog, &prefix(&["v"]))? {
        let summary: NameSummary = super::decode(&v, "service name summary")?;
        sizes.services += 1;
        sizes.instances += summary.instances;
    }
    Ok(sizes)
}

/// How many instances of each kind the catalog holds, as Consul's
/// `/v1/operator/usage` counts them: by [`ServiceKind`], Connect-native ones
/// apart (their kind is typical), and the billable ones (typical kind, native
/// or not, except the servers' own `consul` service).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    pub connect_proxy: u64,
    pub mesh_gateway: u64,
    pub terminating_gateway: u64,
    pub ingress_gateway: u64,
    pub connect_native: u64,
    pub billable: u64,
}

/// The fields of an instance row [`kind_counts`] needs; the rest of the
/// JSON row is skipped rather than decoded.
#[derive(Deserialize)]
struct KindOnly {
    name: String,
    #[serde(default)]
    kind: ServiceKind,
    #[serde(default)]
    connect_native: bool,
}

/// The catalog's [`KindCounts`], in one pass over the instance rows (no
/// summary keeps kinds: only the operator's usage endpoint asks, where
/// Consul keeps running counters).
pub fn kind_counts(engine: &impl Reads) -> Result<KindCounts, StoreError> {
    let mut counts = KindCounts::default();
    let services = prefix(&["s"]);
    engine.scan_from(Cf::Catalog, &services, &mut |k, v| {
        if !k.starts_with(&services) {
            return Ok(false);
        }
        let row: Row<KindOnly> = super::decode(v, "catalog row")?;
        counts.count(&row.value);
        Ok(true)
    })?;
    Ok(counts)
}

impl KindCounts {
    fn count(&mut self, instance: &KindOnly) {
        let slot = match instance.kind {
            ServiceKind::Typical => None,
            ServiceKind::ConnectProxy => Some(&mut self.connect_proxy),
            ServiceKind::MeshGateway => Some(&mut self.mesh_gateway),
            ServiceKind::TerminatingGateway => Some(&mut self.terminating_gateway),
            ServiceKind::IngressGateway => Some(&mut self.ingress_gateway),
        };
        match slot {
            Some(n) => *n += 1,
            None if instance.name != "consul" => self.billable += 1,
            None => {}
        }
        self.connect_native += u64::from(instance.connect_native);
    }
}

/// Writes the derived rows (name and connect indexes, summaries) afresh
/// from the service rows: for a data dir or a snapshot made before they
/// existed, or left behind by a version that did not keep them.
pub fn rebuild_derived(txn: &mut Txn<'_>) -> Result<(), StoreError> {
    for derived in ["x", "p", "v"] {
        for (k, _) in txn.scan_prefix(Cf::Catalog, &prefix(&[derived]))? {
            txn.delete(Cf::Catalog, k);
        }
    }
    for (k, bytes) in txn.scan_prefix(Cf::Catalog, &prefix(&["s"]))? {
        let node = key_parts(&k).swap_remove(1);
        reindex(txn, &node, None, Some(&decode::<Service>(&bytes)?.value))?;
    }
    Ok(())
}

pub fn all_checks(engine: &impl Reads) -> Result<Vec<Row<HealthCheck>>, StoreError> {
    scan(engine, &["c"])
}

/// The instances of service `name`, each with its node.
pub fn instances(engine: &impl Reads, name: &str) -> Result<Vec<Instance>, StoreError> {
    indexed(engine, "x", name)
}

/// The checks of every instance of service `name` (its own, not its
/// node's), found through the name index: one read of each node's checks.
pub fn service_checks(engine: &impl Reads, name: &str) -> Result<Vec<Row<HealthCheck>>, StoreError> {
    let mut ids_by_node: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (node, service) in instances(engine, name)? {
        ids_by_node.entry(node.value.name).or_default().insert(service.value.id);
    }
    let mut out = Vec::new();
    for (node, ids) in ids_by_node {
        let checks = node_checks(engine, &node)?;
        out.extend(checks.into_iter().filter(|c| ids.contains(&c.value.service_id)));
    }
    Ok(out)
}

/// What Connect clients dial for service `name`: its proxies and its native
/// instances, each with its node.
pub fn connect_instances(engine: &impl Reads, name: &str) -> Result<Vec<Instance>, StoreError> {
    indexed(engine, "p", name)
}

/// The instances an index (`x` by name, `p` by Connect target) lists under `name`.
fn indexed(engine: &impl Reads, index: &str, name: &str) -> Result<Vec<Instance>, StoreError> {
    let mut out: Vec<Instance> = Vec::new();
    for (k, _) in engine.scan_prefix(Cf::Catalog, &prefix(&[index, name]))? {
        let parts = key_parts(&k);
        let [_, _, node_name, id] = parts.as_slice() else { continue };
        // The index lists instances grouped by node: a node with many
        // instances is read and decoded once, not once per instance.
        let node = match out.last() {
            Some((last, _)) if last.value.name == *node_name => Some(last.clone()),
            _ => node(engine, node_name)?,
        };
        let (Some(node), Some(service)) = (node, get(engine, &service_key(node_name, id))?) else {
            continue;
        };
        out.push((node, service));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Durability;
    use crate::engine::Engine;

    fn commit(engine: &Engine, f: impl FnOnce(&mut Txn<'_>)) {
        let mut txn = Txn::new(engine);
        f(&mut txn);
        engine.write(txn.into_ops(), Durability::Buffered).unwrap();
    }

    fn node(name: &str) -> Node {
        Node { name: name.into(), address: "10.0.0.1".into(), datacenter: "dc1".into(), ..Node::default() }
    }

    fn service(id: &str, name: &str) -> Service {
        Service { id: id.into(), name: name.into(), port: 80, ..Service::default() }
    }

    fn check(node: &str, id: &str, service_id: &str) -> HealthCheck {
        HealthCheck { node: node.into(), check_id: id.into(), service_id: service_id.into(), ..HealthCheck::default() }
    }

    #[test]
    fn sync_replaces_the_node_set_and_keeps_indexes_of_unchanged_rows() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let n = node("a");
        commit(&engine, |t| {
            sync_node(t, 5, &n, &[service("web1", "web"), service("db", "db")], &[check("a", "c1", "web1")]).unwrap()
        });
        commit(&engine, |t| sync_node(t, 9, &n, &[service("web1", "web")], &[check("a", "c1", "web1")]).unwrap());
        let rows = node_services(&engine, "a").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!((rows[0].create_index, rows[0].modify_index), (5, 5), "unchanged row keeps its indexes");
        assert!(instances(&engine, "db").unwrap().is_empty());
        assert_eq!(instances(&engine, "web").unwrap().len(), 1);
        assert_eq!(meta::table_index(&engine, Table::Catalog).unwrap(), 9);

        commit(&engine, |t| sync_node(t, 12, &n, &[service("web1", "web")], &[check("a", "c1", "web1")]).unwrap());
        assert_eq!(meta::table_index(&engine, Table::Catalog).unwrap(), 9, "a no-op sync does not move the index");
    }

    #[test]
    fn sizes_count_nodes_names_and_instances() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        assert_eq!(sizes(&engine).unwrap(), Sizes::default());
        commit(&engine, |t| sync_node(t, 1, &node("a"), &[service("web1", "web"), service("db", "db")], &[]).unwrap());
        commit(&engine, |t| sync_node(t, 2, &node("b"), &[service("web2", "web")], &[]).unwrap());
        assert_eq!(sizes(&engine).unwrap(), Sizes { nodes: 2, services: 2, instances: 3 });
        commit(&engine, |t| delete_node(t, 3, "a").unwrap());
        assert_eq!(sizes(&engine).unwrap(), Sizes { nodes: 1, services: 1, instances: 1 });
    }

    #[test]
    fn kind_counts_split_instances_by_kind_and_leave_consul_unbilled() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let proxy = Service { kind: ServiceKind::ConnectProxy, ..service("web-proxy", "web-sidecar-proxy") };
        let native = Service { connect_native: true, ..service("api1", "api") };
        let gateway = Service { kind: ServiceKind::MeshGateway, ..service("gw", "gateway") };
        let services = [service("web1", "web"), proxy, native, gateway, service("consul", "consul")];
        commit(&engine, |t| sync_node(t, 1, &node("a"), &services, &[]).unwrap());
        let counts = kind_counts(&engine).unwrap();
        let want =
            KindCounts { connect_proxy: 1, mesh_gateway: 1, connect_native: 1, billable: 2, ..KindCounts::default() };
        assert_eq!(counts, want);
    }

    #[test]
    fn renaming_a_service_moves_its_name_index() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        commit(&engine, |t| {
            upsert_node(t, 1, &node("a")).unwrap();
            upsert_service(t, 1, "a", &service("s1", "old")).unwrap();
        });
        commit(&engine, |t| upsert_service(t, 2, "a", &service("s1", "new")).unwrap());
        assert!(instances(&engine, "old").unwrap().is_empty());
        assert_eq!(instances(&engine, "new").unwrap()[0].1.value.name, "new");
    }

    #[test]
    fn deleting_a_node_removes_its_services_and_checks() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        commit(&engine, |t| {
            sync_node(t, 1, &node("a"), &[service("web1", "web")], &[check("a", "c1", "web1")]).unwrap()
        });
        commit(&engine, |t| sync_node(t, 1, &node("b"), &[service("web2", "web")], &[]).unwrap());
        commit(&engine, |t| delete_node(t, 2, "a").unwrap());
        assert!(nodes(&engine).unwrap().iter().all(|n| n.value.name == "b"));
        assert!(all_checks(&engine).unwrap().is_empty());
        assert_eq!(instances(&engine, "web").unwrap().len(), 1);
    }

    fn names_by_scan(engine: &Engine) -> BTreeMap<String, BTreeSet<String>> {
        let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (_, row) in all_services(engine).unwrap() {
            names.entry(row.value.name.clone()).or_default().extend(row.value.tags.iter().cloned());
        }
        names
    }

    #[test]
    fn name_summaries_follow_every_kind_of_service_change() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let tagged = |id: &str, name: &str, tags: &[&str]| Service {
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..service(id, name)
        };
        type Step<'a> = Box<dyn Fn(&mut Txn<'_>) + 'a>;
        let steps: Vec<Step> = vec![
            Box::new(|t| sync_node(t, 1, &node("a"), &[tagged("w1", "web", &["v1", "v1"])], &[]).unwrap()),
            Box::new(|t| {
                sync_node(t, 2, &node("b"), &[tagged("w2", "web", &["v2"]), tagged("d", "db", &[])], &[]).unwrap()
            }),
            Box::new(|t| upsert_service(t, 3, "a", &tagged("w1", "web", &["v3"])).unwrap()),
            Box::new(|t| upsert_service(t, 4, "b", &tagged("w2", "api", &["v2"])).unwrap()),
            Box::new(|t| delete_service(t, 5, "b", "d").unwrap()),
            Box::new(|t| delete_node(t, 6, "a").unwrap()),
            Box::new(|t| upsert_service(t, 7, "b", &tagged("w2", "api", &["v2"])).unwrap()),
        ];
        for step in steps {
            commit(&engine, |t| step(t));
            assert_eq!(service_names(&engine).unwrap(), names_by_scan(&engine));
        }
        let names = service_names(&engine).unwrap();
        assert_eq!(names.keys().collect::<Vec<_>>(), vec!["api"], "web and db have no instances left");
    }

    #[test]
    fn listing_services_reads_one_row_per_name_whatever_the_instance_count() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        for n in 0..50 {
            let services: Vec<Service> = (0..40).map(|i| service(&format!("s{i}"), &format!("svc{}", i % 4))).collect();
            commit(&engine, |t| sync_node(t, 1, &node(&format!("n{n}")), &services, &[]).unwrap());
        }
        assert_eq!(all_services(&engine).unwrap().len(), 2_000);
        // What service_names reads: the summaries, one per name.
        assert_eq!(engine.scan_prefix(Cf::Catalog, &prefix(&["v"])).unwrap().len(), 4);
        assert_eq!(service_names(&engine).unwrap(), names_by_scan(&engine));
    }

    #[test]
    fn service_checks_are_the_instances_own_checks_only() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let checks = [check("a", "web-1-ttl", "web-1"), check("a", "db-ttl", "db"), check("a", "node-ok", "")];
        commit(&engine, |t| {
            sync_node(t, 1, &node("a"), &[service("web-1", "web"), service("db", "db")], &checks).unwrap()
        });
        commit(&engine, |t| {
            sync_node(t, 1, &node("b"), &[service("web-2", "web")], &[check("b", "web-2-ttl", "web-2")]).unwrap()
        });
        let ids: Vec<String> = service_checks(&engine, "web").unwrap().into_iter().map(|c| c.value.check_id).collect();
        assert_eq!(ids, vec!["web-1-ttl", "web-2-ttl"]);
    }

    #[test]
    fn the_connect_index_lists_proxies_by_destination_and_native_instances_by_name() {
        use tessera_mesh::catalog::model::ProxySettings;
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let proxy = |id: &str, destination: &str| Service {
            kind: ServiceKind::ConnectProxy,
            proxy: Some(ProxySettings { destination_service_name: destination.into(), ..ProxySettings::default() }),
            ..service(id, &format!("{destination}-sidecar-proxy"))
        };
        let native = Service { connect_native: true, ..service("db-native", "db") };
        commit(&engine, |t| {
            sync_node(t, 1, &node("a"), &[service("web", "web"), proxy("web-proxy", "web"), native.clone()], &[])
                .unwrap()
        });
        let ids = |name: &str| -> Vec<String> {
            connect_instances(&engine, name).unwrap().into_iter().map(|(_, s)| s.value.id).collect()
        };
        assert_eq!(ids("web"), vec!["web-proxy"], "the proxy, not the plain instance");
        assert_eq!(ids("db"), vec!["db-native"]);
        // Re-pointed, then removed: the index follows.
        commit(&engine, |t| upsert_service(t, 2, "a", &proxy("web-proxy", "api")).unwrap());
        assert!(ids("web").is_empty());
        assert_eq!(ids("api"), vec!["web-proxy"]);
        commit(&engine, |t| delete_node(t, 3, "a").unwrap());
        assert!(ids("api").is_empty() && ids("db").is_empty());
    }

    #[test]
    fn derived_rows_an_older_version_left_behind_are_rebuilt_at_open() {
        use crate::types::LogId;
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let applied = |index: u64| LogId::new(openraft::CommittedLeaderId::new(1, 0), index);
        commit(&engine, |t| {
            sync_node(t, 5, &node("a"), &[service("w1", "web"), service("d", "db")], &[]).unwrap();
            meta::set_last_applied(t, &applied(5));
            crate::tables::mark_derived(t, 5);
        });
        // A version without the derived rows applies entry 6: it removes db's
        // rows but not db's summary, and does not move the marker.
        commit(&engine, |t| {
            t.delete(Cf::Catalog, service_key("a", "d"));
            t.delete(Cf::Catalog, name_index_key("db", "a", "d"));
            meta::set_last_applied(t, &applied(6));
        });
        assert_ne!(service_names(&engine).unwrap(), names_by_scan(&engine), "stale: db is still listed");
        crate::tables::ensure_derived(&engine).unwrap();
        assert_eq!(service_names(&engine).unwrap(), names_by_scan(&engine));
    }

    #[test]
    fn summaries_missing_from_an_older_data_dir_are_rebuilt_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        commit(&engine, |t| sync_node(t, 1, &node("a"), &[service("w1", "web"), service("d", "db")], &[]).unwrap());
        // As a data dir written before the summaries existed: none of them, no marker.
        commit(&engine, |t| {
            for derived in ["p", "v"] {
                for (k, _) in t.scan_prefix(Cf::Catalog, &prefix(&[derived])).unwrap() {
                    t.delete(Cf::Catalog, k);
                }
            }
            t.delete(Cf::SmMeta, crate::keys::sm_meta::DERIVED_VERSION);
        });
        assert!(service_names(&engine).unwrap().is_empty());
        crate::tables::ensure_derived(&engine).unwrap();
        assert_eq!(service_names(&engine).unwrap(), names_by_scan(&engine));
        assert_eq!(service_names(&engine).unwrap().len(), 2);
    }
}
