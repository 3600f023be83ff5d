//! Tessera's durable state: openraft's log and vote, and the replicated state
//! machine, in one RocksDB database per server.
//!
//! Writes reach the tables only through the Raft log: [`command::Command`]s
//! applied by [`state_machine::StateMachine`]. Reads go through a [`View`],
//! one point-in-time snapshot, so an answer built from several reads (a
//! health answer with nodes, services and checks) never mixes two states,
//! and [`Store::read`] returns it with the table index it was read at, as
//! Consul's state store does.
//!
//! - `engine` (private): RocksDB itself, the only module that names it.
//! - `keys` (private): column families and key layouts.
//! - [`log_store`]: openraft's `RaftLogStorage`.
//! - [`state_machine`]: openraft's `RaftStateMachine`.
//! - `tables` (private): typed tables, each with a modify index;
//!   [`watch`] publishes those indexes.
//! - [`command`], [`ca`], [`acl`], [`types`]: what the log and the tables hold.
//! - `snapshot` (private): the snapshot format sent to lagging servers.
//!
//! Stored formats: [`command::Command`] and everything it carries, the
//! table rows ([`Row`], [`KvEntry`], [`ca::StoredRoot`], [`ca::CaConfig`])
//! and [`types::ServerNode`] are on disk and on the wire between versions;
//! fields are only ever added.
#![forbid(unsafe_code)]
// openraft's storage traits fix the error type (`StorageError`, ~224 bytes);
// boxing it at this crate's edge would only move the size elsewhere.
#![allow(clippy::result_large_err)]

pub mod acl;
pub mod autopilot;
pub mod ca;
pub mod command;
mod command_checks;
mod engine;
mod keys;
pub mod log_store;
mod snapshot;
pub mod state_machine;
mod tables;
mod txn;
pub mod types;
pub mod watch;

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use std::time::Duration;
use tessera_mesh::catalog::HealthCheck;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_mesh::connect::Intention;

use tokio::sync::watch::Receiver;
use tokio::sync::Notify;

pub use crate::engine::StoreError;
pub use crate::tables::catalog::Instance as NodeService;
pub use crate::tables::catalog::KindCounts;
pub use crate::tables::catalog::Row;
pub use crate::tables::catalog::Sizes as CatalogSizes;
pub use crate::tables::kv::KvEntry;
pub use crate::watch::Table;

use crate::acl::AclMeta;
use crate::acl::AclPolicy;
use crate::acl::AclRole;
use crate::acl::AclToken;
use crate::ca::CaState;
use crate::engine::Engine;
use crate::engine::Reads;
use crate::log_store::LogStore;
use crate::state_machine::StateMachine;
use crate::tables::acl as acl_table;
use crate::tables::catalog;
use crate::tables::connect;
use crate::tables::kv;
use crate::tables::meta;
use crate::watch::TableWatches;

/// The open store, shared by the log store, the state machine and readers.
pub struct Store {
    engine: Engine,
    watches: TableWatches,
    /// Notified when a holder handed to openraft lets go (see [`Store::close`]).
    released: Arc<Notify>,
    /// The exactly-once table in memory, for whichever state machine
    /// applies (one per store: every handle must see the same copy).
    once: std::sync::Mutex<tables::once::OnceIndex>,
}

/// Held by whatever keeps an `Arc<Store>` (the log store, state machine and
/// snapshot builder openraft is given; a server; a DNS answerer), declared
/// after that field: fields drop in order, so this wakes [`Store::close`]
/// once the reference is gone.
#[derive(Clone)]
pub struct Release(Arc<Notify>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.notify_waiters();
    }
}

/// A value and the index of the table it was read from, as of the same
/// snapshot: what a blocking query reports in `X-Consul-Index`.
#[derive(Debug, Clone, PartialEq)]
pub struct Read<T> {
    pub value: T,
    pub index: u64,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Arc<Store>, StoreError> {
        let engine = Engine::open(dir)?;
        tables::ensure_derived(&engine)?;
        let mut indexes = Vec::new();
        for table in Table::ALL {
            indexes.push((table, meta::table_index(&engine, table)?));
        }
        let watches = TableWatches::new(|t| indexes.iter().find(|(x, _)| *x == t).map_or(0, |(_, i)| *i));
        Ok(Arc::new(Store { engine, watches, released: Arc::new(Notify::new()), once: Default::default() }))
    }

