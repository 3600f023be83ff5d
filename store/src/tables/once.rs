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

pub fn client(txn: &Txn<'_>, client: u64) -> Result<Option<ClientRow>, StoreError> {
    txn.get(Cf::SmMeta, &keys::once_client_key(client))?.map(|b| decode(&b, "once client")).transpose()
}

pub fn seen(txn: &Txn<'_>, id: u64, seq: u64) -> Result<Seen, StoreError> {
    if let Some(bytes) = txn.get(Cf::SmMeta, &keys::once_answer_key(id, seq))? {
        return Ok(Seen::Answered(decode(&bytes, "once answer")?));
    }
    match client(txn, id)? {
        Some(row) if seq.saturating_add(WINDOW) <= row.max_seq => Ok(Seen::Forgotten),
        _ => Ok(Seen::New),
    }
}

/// Records that (client, seq) applied at `index` and answered `answer`,
/// dropping the answers that fall out of the client's window.
pub fn record(txn: &mut Txn<'_>, index: u64, id: u64, seq: u64, answer: &CommandResponse) -> Result<(), StoreError> {
    let mut row = client(txn, id)?.unwrap_or_default();
    txn.put(Cf::SmMeta, keys::once_answer_key(id, seq), answer.encode());
    if seq > row.max_seq {
        let old_floor = row.max_seq.saturating_sub(WINDOW);
        let new_floor = seq.saturating_sub(WINDOW);
        if new_floor - old_floor <= WINDOW {
            for stale in old_floor + 1..=new_floor {
                txn.delete(Cf::SmMeta, keys::once_answer_key(id, stale));
            }
        } else {
            for (key, _) in txn.scan_prefix(Cf::SmMeta, &keys::once_answer_prefix(id))? {
                if keys::once_answer_seq(&key) <= new_floor {
                    txn.delete(Cf::SmMeta, key);
                }
            }
        }
        row.max_seq = seq;
    }
    row.last_index = index;
    txn.put(Cf::SmMeta, keys::once_client_key(id), encode(&row));
    Ok(())
}

/// At every [`PRUNE_EVERY`]th entry, drops the clients idle for
/// [`IDLE_ENTRIES`] entries, with their answers. Runs for every entry
/// (blank and membership ones too), so it depends on the index alone.
pub fn prune_idle(txn: &mut Txn<'_>, index: u64) -> Result<(), StoreError> {
    if index == 0 || !index.is_multiple_of(PRUNE_EVERY) {
        return Ok(());
    }
    for (key, value) in txn.scan_prefix(Cf::SmMeta, sm_meta::ONCE_CLIENT_PREFIX)? {
        let row: ClientRow = decode(&value, "once client")?;
        if row.last_index + IDLE_ENTRIES > index {
            continue;
        }
        let id = u64::from_be_bytes(key[sm_meta::ONCE_CLIENT_PREFIX.len()..].try_into().unwrap_or_default());
        for (answer, _) in txn.scan_prefix(Cf::SmMeta, &keys::once_answer_prefix(id))? {
            txn.delete(Cf::SmMeta, answer);
        }
        txn.delete(Cf::SmMeta, key);
    }
    Ok(())
}
