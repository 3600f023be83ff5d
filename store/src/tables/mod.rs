//! The replicated tables. Each table module owns its row codec, its writes
//! (taking the Raft index of the entry that makes them, and bumping the
//! table's modify index when something changed) and its reads.

pub mod acl;
pub mod autopilot;
pub mod catalog;
pub mod connect;
pub mod kv;
pub mod meta;
pub mod once;

use crate::engine::Durability;
use crate::engine::Engine;
use crate::engine::StoreError;
use crate::keys::sm_meta;
use crate::keys::Cf;
use crate::txn::Txn;

/// Bumped when a secondary index is added. 1: catalog name summaries;
/// 2: the catalog's Connect index.
const DERIVED_VERSION: u32 = 2;

/// The marker every apply writes with its rows: which derived rows this
/// version keeps, as of which applied index. A data dir or snapshot whose
/// marker is older, missing, or behind its last applied entry (a version
/// without these rows applied entries since, e.g. after a downgrade) gets
/// them rebuilt at open or install.
fn marker(applied: u64) -> Vec<u8> {
    format!("{DERIVED_VERSION}@{applied}").into_bytes()
}

/// Records that the derived rows are current as of `applied`; in the same
/// batch as the entries that moved them.
pub fn mark_derived(txn: &mut Txn<'_>, applied: u64) {
    txn.put(Cf::SmMeta, sm_meta::DERIVED_VERSION, marker(applied));
}

/// Rebuilds the derived rows in `txn` unless its marker says they are
/// current. They are a pure function of the primary rows, so every server
/// rebuilds the same ones.
pub fn ensure_derived_in(txn: &mut Txn<'_>) -> Result<(), StoreError> {
    let applied = meta::last_applied_in(txn)?.map_or(0, |l| l.index);
    if txn.get(Cf::SmMeta, sm_meta::DERIVED_VERSION)? == Some(marker(applied)) {
        return Ok(());
    }
    catalog::rebuild_derived(txn)?;
    mark_derived(txn, applied);
    Ok(())
}

/// [`ensure_derived_in`] on the data dir as it is (at open).
pub fn ensure_derived(engine: &Engine) -> Result<(), StoreError> {
    let mut txn = Txn::new(engine);
    ensure_derived_in(&mut txn)?;
    engine.write(txn.into_ops(), Durability::Synced)
}

/// A JSON row read back; `what` names it in the error when the bytes on
/// disk do not parse.
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Rows are plain data (strings, numbers, maps with string keys), which
/// always serialize.
fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("table rows serialize")
}
