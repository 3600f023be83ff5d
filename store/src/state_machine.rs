//! openraft's state machine: applies committed [`Command`]s to the tables.
//!
//! Each `apply` call writes all its entries, the last applied log id and the
//! membership in one atomic RocksDB batch, then publishes the changed table
//! indexes. The batch is not fsync'd: after a crash the log (which is) replays
//! whatever the state machine lost.

use std::collections::HashSet;
use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::EntryPayload;
use openraft::ErrorSubject;
use openraft::ErrorVerb;
use openraft::RaftSnapshotBuilder;
use openraft::StorageIOError;

use crate::command::Command;
use crate::command::CommandResponse;
use crate::engine::CfRow;
use crate::engine::Durability;
use crate::engine::Reads;
use crate::engine::StoreError;
use crate::engine::WriteOps;
use crate::keys;
use crate::keys::Cf;
use crate::snapshot;
use crate::tables::acl;
use crate::tables::catalog;
use crate::tables::connect;
use crate::tables::kv;
use crate::tables::meta;
use crate::tables::once;
use crate::txn::Txn;
use crate::types::Entry;
use crate::types::LogId;
use crate::types::Snapshot;
use crate::types::SnapshotMeta;
use crate::types::StorageError;
use crate::types::StoredMembership;
use crate::types::TypeConfig;
use crate::watch::Table;
use crate::Release;
use crate::Store;

#[derive(Clone)]
pub struct StateMachine {
    store: Arc<Store>,
    /// Last: tells `Store::close` once `store` above has been dropped.
    _release: Release,
}

fn sm_err(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(ErrorSubject::StateMachine, verb, openraft::AnyError::new(&e)).into()
}

