//! openraft's storage conformance suite, run against the RocksDB store on a
//! real data dir.

use openraft::testing::StoreBuilder;
use openraft::testing::Suite;
use tempfile::TempDir;
use tessera_store::log_store::LogStore;
use tessera_store::state_machine::StateMachine;
use tessera_store::types::StorageError;
use tessera_store::types::TypeConfig;
use tessera_store::Store;

mod close;

struct RocksBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for RocksBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError> {
        let dir = TempDir::new().expect("temp dir");
        let store = Store::open(dir.path()).expect("open store");
        Ok((dir, store.log_store(), store.state_machine()))
    }
}

#[test]
#[allow(clippy::result_large_err)] // the suite's own error type
fn rocksdb_store_passes_openraft_conformance_suite() -> Result<(), StorageError> {
    Suite::test_all(RocksBuilder)?;
    Ok(())
}
