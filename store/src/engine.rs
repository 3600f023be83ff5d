//! The only module that touches RocksDB. Everything above it speaks in
//! column families ([`Cf`]), byte keys and [`WriteOps`].

use std::path::Path;
use std::path::PathBuf;

use rocksdb::BlockBasedOptions;
use rocksdb::ColumnFamilyDescriptor;
use rocksdb::Direction;
use rocksdb::IteratorMode;
use rocksdb::Options;
use rocksdb::ReadOptions;
use rocksdb::WriteBatch;
use rocksdb::WriteOptions;
use rocksdb::DB;

use crate::keys::Cf;

/// What can go wrong in the store. RocksDB's own error type stays in this
/// module: callers see its message, never the type.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("data dir {dir}: cannot open the store: {reason}")]
    Open { dir: PathBuf, reason: String },
    #[error("store I/O: {0}")]
    Io(String),
    #[error("store data is corrupt: {0}")]
    Corrupt(String),
}

impl From<rocksdb::Error> for StoreError {
    fn from(e: rocksdb::Error) -> Self {
        StoreError::Io(e.into_string())
    }
}

impl From<StoreError> for std::io::Error {
    fn from(e: StoreError) -> Self {
        std::io::Error::other(e.to_string())
    }
}

/// A row of some column family, as snapshots carry them.
pub type CfRow = (Cf, Vec<u8>, Vec<u8>);

/// A key and its value, as scans return them.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// A scan's callback: given each key and value in order, true to go on.
pub type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> Result<bool, StoreError> + 'v;

/// Point reads and ordered scans, from the live database or from one
/// point-in-time view of it. Table reads are written against this, so the
/// same read code serves both.
pub trait Reads {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Visits entries from `start` upwards while `visit` returns true.
    fn scan_from(&self, cf: Cf, start: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError>;

    /// All entries whose key starts with `prefix`, in key order.
    fn scan_prefix(&self, cf: Cf, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let mut out = Vec::new();
        self.scan_from(cf, prefix, &mut |k, v| {
            if !k.starts_with(prefix) {
                return Ok(false);
            }
            out.push((k.to_vec(), v.to_vec()));
            Ok(true)
        })?;
        Ok(out)
    }
}

fn visit_all(
    iter: impl Iterator<Item = Result<(Box<[u8]>, Box<[u8]>), rocksdb::Error>>,
    visit: &mut Visit<'_>,
) -> Result<(), StoreError> {
    for item in iter {
        let (key, value) = item?;
        if !visit(&key, &value)? {
            break;
        }
    }
    Ok(())
}

/// One point-in-time view of the database: every read through it sees the
/// state as of the moment it was taken, whatever is written meanwhile.
pub struct Snapshot<'a> {
    engine: &'a Engine,
    snapshot: rocksdb::Snapshot<'a>,
}

impl Reads for Snapshot<'_> {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.snapshot.get_cf(self.engine.handle(cf), key)?)
    }

    fn scan_from(&self, cf: Cf, start: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
        let mode = IteratorMode::From(start, Direction::Forward);
        visit_all(self.snapshot.iterator_cf(self.engine.handle(cf), mode), visit)
    }
}

impl Reads for Engine {
    fn get(&self, cf: Cf, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.handle(cf), key)?)
    }

    fn scan_from(&self, cf: Cf, start: &[u8], visit: &mut Visit<'_>) -> Result<(), StoreError> {
        let mode = IteratorMode::From(start, Direction::Forward);
        visit_all(self.db.iterator_cf(self.handle(cf), mode), visit)
    }
}

/// One RocksDB database with Tessera's column families.
pub struct Engine {
    db: DB,
}

/// Writes collected to be applied atomically by [`Engine::write`].
#[derive(Default)]
pub struct WriteOps {
    ops: Vec<WriteOp>,
}

enum WriteOp {
    Put(Cf, Vec<u8>, Vec<u8>),
    Delete(Cf, Vec<u8>),
    DeleteRange(Cf, Vec<u8>, Vec<u8>),
}

impl WriteOps {
    pub fn put(&mut self, cf: Cf, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Put(cf, key.into(), value.into()));
    }

    pub fn delete(&mut self, cf: Cf, key: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Delete(cf, key.into()));
    }

    /// Deletes keys in [from, to).
    pub fn delete_range(&mut self, cf: Cf, from: impl Into<Vec<u8>>, to: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::DeleteRange(cf, from.into(), to.into()));
    }
}

/// Whether a write must be on disk (WAL fsync'd) before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    Synced,
    /// In the WAL (so it survives a process kill), fsync'd by a later synced write.
    Buffered,
}

