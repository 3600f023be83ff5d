//! The KV table (Consul's `/v1/kv`): key -> value with create/modify indexes.

use crate::engine::Reads;
use crate::engine::StoreError;
use crate::keys::Cf;
use crate::tables::meta;
use crate::txn::Txn;
use crate::watch::Table;

/// One KV row. Field names follow Consul's JSON.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvEntry {
    pub key: String,
    pub create_index: u64,
    pub modify_index: u64,
    pub lock_index: u64,
    pub flags: u64,
    pub value: Vec<u8>,
}

const HEADER_LEN: usize = 32;

impl KvEntry {
    /// Row layout: create, modify, lock, flags as big-endian u64, then the value.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.value.len());
        for n in [self.create_index, self.modify_index, self.lock_index, self.flags] {
            out.extend_from_slice(&n.to_be_bytes());
        }
        out.extend_from_slice(&self.value);
        out
    }

    fn decode(key: &[u8], row: &[u8]) -> Result<KvEntry, StoreError> {
        if row.len() < HEADER_LEN {
            return Err(corrupt(key));
        }
        let word = |i: usize| u64::from_be_bytes(row[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        Ok(KvEntry {
            key: String::from_utf8(key.to_vec()).map_err(|_| corrupt(key))?,
            create_index: word(0),
            modify_index: word(1),
            lock_index: word(2),
            flags: word(3),
            value: row[HEADER_LEN..].to_vec(),
        })
    }
}

fn corrupt(key: &[u8]) -> StoreError {
    StoreError::Corrupt(format!("kv row {:?} is malformed", String::from_utf8_lossy(key)))
}

/// Sets `key`. With `cas`, only if the current ModifyIndex equals it (0: only
/// if absent). Returns whether it was written.
pub fn set(
    txn: &mut Txn<'_>,
    index: u64,
    key: &str,
    value: &[u8],
    flags: u64,
    cas: Option<u64>,
) -> Result<bool, StoreError> {
    let existing = read(txn, key)?;
    if let Some(want) = cas {
        let have = existing.as_ref().map_or(0, |e| e.modify_index);
        if have != want {
            return Ok(false);
        }
    }
    let entry = KvEntry {
        key: key.to_string(),
        create_index: existing.as_ref().map_or(index, |e| e.create_index),
        modify_index: index,
        lock_index: existing.as_ref().map_or(0, |e| e.lock_index),
        flags,
        value: value.to_vec(),
    };
    txn.put(Cf::Kv, key.as_bytes(), entry.encode());
    meta::bump_table_index(txn, Table::Kv, index);
    Ok(true)
}

/// Deletes `key` (or all keys under it with `recurse`). With `cas`, only if
/// the current ModifyIndex equals it. Returns whether the delete went ahead.
pub fn delete(txn: &mut Txn<'_>, index: u64, key: &str, recurse: bool, cas: Option<u64>) -> Result<bool, StoreError> {
    if recurse {
        let doomed = txn.scan_prefix(Cf::Kv, key.as_bytes())?;
        for (k, _) in &doomed {
            txn.delete(Cf::Kv, k.clone());
        }
        if !doomed.is_empty() {
            meta::bump_table_index(txn, Table::Kv, index);
        }
        return Ok(true);
    }
    let Some(existing) = read(txn, key)? else {
        return Ok(true);
    };
    if cas.is_some_and(|want| want != existing.modify_index) {
        return Ok(false);
    }
    txn.delete(Cf::Kv, key.as_bytes());
    meta::bump_table_index(txn, Table::Kv, index);
    Ok(true)
}

fn read(txn: &Txn<'_>, key: &str) -> Result<Option<KvEntry>, StoreError> {
    txn.get(Cf::Kv, key.as_bytes())?.map(|row| KvEntry::decode(key.as_bytes(), &row)).transpose()
}

pub fn get(engine: &impl Reads, key: &str) -> Result<Option<KvEntry>, StoreError> {
    engine.get(Cf::Kv, key.as_bytes())?.map(|row| KvEntry::decode(key.as_bytes(), &row)).transpose()
}

/// Every entry whose key starts with `prefix`, in key order.
pub fn list(engine: &impl Reads, prefix: &str) -> Result<Vec<KvEntry>, StoreError> {
    engine.scan_prefix(Cf::Kv, prefix.as_bytes())?.iter().map(|(k, v)| KvEntry::decode(k, v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Durability;
    use crate::engine::Engine;

    fn commit(engine: &Engine, f: impl FnOnce(&mut Txn<'_>) -> bool) -> bool {
        let mut txn = Txn::new(engine);
        let answer = f(&mut txn);
        engine.write(txn.into_ops(), Durability::Buffered).unwrap();
        answer
    }

    #[test]
    fn set_keeps_create_index_and_moves_modify_index() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        commit(&engine, |t| set(t, 5, "a", b"1", 0, None).unwrap());
        commit(&engine, |t| set(t, 9, "a", b"2", 42, None).unwrap());
        let entry = get(&engine, "a").unwrap().unwrap();
        assert_eq!((entry.create_index, entry.modify_index, entry.flags), (5, 9, 42));
        assert_eq!(entry.value, b"2");
        assert_eq!(meta::table_index(&engine, Table::Kv).unwrap(), 9);
    }

    #[test]
    fn cas_zero_creates_only_and_cas_n_needs_the_modify_index() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        assert!(commit(&engine, |t| set(t, 3, "k", b"v", 0, Some(0)).unwrap()));
        assert!(!commit(&engine, |t| set(t, 4, "k", b"w", 0, Some(0)).unwrap()));
        assert!(!commit(&engine, |t| set(t, 5, "k", b"w", 0, Some(2)).unwrap()));
        assert!(commit(&engine, |t| set(t, 6, "k", b"w", 0, Some(3)).unwrap()));
        assert!(!commit(&engine, |t| delete(t, 7, "k", false, Some(3)).unwrap()));
        assert!(commit(&engine, |t| delete(t, 8, "k", false, Some(6)).unwrap()));
        assert_eq!(get(&engine, "k").unwrap(), None);
        assert_eq!(meta::table_index(&engine, Table::Kv).unwrap(), 8);
    }

    #[test]
    fn recursive_delete_sees_writes_of_the_same_batch() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        commit(&engine, |t| set(t, 1, "app/a", b"", 0, None).unwrap());
        commit(&engine, |t| {
            set(t, 2, "app/b", b"", 0, None).unwrap();
            set(t, 2, "apple", b"", 0, None).unwrap();
            delete(t, 2, "app/", true, None).unwrap()
        });
        let keys: Vec<_> = list(&engine, "").unwrap().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, vec!["apple".to_string()]);
    }

    #[test]
    fn failed_cas_does_not_move_the_table_index() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        commit(&engine, |t| set(t, 3, "k", b"v", 0, None).unwrap());
        commit(&engine, |t| set(t, 4, "k", b"v", 0, Some(1)).unwrap());
        assert_eq!(meta::table_index(&engine, Table::Kv).unwrap(), 3);
    }
}
