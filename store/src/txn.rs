//! A write set over the engine that reads its own writes.
//!
//! One `apply` call of the state machine applies many commands; a later one
//! may read what an earlier one wrote (two CAS writes to the same key in one
//! batch). The txn keeps those writes in memory, answers reads from them
//! first, and hands them to the engine as one atomic write at the end.

use std::collections::BTreeMap;

use crate::engine::Engine;
use crate::engine::KeyValue;
use crate::engine::Reads;
use crate::engine::StoreError;
use crate::engine::WriteOps;
use crate::keys::Cf;

pub struct Txn<'a> {
    engine: &'a Engine,
    writes: BTreeMap<(Cf, Vec<u8>), Option<Vec<u8>>>,
}

impl<'a> Txn<'a> {
    pub fn new(engine: &'a Engine) -> Self {
        Txn { engine, writes: BTreeMap::new() }
    }

    pub fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        match self.writes.get(&(cf, key.to_vec())) {
            Some(pending) => Ok(pending.clone()),
            None => self.engine.get(cf, key),
        }
    }

    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.writes.insert((cf, key.into()), Some(value.into()));
    }

    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.writes.insert((cf, key.into()), None);
    }

    /// Entries under `prefix` as they will be after this txn, in key order.
    pub fn scan_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = self.engine.scan_prefix(cf, prefix)?.into_iter().collect();
        let pending =
            self.writes.range((cf, prefix.to_vec())..).take_while(|((c, k), _)| *c == cf && k.starts_with(prefix));
        for ((_, key), value) in pending {
            match value {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().collect())
    }

    pub fn into_ops(self) -> WriteOps {
        let mut ops = WriteOps::default();
        for ((cf, key), value) in self.writes {
            match value {
                Some(v) => ops.put(cf, key, v),
                None => ops.delete(cf, key),
            }
        }
        ops
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Durability;

    #[test]
    fn reads_see_pending_writes_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let mut seed = WriteOps::default();
        seed.put(Cf::Kv, b"p/old".to_vec(), b"1".to_vec());
        seed.put(Cf::Kv, b"p/gone".to_vec(), b"2".to_vec());
        engine.write(seed, Durability::Synced).unwrap();

        let mut txn = Txn::new(&engine);
        txn.put(Cf::Kv, b"p/new".to_vec(), b"3".to_vec());
        txn.delete(Cf::Kv, b"p/gone".to_vec());
        txn.put(Cf::SmMeta, b"p/other-cf".to_vec(), b"4".to_vec());

        assert_eq!(txn.get(Cf::Kv, b"p/new").unwrap(), Some(b"3".to_vec()));
        assert_eq!(txn.get(Cf::Kv, b"p/gone").unwrap(), None);
        let keys: Vec<_> = txn.scan_prefix(Cf::Kv, b"p/").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"p/new".to_vec(), b"p/old".to_vec()]);

        engine.write(txn.into_ops(), Durability::Synced).unwrap();
        assert_eq!(engine.get(Cf::Kv, b"p/gone").unwrap(), None);
        assert_eq!(engine.get(Cf::Kv, b"p/new").unwrap(), Some(b"3".to_vec()));
    }
}