fn snapshot_err(meta: Option<&SnapshotMeta>, verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    let subject = ErrorSubject::Snapshot(meta.map(|m| m.signature()));
    StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

impl StateMachine {
    pub fn new(store: Arc<Store>) -> Self {
        let release = store.release();
        StateMachine { store, _release: release }
    }

    fn apply_command(
        txn: &mut Txn<'_>,
        once: &mut once::OnceIndex,
        index: u64,
        command: &Command,
    ) -> Result<CommandResponse, StoreError> {
        Ok(match command {
            Command::InitCluster { cluster_id } => {
                meta::init_cluster_id(txn, cluster_id)?;
                CommandResponse::Done
            }
            Command::KvSet { key, value, flags, cas } => {
                CommandResponse::Applied(kv::set(txn, index, key, value, *flags, *cas)?)
            }
            Command::KvDelete { key, recurse, cas } => {
                CommandResponse::Applied(kv::delete(txn, index, key, *recurse, *cas)?)
            }
            Command::Batch { commands } => {
                let answers =
                    commands.iter().map(|c| Self::apply_command(txn, once, index, c)).collect::<Result<_, _>>()?;
                CommandResponse::Batch(answers)
            }
            Command::CatalogRegister { node, service, checks } => {
                catalog::upsert_node(txn, index, node)?;
                if let Some(service) = service {
                    catalog::upsert_service(txn, index, &node.name, service)?;
                }
                for check in checks {
                    catalog::upsert_check(txn, index, check)?;
                }
                CommandResponse::Done
            }
            Command::CatalogDeregister { node, service_id, check_id } => {
                match (service_id, check_id) {
                    (Some(service), _) => catalog::delete_service(txn, index, node, service)?,
                    (None, Some(check)) => catalog::delete_check(txn, index, node, check)?,
                    (None, None) => catalog::delete_node(txn, index, node)?,
                }
                CommandResponse::Done
            }
            Command::CatalogSyncNode { node, services, checks } => {
                catalog::sync_node(txn, index, node, services, checks)?;
                CommandResponse::Done
            }
            Command::CaInitialize { config, root } => {
                CommandResponse::Applied(connect::initialize(txn, index, config, root)?)
            }
            Command::CaRotate { expect_active, config, new_root, cross_signed_pem, rotated_at } => {
                let rotated =
                    connect::rotate(txn, index, expect_active, config, new_root, cross_signed_pem, *rotated_at)?;
                CommandResponse::Applied(rotated)
            }
            Command::CaSetConfig { config } => {
                connect::set_config(txn, index, config)?;
                CommandResponse::Done
            }
            Command::CaPruneRoots { root_ids } => CommandResponse::Applied(connect::prune_roots(txn, index, root_ids)?),
            Command::IntentionUpsert { intention, replace } => {
                CommandResponse::Applied(connect::upsert_intention(txn, index, intention, *replace)?)
            }
            Command::IntentionDelete { source, destination } => {
                CommandResponse::Applied(connect::delete_intention(txn, index, source, destination)?)
            }
            Command::AutopilotSetConfig { config, cas } => {
                CommandResponse::Applied(crate::tables::autopilot::set_config(txn, index, config, *cas)?)
            }
            Command::AclBootstrap { hash_key, token, reset_index } => {
                Self::answer(acl::bootstrap(txn, index, hash_key, token, *reset_index)?.map(|()| true))
            }
            Command::AclTokenSet { token, create } => {
                Self::answer(acl::set_token(txn, index, token, *create)?.map(|()| true))
            }
            Command::AclTokenDelete { accessor_id } => Self::answer(acl::delete_token(txn, index, accessor_id)?),
            Command::AclPolicySet { policy, create } => {
                Self::answer(acl::set_policy(txn, index, policy, *create)?.map(|()| true))
            }
            Command::AclPolicyDelete { id } => Self::answer(acl::delete_policy(txn, index, id)?),
            Command::AclRoleSet { role, create } => {
                Self::answer(acl::set_role(txn, index, role, *create)?.map(|()| true))
            }
            Command::AclRoleDelete { id } => Self::answer(acl::delete_role(txn, index, id)?),
            Command::Once { client, seq, command } => match once.seen(txn, *client, *seq)? {
                once::Seen::Answered(first) => first,
                once::Seen::Forgotten => CommandResponse::Forgotten,
                once::Seen::New => {
                    let answer = Self::apply_command(txn, once, index, command)?;
                    once.record(index, *client, *seq, &answer);
                    answer
                }
            },
        })
    }

    /// An ACL write's answer: applied (or, for a delete, whether there was
    /// something to delete), or refused with its reason.
    fn answer(outcome: Result<bool, acl::Refusal>) -> CommandResponse {
        match outcome {
            Ok(applied) => CommandResponse::Applied(applied),
            Err(refusal) => CommandResponse::Refused(refusal),
        }
    }

    /// Tables whose modify index a command may move.
    fn tables_touched(command: &Command, out: &mut HashSet<Table>) {
        match command {
            // Nothing blocks on these.
            Command::InitCluster { .. } | Command::AutopilotSetConfig { .. } => {}
            Command::KvSet { .. } | Command::KvDelete { .. } => {
                out.insert(Table::Kv);
            }
            Command::Batch { commands } => commands.iter().for_each(|c| Self::tables_touched(c, out)),
            Command::Once { command, .. } => Self::tables_touched(command, out),
            Command::CatalogRegister { .. } | Command::CatalogDeregister { .. } | Command::CatalogSyncNode { .. } => {
                out.insert(Table::Catalog);
            }
            Command::CaInitialize { .. }
            | Command::CaRotate { .. }
            | Command::CaSetConfig { .. }
            | Command::CaPruneRoots { .. } => {
                out.insert(Table::Roots);
            }
            Command::IntentionUpsert { .. } | Command::IntentionDelete { .. } => {
                out.insert(Table::Intentions);
            }
            Command::AclBootstrap { .. }
            | Command::AclTokenSet { .. }
            | Command::AclTokenDelete { .. }
            | Command::AclPolicySet { .. }
            | Command::AclPolicyDelete { .. }
            | Command::AclRoleSet { .. }
            | Command::AclRoleDelete { .. } => {
                out.insert(Table::Acl);
            }
        }
    }

    fn publish_indexes(&self, tables: impl IntoIterator<Item = Table>) -> Result<(), StoreError> {
        for table in tables {
            let index = meta::table_index(self.store.engine(), table)?;
            self.store.watches().publish(table, index);
        }
        Ok(())
    }

    /// The touched tables' indexes as this apply leaves them (read from the
    /// txn's own writes, not from disk).
    fn indexes_after(txn: &Txn<'_>, touched: HashSet<Table>) -> Result<Vec<(Table, u64)>, StoreError> {
        touched.into_iter().map(|t| Ok((t, meta::table_index_in(txn, t)?))).collect()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let engine = self.store.engine();
        let last = meta::last_applied(engine).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        let membership = meta::membership(engine).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        Ok((last, membership))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResponse>, StorageError>
    where
        I: IntoIterator<Item = Entry> + openraft::OptionalSend,
    {
        let mut txn = Txn::new(self.store.engine());
        // Held for the whole batch: one state machine applies at a time anyway.
        let mut once = self.store.once_index();
        let mut answers = Vec::new();
        let mut touched = HashSet::new();
        for entry in entries {
            let index = entry.log_id.index;
            meta::set_last_applied(&mut txn, &entry.log_id);
            once.prune_idle(&mut txn, index).map_err(|e| sm_err(ErrorVerb::Write, e))?;
            let answer = match entry.payload {
                EntryPayload::Blank => CommandResponse::Done,
                EntryPayload::Normal(command) => {
                    Self::tables_touched(&command, &mut touched);
                    Self::apply_command(&mut txn, &mut once, index, &command)
                        .map_err(|e| sm_err(ErrorVerb::Write, e))?
                }
                EntryPayload::Membership(membership) => {
                    meta::set_membership(&mut txn, &StoredMembership::new(Some(entry.log_id), membership));
                    CommandResponse::Done
                }
            };
            answers.push(answer);
        }
        once.flush(&mut txn);
        if let Some(applied) = meta::last_applied_in(&txn).map_err(|e| sm_err(ErrorVerb::Read, e))? {
            crate::tables::mark_derived(&mut txn, applied.index);
        }
        let indexes = Self::indexes_after(&txn, touched).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        self.store.engine().write(txn.into_ops(), Durability::Buffered).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        for (table, index) in indexes {
            self.store.watches().publish(table, index);
        }
        Ok(answers)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder { store: self.store.clone(), _release: self.store.release() }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, data: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let data = data.into_inner();
        let rows = snapshot::decode_rows(&data).map_err(|e| snapshot_err(Some(meta), ErrorVerb::Read, e))?;
        let engine = self.store.engine();
        // One batch: the old state out, the snapshot's in, and derived rows
        // rebuilt if the snapshot's are not current, so no reader ever sees
        // primary rows without them.
        let mut txn = Txn::new(engine);
        for cf in Cf::STATE {
            for (key, _) in engine.scan_prefix(cf, b"").map_err(|e| snapshot_err(Some(meta), ErrorVerb::Read, e))? {
                txn.delete(cf, key);
            }
        }
        for (cf, key, value) in rows {
            txn.put(cf, key, value);
        }
        crate::tables::ensure_derived_in(&mut txn).map_err(|e| snapshot_err(Some(meta), ErrorVerb::Write, e))?;
        txn.put(Cf::Snapshot, keys::snapshot::CURRENT, snapshot::encode_stored(meta, &data));
        engine.write(txn.into_ops(), Durability::Synced).map_err(|e| snapshot_err(Some(meta), ErrorVerb::Write, e))?;
        self.store.once_index().reset();
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "installed snapshot");
        self.publish_indexes(Table::ALL).map_err(|e| sm_err(ErrorVerb::Read, e))
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let stored = self
            .store
            .engine()
            .get(Cf::Snapshot, keys::snapshot::CURRENT)
            .map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        let Some(bytes) = stored else { return Ok(None) };
        let (meta, data) = snapshot::decode_stored(&bytes).map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}

/// Builds a snapshot from a RocksDB point-in-time view, so applies can go on
/// while it runs; the view's own last-applied id and membership describe it.
pub struct SnapshotBuilder {
    store: Arc<Store>,
    /// Last: tells `Store::close` once `store` above has been dropped.
    _release: Release,
}

impl SnapshotBuilder {
    fn meta_of(rows: &[CfRow]) -> Result<(Option<LogId>, StoredMembership), serde_json::Error> {
        let mut last = None;
        let mut membership = StoredMembership::default();
        for (cf, key, value) in rows {
            if *cf != Cf::SmMeta {
                continue;
            }
            if key.as_slice() == keys::sm_meta::LAST_APPLIED {
                last = Some(serde_json::from_slice(value)?);
            } else if key.as_slice() == keys::sm_meta::MEMBERSHIP {
                membership = serde_json::from_slice(value)?;
            }
        }
        Ok((last, membership))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let engine = self.store.engine();
        let rows = engine.export(&Cf::STATE).map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        let (last_log_id, last_membership) =
            Self::meta_of(&rows).map_err(|e| snapshot_err(None, ErrorVerb::Read, e))?;
        let data = snapshot::encode_rows(&rows);
        let snapshot_id = match last_log_id {
            Some(l) => format!("{}-{}-{}", l.leader_id, l.index, rand::random::<u32>()),
            None => format!("empty-{}", rand::random::<u32>()),
        };
        let meta = SnapshotMeta { last_log_id, last_membership, snapshot_id };
        let mut ops = WriteOps::default();
        ops.put(Cf::Snapshot, keys::snapshot::CURRENT, snapshot::encode_stored(&meta, &data));
        // Synced: once openraft purges the log behind this snapshot, the
        // snapshot is the only copy of those entries' effects.
        engine.write(ops, Durability::Synced).map_err(|e| snapshot_err(Some(&meta), ErrorVerb::Write, e))?;
        tracing::info!(snapshot = %meta.snapshot_id, bytes = data.len(), "built snapshot");
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

#[cfg(test)]
#[path = "state_machine_tests.rs"]
mod tests;