    /// The exactly-once table in memory; only the state machine uses it.
    pub(crate) fn once_index(&self) -> std::sync::MutexGuard<'_, tables::once::OnceIndex> {
        self.once.lock().expect("once index lock")
    }

    /// The answer a `Once` write (client, seq) gave, if it has applied
    /// here and is still remembered: a leader that cannot append answers a
    /// retry of an applied write from this instead of refusing it.
    pub fn once_answer(&self, client: u64, seq: u64) -> Result<Option<command::CommandResponse>, StoreError> {
        let txn = txn::Txn::new(&self.engine);
        match self.once_index().seen(&txn, client, seq)? {
            tables::once::Seen::Answered(answer) => Ok(Some(answer)),
            tables::once::Seen::New | tables::once::Seen::Forgotten => Ok(None),
        }
    }

    pub fn log_store(self: &Arc<Self>) -> LogStore {
        LogStore::new(self.clone())
    }

    pub fn state_machine(self: &Arc<Self>) -> StateMachine {
        StateMachine::new(self.clone())
    }

    /// A guard for a holder of this store (see [`Release`]).
    pub fn release(&self) -> Release {
        Release(self.released.clone())
    }

    /// Closes RocksDB here, once every other holder has let go: openraft's
    /// workers (state machine, replication streams) end shortly after its
    /// shutdown returns, and the log flusher holds it only while it syncs.
    /// Each of them signals as it lets go; this waits for those signals, up
    /// to `grace`. False if the store was still held then.
    pub async fn close(self: Arc<Self>, grace: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + grace;
        let released = self.released.clone();
        let mut store = self;
        loop {
            let notified = released.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            store = match Arc::try_unwrap(store) {
                Ok(last) => {
                    drop(last);
                    return true;
                }
                Err(shared) => shared,
            };
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn watches(&self) -> &TableWatches {
        &self.watches
    }

    /// One consistent view of the replicated state.
    pub fn view(&self) -> View<'_> {
        View { snapshot: self.engine.snapshot() }
    }

    /// Runs `read` on one view and returns its answer with `table`'s index
    /// in that same view.
    pub fn read<T>(
        &self,
        table: Table,
        read: impl FnOnce(&View<'_>) -> Result<T, StoreError>,
    ) -> Result<Read<T>, StoreError> {
        let view = self.view();
        let value = read(&view)?;
        Ok(Read { value, index: view.index(table)? })
    }

    /// Whether this data dir has ever held Raft state (a vote or a log entry).
    pub fn has_raft_state(&self) -> Result<bool, StoreError> {
        Ok(self.engine.get(keys::Cf::RaftMeta, keys::raft_meta::VOTE)?.is_some()
            || self.engine.last(keys::Cf::RaftLogs)?.is_some()
            || meta::last_applied(&self.engine)?.is_some())
    }

    pub fn cluster_id(&self) -> Result<Option<String>, StoreError> {
        meta::cluster_id(&self.engine)
    }

    pub fn last_applied_index(&self) -> Result<u64, StoreError> {
        Ok(meta::last_applied(&self.engine)?.map_or(0, |l| l.index))
    }

    /// The table's index as last published (after its change was written).
    pub fn table_index(&self, table: Table) -> u64 {
        self.watches.current(table)
    }

    pub fn subscribe(&self, table: Table) -> Receiver<u64> {
        self.watches.subscribe(table)
    }
}

/// Reads of the replicated tables, all from one RocksDB snapshot.
pub struct View<'a> {
    snapshot: engine::Snapshot<'a>,
}

