//! The server's durable state: openraft's log and vote, and the replicated
//! state machine, in one RocksDB database.
//!
//! - [`engine`]: RocksDB itself (the only module that names it).
//! - [`keys`]: column families and key layouts.
//! - [`log_store`]: openraft's `RaftLogStorage`.
//! - [`state_machine`]: openraft's `RaftStateMachine`, applying [`crate::command::Command`]s to the tables.
//! - [`tables`]: typed tables, each with a modify index; [`watch`] publishes those indexes.
//! - [`snapshot`]: the snapshot format sent to lagging servers.

pub mod engine;
pub mod keys;
pub mod log_store;
pub mod snapshot;
pub mod state_machine;
pub mod tables;
pub mod txn;
pub mod watch;

use std::path::Path;
use std::sync::Arc;

use tokio::sync::watch::Receiver;

use crate::store::engine::Engine;
use crate::store::engine::EngineError;
use crate::store::log_store::LogStore;
use crate::store::state_machine::StateMachine;
use crate::store::tables::kv::KvEntry;
use crate::store::tables::meta;
use crate::store::watch::Table;
use crate::store::watch::TableWatches;

/// The open store, shared by the log store, the state machine and readers.
pub struct Store {
    engine: Engine,
    watches: TableWatches,
}

impl Store {
    pub fn open(dir: &Path) -> Result<Arc<Store>, EngineError> {
        let engine = Engine::open(dir)?;
        let mut indexes = Vec::new();
        for table in Table::ALL {
            indexes.push((table, meta::table_index(&engine, table)?));
        }
        let watches = TableWatches::new(|t| indexes.iter().find(|(x, _)| *x == t).map_or(0, |(_, i)| *i));
        Ok(Arc::new(Store { engine, watches }))
    }

    pub fn log_store(self: &Arc<Self>) -> LogStore {
        LogStore::new(self.clone())
    }

    pub fn state_machine(self: &Arc<Self>) -> StateMachine {
        StateMachine::new(self.clone())
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    pub(crate) fn watches(&self) -> &TableWatches {
        &self.watches
    }

    /// Whether this data dir has ever held Raft state (a vote or a log entry).
    pub fn has_raft_state(&self) -> Result<bool, EngineError> {
        Ok(self.engine.get(keys::Cf::RaftMeta, keys::raft_meta::VOTE)?.is_some()
            || self.engine.last(keys::Cf::RaftLogs)?.is_some()
            || meta::last_applied(&self.engine)?.is_some())
    }

    pub fn kv_get(&self, key: &str) -> Result<Option<KvEntry>, EngineError> {
        tables::kv::get(&self.engine, key)
    }

    pub fn kv_list(&self, prefix: &str) -> Result<Vec<KvEntry>, EngineError> {
        tables::kv::list(&self.engine, prefix)
    }

    pub fn ca_state(&self) -> Result<crate::connect::model::CaState, EngineError> {
        tables::connect::ca_state(&self.engine)
    }

    pub fn intentions(&self) -> Result<Vec<tessera_proto::connect::Intention>, EngineError> {
        tables::connect::intentions(&self.engine)
    }

    pub fn intention(
        &self,
        source: &str,
        destination: &str,
    ) -> Result<Option<tessera_proto::connect::Intention>, EngineError> {
        tables::connect::intention(&self.engine, source, destination)
    }

    pub fn cluster_id(&self) -> Result<Option<String>, EngineError> {
        meta::cluster_id(&self.engine)
    }

    pub fn last_applied_index(&self) -> Result<u64, EngineError> {
        Ok(meta::last_applied(&self.engine)?.map_or(0, |l| l.index))
    }

    pub fn table_index(&self, table: Table) -> u64 {
        self.watches.current(table)
    }

    pub fn subscribe(&self, table: Table) -> Receiver<u64> {
        self.watches.subscribe(table)
    }
}
