//! Exactly-once writes: the answers of each proposer's recent `Once`
//! writes, so that a retry of one (after a deadline, a lost connection or a
//! leader change) gets the first attempt's answer instead of applying again.
//!
//! Replicated state like any table, in [`Cf::SmMeta`]: written in the same
//! batch as the command's effect and carried by snapshots. Bounded two
//! ways, both pure functions of the applied entries so every replica keeps
//! the same rows: a client keeps the answers of its last [`WINDOW`]
//! sequence numbers, and a client with no write in the last
//! [`IDLE_ENTRIES`] log entries is forgotten (checked every
//! [`PRUNE_EVERY`] entries).
//!
//! Writes are the hot path, so the state machine decides from
//! [`OnceIndex`], a copy of the rows in memory (read once at the first
//! apply and again after a snapshot is installed), and writes per applied
//! batch of entries, not per write: each client that wrote gets one row
//! holding that batch's answers (`once/answer/<client><first seq>`) and its
//! client row, and rows wholly out of its window are deleted. Nothing is
//! read on the write path.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::collections::HashSet;

use serde::Deserialize;
use serde::Serialize;

use crate::command::CommandResponse;
use crate::engine::StoreError;
use crate::keys;
use crate::keys::sm_meta;
use crate::keys::Cf;
use crate::txn::Txn;

use super::decode;
use super::encode;

/// Answers remembered per client: sequence numbers in `(max - WINDOW, max]`.
pub const WINDOW: u64 = 1024;
/// A client whose last write is this many entries behind is dropped.
pub const IDLE_ENTRIES: u64 = 1 << 20;
/// Idle clients are looked for at entries whose index is a multiple of this.
pub const PRUNE_EVERY: u64 = 4096;

/// A client's row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRow {
    /// The highest sequence number applied.
    pub max_seq: u64,
    /// The log index of its last write.
    pub last_index: u64,
}

/// What the table knows of a (client, seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// Not applied yet: apply it.
    New,
    /// Applied; this is what it answered.
    Answered(CommandResponse),
    /// Older than the client's window: whether it applied is not known.
    Forgotten,
}

/// The stored row of a client (what tests check; the state machine
/// decides from [`OnceIndex`]).
#[cfg(test)]
pub fn client(txn: &Txn<'_>, client: u64) -> Result<Option<ClientRow>, StoreError> {
    txn.get(Cf::SmMeta, &keys::once_client_key(client))?.map(|b| decode(&b, "once client")).transpose()
}

/// What the stored rows say of a (client, seq) (tests: a fresh index
/// loaded from the rows, as after a restart).
#[cfg(test)]
pub fn seen(txn: &Txn<'_>, id: u64, seq: u64) -> Result<Seen, StoreError> {
    OnceIndex::default().seen(txn, id, seq)
}

/// The answers of one batch of a client's writes, as stored.
type Answers = Vec<(u64, CommandResponse)>;

/// One client's remembered writes, in memory.
#[derive(Debug, Default)]
struct Window {
    row: ClientRow,
    answers: BTreeMap<u64, CommandResponse>,
    /// Its stored answer rows: first seq to last seq.
    rows: BTreeMap<u64, u64>,
    /// Answers of the batch being applied, not stored yet.
    pending: Answers,
}

impl Window {
    fn floor(&self) -> u64 {
        self.row.max_seq.saturating_sub(WINDOW)
    }
}

/// The rows of this table in memory, as of the last applied entry.
#[derive(Debug, Default)]
pub struct OnceIndex {
    loaded: bool,
    clients: HashMap<u64, Window>,
    /// Clients that wrote in the batch being applied.
    dirty: HashSet<u64>,
}

impl OnceIndex {
    /// Forgets what it holds: the next use reads the rows again (after a
    /// snapshot replaced them).
    pub fn reset(&mut self) {
        *self = OnceIndex::default();
    }

