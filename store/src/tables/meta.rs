//! State machine metadata: last applied log id, membership, cluster id and
//! the per-table modify indexes. Stored in [`Cf::SmMeta`] so that it is
//! written in the same atomic batch as the data it describes.

use crate::engine::Reads;
use crate::engine::StoreError;
use crate::keys::sm_meta;
use crate::keys::table_index_key;
use crate::keys::Cf;
use crate::txn::Txn;
use crate::types::LogId;
use crate::types::StoredMembership;
use crate::watch::Table;

use super::decode;
use super::encode;

pub fn last_applied(engine: &impl Reads) -> Result<Option<LogId>, StoreError> {
    engine.get(Cf::SmMeta, sm_meta::LAST_APPLIED)?.map(|b| decode(&b, "last applied log id")).transpose()
}

/// The last applied log id as it will be once `txn` commits.
pub fn last_applied_in(txn: &Txn<'_>) -> Result<Option<LogId>, StoreError> {
    txn.get(Cf::SmMeta, sm_meta::LAST_APPLIED)?.map(|b| decode(&b, "last applied log id")).transpose()
}

pub fn set_last_applied(txn: &mut Txn<'_>, log_id: &LogId) {
    txn.put(Cf::SmMeta, sm_meta::LAST_APPLIED, encode(log_id));
}

pub fn membership(engine: &impl Reads) -> Result<StoredMembership, StoreError> {
    match engine.get(Cf::SmMeta, sm_meta::MEMBERSHIP)? {
        Some(b) => decode(&b, "membership"),
        None => Ok(StoredMembership::default()),
    }
}

pub fn set_membership(txn: &mut Txn<'_>, membership: &StoredMembership) {
    txn.put(Cf::SmMeta, sm_meta::MEMBERSHIP, encode(membership));
}

/// The cluster id, once the first leader has recorded it.
pub fn cluster_id(engine: &impl Reads) -> Result<Option<String>, StoreError> {
    Ok(engine.get(Cf::SmMeta, sm_meta::CLUSTER_ID)?.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// Records the cluster id; the first one recorded stays.
pub fn init_cluster_id(txn: &mut Txn<'_>, cluster_id: &str) -> Result<(), StoreError> {
    if txn.get(Cf::SmMeta, sm_meta::CLUSTER_ID)?.is_none() {
        txn.put(Cf::SmMeta, sm_meta::CLUSTER_ID, cluster_id.as_bytes());
    }
    Ok(())
}

pub fn table_index(engine: &impl Reads, table: Table) -> Result<u64, StoreError> {
    Ok(engine.get(Cf::SmMeta, &table_index_key(table.name()))?.map_or(0, |b| decode_u64(&b)))
}

/// The table's index as it will be once `txn` commits.
pub fn table_index_in(txn: &Txn<'_>, table: Table) -> Result<u64, StoreError> {
    Ok(txn.get(Cf::SmMeta, &table_index_key(table.name()))?.map_or(0, |b| decode_u64(&b)))
}

pub fn bump_table_index(txn: &mut Txn<'_>, table: Table, index: u64) {
    txn.put(Cf::SmMeta, table_index_key(table.name()), index.to_be_bytes());
}

fn decode_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
}
