//! Autopilot's configuration: one row in [`Cf::SmMeta`] under
//! `autopilot_config`, beside the cluster id (cluster settings, not catalog,
//! KV or Connect data). No table index moves with it: nothing blocks on it,
//! as in Consul.

use crate::autopilot::AutopilotConfig;
use crate::autopilot::AutopilotRow;
use crate::engine::Reads;
use crate::engine::StoreError;
use crate::keys::sm_meta;
use crate::keys::Cf;
use crate::txn::Txn;

use super::decode;
use super::encode;

/// The stored row: (config, create index, modify index).
type Stored = (AutopilotConfig, u64, u64);

fn row(bytes: Option<Vec<u8>>) -> Result<AutopilotRow, StoreError> {
    Ok(match bytes.map(|b| decode::<Stored>(&b, "autopilot config")).transpose()? {
        Some((config, create_index, modify_index)) => AutopilotRow { config, create_index, modify_index },
        None => AutopilotRow::default(),
    })
}

/// The configuration in effect (Consul's defaults until one is set).
pub fn config(engine: &impl Reads) -> Result<AutopilotRow, StoreError> {
    row(engine.get(Cf::SmMeta, sm_meta::AUTOPILOT_CONFIG)?)
}

/// Replaces the configuration; with `cas`, only if its modify index is
/// still `cas` (0 while none was ever set), answering whether it did.
pub fn set_config(
    txn: &mut Txn<'_>,
    index: u64,
    config: &AutopilotConfig,
    cas: Option<u64>,
) -> Result<bool, StoreError> {
    let existing = row(txn.get(Cf::SmMeta, sm_meta::AUTOPILOT_CONFIG)?)?;
    if cas.is_some_and(|cas| cas != existing.modify_index) {
        return Ok(false);
    }
    let create_index = if existing.create_index == 0 { index } else { existing.create_index };
    txn.put(Cf::SmMeta, sm_meta::AUTOPILOT_CONFIG, encode(&(config, create_index, index)));
    Ok(true)
}
