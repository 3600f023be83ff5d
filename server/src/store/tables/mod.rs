//! The replicated tables. Each table module owns its row codec, its writes
//! (taking the Raft index of the entry that makes them, and bumping the
//! table's modify index when something changed) and its reads.

pub mod catalog;
pub mod connect;
pub mod kv;
pub mod meta;

use crate::store::engine::EngineError;

/// A JSON row read back; `what` names it in the error when the bytes on
/// disk do not parse.
fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, EngineError> {
    serde_json::from_slice(bytes).map_err(|e| EngineError::Corrupt(format!("{what}: {e}")))
}

/// Rows are plain data (strings, numbers, maps with string keys), which
/// always serialize.
fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("table rows serialize")
}