    fn load(&mut self, txn: &Txn<'_>) -> Result<(), StoreError> {
        if self.loaded {
            return Ok(());
        }
        for (key, value) in txn.scan_prefix(Cf::SmMeta, sm_meta::ONCE_CLIENT_PREFIX)? {
            let row: ClientRow = decode(&value, "once client")?;
            self.clients
                .insert(client_of(&key, sm_meta::ONCE_CLIENT_PREFIX.len()), Window { row, ..Window::default() });
        }
        for (key, value) in txn.scan_prefix(Cf::SmMeta, sm_meta::ONCE_ANSWER_PREFIX)? {
            let window = self.clients.entry(client_of(&key, sm_meta::ONCE_ANSWER_PREFIX.len())).or_default();
            let answers: Answers = decode(&value, "once answers")?;
            let last = answers.iter().map(|(seq, _)| *seq).max().unwrap_or_default();
            window.rows.insert(keys::once_answer_seq(&key), last);
            let floor = window.floor();
            window.answers.extend(answers.into_iter().filter(|(seq, _)| *seq > floor));
        }
        self.loaded = true;
        Ok(())
    }

    pub fn seen(&mut self, txn: &Txn<'_>, id: u64, seq: u64) -> Result<Seen, StoreError> {
        self.load(txn)?;
        let Some(window) = self.clients.get(&id) else { return Ok(Seen::New) };
        if let Some(answer) = window.answers.get(&seq) {
            return Ok(Seen::Answered(answer.clone()));
        }
        match seq <= window.floor() {
            true => Ok(Seen::Forgotten),
            false => Ok(Seen::New),
        }
    }

    /// Records that (client, seq) applied at `index` and answered
    /// `answer`; stored by [`OnceIndex::flush`] with the batch.
    pub fn record(&mut self, index: u64, id: u64, seq: u64, answer: &CommandResponse) {
        let window = self.clients.entry(id).or_default();
        window.answers.insert(seq, answer.clone());
        window.pending.push((seq, answer.clone()));
        window.row.max_seq = window.row.max_seq.max(seq);
        window.row.last_index = index;
        let floor = window.floor();
        while window.answers.first_key_value().is_some_and(|(&oldest, _)| oldest <= floor) {
            window.answers.pop_first();
        }
        self.dirty.insert(id);
    }

    /// At every [`PRUNE_EVERY`]th entry, drops the clients idle for
    /// [`IDLE_ENTRIES`] entries, with their answers. Runs for every entry
    /// (blank and membership ones too), so it depends on the index alone.
    pub fn prune_idle(&mut self, txn: &mut Txn<'_>, index: u64) -> Result<(), StoreError> {
        if index == 0 || !index.is_multiple_of(PRUNE_EVERY) {
            return Ok(());
        }
        self.load(txn)?;
        let idle: Vec<u64> =
            self.clients.iter().filter(|(_, w)| w.row.last_index + IDLE_ENTRIES <= index).map(|(id, _)| *id).collect();
        for id in idle {
            let window = self.clients.remove(&id).unwrap_or_default();
            for first in window.rows.keys() {
                txn.delete(Cf::SmMeta, keys::once_answer_key(id, *first));
            }
            txn.delete(Cf::SmMeta, keys::once_client_key(id));
            self.dirty.remove(&id);
        }
        Ok(())
    }

    /// Stores what the batch changed: per client that wrote, one row of
    /// its answers and its client row; rows wholly out of its window go.
    pub fn flush(&mut self, txn: &mut Txn<'_>) {
        for id in self.dirty.drain() {
            let Some(window) = self.clients.get_mut(&id) else { continue };
            let pending = std::mem::take(&mut window.pending);
            if let (Some(first), Some(last)) = (pending.iter().map(|p| p.0).min(), pending.iter().map(|p| p.0).max()) {
                txn.put(Cf::SmMeta, keys::once_answer_key(id, first), encode(&pending));
                window.rows.insert(first, last);
            }
            txn.put(Cf::SmMeta, keys::once_client_key(id), encode(&window.row));
            let floor = window.floor();
            let gone: Vec<u64> =
                window.rows.iter().filter(|(_, last)| **last <= floor).map(|(first, _)| *first).collect();
            for first in gone {
                window.rows.remove(&first);
                txn.delete(Cf::SmMeta, keys::once_answer_key(id, first));
            }
        }
    }
}

fn client_of(key: &[u8], prefix: usize) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&key[prefix..prefix + 8]);
    u64::from_be_bytes(buf)
}
