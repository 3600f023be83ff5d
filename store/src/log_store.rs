//! openraft's log storage on RocksDB: entries in [`Cf::RaftLogs`] keyed by
//! big-endian index, vote and last-purged id in [`Cf::RaftMeta`].
//!
//! Appends, votes and truncations are fsync'd before they are acknowledged:
//! Raft's safety rests on them. A purge need not be (a replayed purge is
//! harmless), and neither are state machine writes, which the log can replay.
//!
//! Appends are group-committed: `append` writes the entries to RocksDB's WAL
//! and returns at once, and a flusher thread fsyncs the WAL and then tells
//! openraft they are durable. openraft goes on meanwhile (replicating the
//! same entries to followers), and appends that arrive during one fsync share
//! the next.

use std::fmt::Debug;
use std::ops::Bound;
use std::ops::RangeBounds;
use std::sync::Arc;

use openraft::storage::LogFlushed;
use openraft::storage::LogState;
use openraft::storage::RaftLogStorage;
use openraft::ErrorSubject;
use openraft::ErrorVerb;
use openraft::OptionalSend;
use openraft::RaftLogReader;
use openraft::StorageIOError;

use crate::engine::Durability;
use crate::engine::Reads;
use crate::engine::StoreError;
use crate::engine::WriteOps;
use crate::keys::log_index;
use crate::keys::log_key;
use crate::keys::raft_meta;
use crate::keys::Cf;
use crate::types::Entry;
use crate::types::LogId;
use crate::types::StorageError;
use crate::types::TypeConfig;
use crate::types::Vote;
use crate::Release;
use crate::Store;

#[derive(Clone)]
pub struct LogStore {
    store: Arc<Store>,
    flusher: Arc<Flusher>,
    /// Last: tells `Store::close` once `store` above has been dropped.
    _release: Release,
}

/// Fsyncs the WAL on its own thread and acknowledges appends in order.
struct Flusher {
    pending: std::sync::Mutex<std::sync::mpsc::Sender<LogFlushed<TypeConfig>>>,
}

impl Flusher {
    fn start(store: &Arc<Store>) -> Flusher {
        let (tx, rx) = std::sync::mpsc::channel::<LogFlushed<TypeConfig>>();
        // Weak: the thread must not keep RocksDB open after everyone else let
        // go of it, or the database would close on this thread, racing the
        // process exit.
        let store = Arc::downgrade(store);
        std::thread::Builder::new()
            .name("tessera-log-flush".into())
            .spawn(move || {
                // Ends when the last LogStore (and so the sender) is dropped.
                while let Ok(first) = rx.recv() {
                    let mut waiting = vec![first];
                    waiting.extend(rx.try_iter());
                    let synced = match store.upgrade() {
                        Some(store) => {
                            // Held only for the sync; letting go tells a closing store
                            // (the reference first, then the signal).
                            let release = store.release();
                            let synced = store.engine().sync_wal().map_err(|e| e.to_string());
                            drop(store);
                            drop(release);
                            synced
                        }
                        None => Err("the store is closed".to_string()),
                    };
                    for callback in waiting {
                        callback.log_io_completed(synced.clone().map_err(std::io::Error::other));
                    }
                }
            })
            .expect("spawn the log flusher thread");
        Flusher { pending: std::sync::Mutex::new(tx) }
    }

    fn submit(&self, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError> {
        let sender = self.pending.lock().expect("flusher lock");
        sender.send(callback).map_err(|_| logs_write_err(std::io::Error::other("log flusher stopped")))
    }
}

fn io_err(subject: ErrorSubject<u64>, verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::new(subject, verb, openraft::AnyError::new(&e)).into()
}

fn logs_read_err(e: impl std::error::Error + 'static) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Read, e)
}

fn logs_write_err(e: impl std::error::Error + 'static) -> StorageError {
    io_err(ErrorSubject::Logs, ErrorVerb::Write, e)
}

impl LogStore {
    pub fn new(store: Arc<Store>) -> Self {
        let flusher = Arc::new(Flusher::start(&store));
        let release = store.release();
        LogStore { store, flusher, _release: release }
    }

    fn decode_entry(bytes: &[u8]) -> Result<Entry, StorageError> {
        serde_json::from_slice(bytes).map_err(logs_read_err)
    }

    fn last_purged(&self) -> Result<Option<LogId>, StorageError> {
        let bytes = self.store.engine().get(Cf::RaftMeta, raft_meta::LAST_PURGED).map_err(logs_read_err)?;
        bytes.map(|b| serde_json::from_slice(&b).map_err(logs_read_err)).transpose()
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => *i + 1,
            Bound::Unbounded => 0,
        };
        let mut entries = Vec::new();
        let mut decode_err = None;
        self.store
            .engine()
            .scan_from(Cf::RaftLogs, &log_key(start), &mut |key, value| {
                if !range.contains(&log_index(key)) {
                    return Ok(false);
                }
                match Self::decode_entry(value) {
                    Ok(entry) => entries.push(entry),
                    Err(e) => {
                        decode_err = Some(e);
                        return Ok(false);
                    }
                }
                Ok(true)
            })
            .map_err(logs_read_err)?;
        match decode_err {
            Some(e) => Err(e),
            None => Ok(entries),
        }
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.last_purged()?;
        let last = self.store.engine().last(Cf::RaftLogs).map_err(logs_read_err)?;
        let last_log_id = match last {
            Some((_, bytes)) => Some(Self::decode_entry(&bytes)?.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let mut ops = WriteOps::default();
        ops.put(Cf::RaftMeta, raft_meta::VOTE, serde_json::to_vec(vote).expect("vote serializes"));
        self.store.engine().write(ops, Durability::Synced).map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Write, e))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        let read_err = |e: StoreError| io_err(ErrorSubject::Vote, ErrorVerb::Read, e);
        let bytes = self.store.engine().get(Cf::RaftMeta, raft_meta::VOTE).map_err(read_err)?;
        bytes
            .map(|b| serde_json::from_slice(&b).map_err(|e| io_err(ErrorSubject::Vote, ErrorVerb::Read, e)))
            .transpose()
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
    {
        let mut ops = WriteOps::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(logs_write_err)?;
            ops.put(Cf::RaftLogs, log_key(entry.log_id.index), bytes);
        }
        // In the WAL now (readable, and safe from a process crash); durable
        // once the flusher's next fsync has run, which is when openraft hears.
        self.store.engine().write(ops, Durability::Buffered).map_err(logs_write_err)?;
        self.flusher.submit(callback)
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut ops = WriteOps::default();
        ops.delete_range(Cf::RaftLogs, log_key(log_id.index), log_key(u64::MAX));
        ops.delete(Cf::RaftLogs, log_key(u64::MAX));
        self.store.engine().write(ops, Durability::Synced).map_err(logs_write_err)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        // Recording the purge point first is what makes a half-done purge
        // harmless: openraft ignores entries at or below it.
        let mut ops = WriteOps::default();
        ops.put(Cf::RaftMeta, raft_meta::LAST_PURGED, serde_json::to_vec(&log_id).expect("log id serializes"));
        ops.delete_range(Cf::RaftLogs, log_key(0), log_key(log_id.index + 1));
        self.store.engine().write(ops, Durability::Buffered).map_err(logs_write_err)
    }
}
