//! The replicated tables. Each table module owns its row codec, its writes
//! (taking the Raft index of the entry that makes them, and bumping the
//! table's modify index when something changed) and its reads.

pub mod catalog;
pub mod connect;
pub mod kv;
pub mod meta;

use crate::engine::Durability;
use crate::engine::Engine;
use crate::engine::Reads;
use crate::engine::StoreError;
use crate::keys::sm_meta;
use crate::keys::Cf;
use crate::txn::Txn;

/// Bumped when a secondary index is added: data dirs and snapshots from
/// before it get the index built at open or install. 1: catalog name
/// summaries; 2: the catalog's Connect index.
const DERIVED_VERSION: &[u8] = b"2";

/// Builds the derived rows if this state predates them. They are a pure
/// function of the primary rows, so every server rebuilds the same ones.
pub fn ensure_derived(engine: &Engine) -> Result<(), StoreError> {
    if engine.get(Cf::SmMeta, sm_meta::DERIVED_VERSION)?.as_deref() == Some(DERIVED_VERSION) {
        return Ok(());
    }
    let mut txn = Txn::new(engine);
    catalog::rebuild_derived(&mut txn)?;
    txn.put(Cf::SmMeta, sm_meta::DERIVED_VERSION, DERIVED_VERSION);
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