impl View<'_> {
    /// The table's modify index as of this view.
    pub fn index(&self, table: Table) -> Result<u64, StoreError> {
        meta::table_index(&self.snapshot, table)
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, StoreError> {
        kv::get(&self.snapshot, key)
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn kv_list(&self, prefix: &str) -> Result<Vec<KvEntry>, StoreError> {
        kv::list(&self.snapshot, prefix)
    }

    pub fn nodes(&self) -> Result<Vec<Row<Node>>, StoreError> {
        catalog::nodes(&self.snapshot)
    }

    pub fn node(&self, name: &str) -> Result<Option<Row<Node>>, StoreError> {
        catalog::node(&self.snapshot, name)
    }

    pub fn node_services(&self, node: &str) -> Result<Vec<Row<Service>>, StoreError> {
        catalog::node_services(&self.snapshot, node)
    }

    pub fn check(&self, node: &str, check_id: &str) -> Result<Option<Row<HealthCheck>>, StoreError> {
        catalog::check(&self.snapshot, node, check_id)
    }

    pub fn node_checks(&self, node: &str) -> Result<Vec<Row<HealthCheck>>, StoreError> {
        catalog::node_checks(&self.snapshot, node)
    }

    /// Every service instance of every node, as (node name, instance).
    pub fn all_services(&self) -> Result<Vec<(String, Row<Service>)>, StoreError> {
        catalog::all_services(&self.snapshot)
    }

    /// The checks of every instance of service `name`.
    pub fn service_checks(&self, name: &str) -> Result<Vec<Row<HealthCheck>>, StoreError> {
        catalog::service_checks(&self.snapshot, name)
    }

    pub fn all_checks(&self) -> Result<Vec<Row<HealthCheck>>, StoreError> {
        catalog::all_checks(&self.snapshot)
    }

    /// How many nodes, service names and instances the catalog holds.
    pub fn catalog_sizes(&self) -> Result<CatalogSizes, StoreError> {
        catalog::sizes(&self.snapshot)
    }

    /// How many instances of each kind (proxies, gateways, native,
    /// billable) the catalog holds: one pass over the instance rows.
    pub fn kind_counts(&self) -> Result<KindCounts, StoreError> {
        catalog::kind_counts(&self.snapshot)
    }

    /// Every service name with the union of its instances' tags.
    pub fn service_names(&self) -> Result<BTreeMap<String, BTreeSet<String>>, StoreError> {
        catalog::service_names(&self.snapshot)
    }

    /// What Connect clients dial for service `name`: its proxies and its
    /// Connect-native instances, each with its node.
    pub fn connect_instances(&self, name: &str) -> Result<Vec<NodeService>, StoreError> {
        catalog::connect_instances(&self.snapshot, name)
    }

    /// The instances of service `name`, each with its node.
    pub fn instances(&self, name: &str) -> Result<Vec<NodeService>, StoreError> {
        catalog::instances(&self.snapshot, name)
    }

    pub fn ca_state(&self) -> Result<CaState, StoreError> {
        connect::ca_state(&self.snapshot)
    }

    pub fn intentions(&self) -> Result<Vec<Intention>, StoreError> {
        connect::intentions(&self.snapshot)
    }

    pub fn intention(&self, source: &str, destination: &str) -> Result<Option<Intention>, StoreError> {
        connect::intention(&self.snapshot, source, destination)
    }

    /// The ACL system's key and bootstrap state (default: never bootstrapped).
    pub fn acl_meta(&self) -> Result<AclMeta, StoreError> {
        acl_table::acl_meta(&self.snapshot)
    }

    pub fn acl_token(&self, accessor_id: &str) -> Result<Option<AclToken>, StoreError> {
        acl_table::token(&self.snapshot, accessor_id)
    }

    /// The token whose SecretID hashes to `secret_hash` under the state's key.
    pub fn acl_token_by_secret_hash(&self, secret_hash: &str) -> Result<Option<AclToken>, StoreError> {
        acl_table::token_by_secret_hash(&self.snapshot, secret_hash)
    }

    /// Every token, by AccessorID.
    pub fn acl_tokens(&self) -> Result<Vec<AclToken>, StoreError> {
        acl_table::tokens(&self.snapshot)
    }

    pub fn acl_policy(&self, id: &str) -> Result<Option<AclPolicy>, StoreError> {
        acl_table::policy(&self.snapshot, id)
    }

    pub fn acl_policy_by_name(&self, name: &str) -> Result<Option<AclPolicy>, StoreError> {
        acl_table::policy_by_name(&self.snapshot, name)
    }

    pub fn acl_policies(&self) -> Result<Vec<AclPolicy>, StoreError> {
        acl_table::policies(&self.snapshot)
    }

    pub fn acl_role(&self, id: &str) -> Result<Option<AclRole>, StoreError> {
        acl_table::role(&self.snapshot, id)
    }

    pub fn acl_role_by_name(&self, name: &str) -> Result<Option<AclRole>, StoreError> {
        acl_table::role_by_name(&self.snapshot, name)
    }

    pub fn acl_roles(&self) -> Result<Vec<AclRole>, StoreError> {
        acl_table::roles(&self.snapshot)
    }

    /// Autopilot's configuration in effect, with its indexes.
    pub fn autopilot_config(&self) -> Result<crate::autopilot::AutopilotRow, StoreError> {
        crate::tables::autopilot::config(&self.snapshot)
    }
}