impl Engine {
    /// Opens (or creates) the database in `dir`. The dir is made the
    /// owner's only (0700): the store holds the Connect CA's private key.
    /// RocksDB creates its own files 0644 less the process's umask, with no
    /// setting for it in its C API; the agent sets a umask of 0077 for them.
    pub fn open(dir: &Path) -> Result<Engine, StoreError> {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| StoreError::Open { dir: dir.to_path_buf(), reason: e.to_string() })?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.create_missing_column_families(true);
        let cfs = Cf::ALL.map(|cf| ColumnFamilyDescriptor::new(cf.name(), cf_options(cf)));
        let db = DB::open_cf_descriptors(&opts, dir, cfs)
            .map_err(|e| StoreError::Open { dir: dir.to_path_buf(), reason: explain_open_error(&e) })?;
        Ok(Engine { db })
    }

    fn handle(&self, cf: Cf) -> &rocksdb::ColumnFamily {
        // Every Cf is created by `open`, so the handle always exists.
        self.db.cf_handle(cf.name()).expect("column family created at open")
    }

    pub fn write(&self, ops: WriteOps, durability: Durability) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in ops.ops {
            match op {
                WriteOp::Put(cf, k, v) => batch.put_cf(self.handle(cf), k, v),
                WriteOp::Delete(cf, k) => batch.delete_cf(self.handle(cf), k),
                WriteOp::DeleteRange(cf, from, to) => batch.delete_range_cf(self.handle(cf), from, to),
            }
        }
        let mut write_opts = WriteOptions::default();
        write_opts.set_sync(durability == Durability::Synced);
        self.db.write_opt(batch, &write_opts)?;
        Ok(())
    }

    pub fn snapshot(&self) -> Snapshot<'_> {
        Snapshot { engine: self, snapshot: self.db.snapshot() }
    }

    pub fn last(&self, cf: Cf) -> Result<Option<KeyValue>, StoreError> {
        match self.db.iterator_cf(self.handle(cf), IteratorMode::End).next() {
            None => Ok(None),
            Some(item) => {
                let (k, v) = item?;
                Ok(Some((k.to_vec(), v.to_vec())))
            }
        }
    }

    /// Reads every entry of `cfs` from one point-in-time view, so the result
    /// is consistent even while writes continue.
    pub fn export(&self, cfs: &[Cf]) -> Result<Vec<CfRow>, StoreError> {
        let snapshot = self.db.snapshot();
        let mut out = Vec::new();
        for &cf in cfs {
            let mut read_opts = ReadOptions::default();
            read_opts.set_snapshot(&snapshot);
            let iter = self.db.iterator_cf_opt(self.handle(cf), read_opts, IteratorMode::Start);
            for item in iter {
                let (k, v) = item?;
                out.push((cf, k.to_vec(), v.to_vec()));
            }
        }
        Ok(out)
    }

    /// Makes every earlier buffered write durable.
    pub fn sync_wal(&self) -> Result<(), StoreError> {
        self.db.flush_wal(true)?;
        Ok(())
    }
}

/// Tables are read by key on every write (CAS, CreateIndex), mostly for keys
/// that do not exist yet: bloom filters, in SST files and in the memtable,
/// answer those misses without a search.
fn cf_options(cf: Cf) -> Options {
    let mut opts = Options::default();
    if cf.is_table() {
        let mut table = BlockBasedOptions::default();
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);
        opts.set_memtable_whole_key_filtering(true);
        opts.set_memtable_prefix_bloom_ratio(0.1);
    }
    opts
}

/// RocksDB's own messages for the common cases are cryptic; say what the
/// operator can do about them.
fn explain_open_error(e: &rocksdb::Error) -> String {
    let text = e.to_string();
    if text.contains("lock") && (text.contains("LOCK") || text.contains("Resource temporarily unavailable")) {
        format!("it is in use by another process (is another tessera agent running with this -data-dir?): {text}")
    } else if text.contains("Permission denied") {
        format!("permission denied: {text}")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_scan_prefix_in_key_order() {
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path()).unwrap();
        let mut ops = WriteOps::default();
        for key in ["a/2", "b/1", "a/1", "a/10"] {
            ops.put(Cf::Kv, key.as_bytes(), key.as_bytes());
        }
        engine.write(ops, Durability::Synced).unwrap();
        let keys: Vec<_> = engine.scan_prefix(Cf::Kv, b"a/").unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, vec![b"a/1".to_vec(), b"a/10".to_vec(), b"a/2".to_vec()]);
    }

    #[test]
    fn a_second_open_of_the_same_dir_is_refused_with_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Engine::open(dir.path()).unwrap();
        let err = Engine::open(dir.path()).err().expect("second open must fail").to_string();
        assert!(err.contains("in use by another process"), "{err}");
    }
}
