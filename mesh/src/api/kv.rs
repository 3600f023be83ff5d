//! `/v1/kv/*` answers.

use serde::Deserialize;
use serde::Serialize;

/// One KV entry (`structs.DirEntry`, the order Consul's server writes it).
/// `Value` is base64, and `null` for an empty value, as Consul answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KvPair {
    pub lock_index: u64,
    pub key: String,
    pub flags: u64,
    pub value: Option<String>,
    pub create_index: u64,
    pub modify_index: u64,
}
