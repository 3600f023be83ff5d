//! The Connect table, in [`Cf::Connect`]:
//!
//! - `ca/config`: the CA configuration, with its indexes
//! - `ca/root/<id>`: a root CA ([`StoredRoot`])
//! - `intention/<source>\0<destination>`: an intention
//!
//! Roots and configuration move [`Table::Roots`]; intentions move
//! [`Table::Intentions`], so proxies watching one are not woken by the other.

use tessera_mesh::connect::ca::RootCa;
use tessera_mesh::connect::Intention;

use crate::ca::CaConfig;
use crate::ca::CaState;
use crate::ca::StoredRoot;
use crate::engine::Reads;
use crate::engine::StoreError;
use crate::keys::Cf;
use crate::tables::meta;
use crate::txn::Txn;
use crate::watch::Table;

use super::decode;
use super::encode;

const CONFIG_KEY: &[u8] = b"ca/config";
const ROOT_PREFIX: &str = "ca/root/";
const INTENTION_PREFIX: &str = "intention/";

fn root_key(id: &str) -> Vec<u8> {
    format!("{ROOT_PREFIX}{id}").into_bytes()
}

fn intention_key(source: &str, destination: &str) -> Vec<u8> {
    format!("{INTENTION_PREFIX}{source}\0{destination}").into_bytes()
}

type ConfigRow = (CaConfig, u64, u64);

// ---- CA ----

pub fn ca_state(engine: &impl Reads) -> Result<CaState, StoreError> {
    let config = engine.get(Cf::Connect, CONFIG_KEY)?.map(|b| decode::<ConfigRow>(&b, "CA config")).transpose()?;
    let roots = engine
        .scan_prefix(Cf::Connect, ROOT_PREFIX.as_bytes())?
        .iter()
        .map(|(_, v)| decode::<StoredRoot>(v, "CA root"))
        .collect::<Result<_, _>>()?;
    Ok(CaState { config, roots })
}

fn roots_in(txn: &Txn<'_>) -> Result<Vec<StoredRoot>, StoreError> {
    txn.scan_prefix(Cf::Connect, ROOT_PREFIX.as_bytes())?.iter().map(|(_, v)| decode(v, "CA root")).collect()
}

fn put_config(txn: &mut Txn<'_>, index: u64, config: &CaConfig) -> Result<(), StoreError> {
    let existing = txn.get(Cf::Connect, CONFIG_KEY)?.map(|b| decode::<ConfigRow>(&b, "CA config")).transpose()?;
    let create_index = existing.map_or(index, |(_, create, _)| create);
    txn.put(Cf::Connect, CONFIG_KEY, encode(&(config, create_index, index)));
    Ok(())
}

fn put_root(txn: &mut Txn<'_>, root: &StoredRoot) {
    txn.put(Cf::Connect, root_key(&root.root.id), encode(root));
}

/// The first root, if the CA has none yet; false if it already has one.
pub fn initialize(txn: &mut Txn<'_>, index: u64, config: &CaConfig, root: &RootCa) -> Result<bool, StoreError> {
    if !roots_in(txn)?.is_empty() {
        return Ok(false);
    }
    put_config(txn, index, config)?;
    let stored = StoredRoot {
        root: root.clone(),
        active: true,
        intermediate_pems: vec![],
        rotated_out_at: None,
        create_index: index,
        modify_index: index,
    };
    put_root(txn, &stored);
    meta::bump_table_index(txn, Table::Roots, index);
    Ok(true)
}

/// Makes `new_root` the active root if `expect_active` still is; the old
/// one stays trusted (inactive) until pruned.
pub fn rotate(
    txn: &mut Txn<'_>,
    index: u64,
    expect_active: &str,
    config: &CaConfig,
    new_root: &RootCa,
    cross_signed_pem: &str,
    now: u64,
) -> Result<bool, StoreError> {
    let roots = roots_in(txn)?;
    if !roots.iter().any(|r| r.active && r.root.id == expect_active) {
        return Ok(false);
    }
    for mut old in roots.into_iter().filter(|r| r.active) {
        old.active = false;
        old.rotated_out_at = Some(now);
        old.modify_index = index;
        put_root(txn, &old);
    }
    let stored = StoredRoot {
        root: new_root.clone(),
        active: true,
        intermediate_pems: vec![cross_signed_pem.to_string()],
        rotated_out_at: None,
        create_index: index,
        modify_index: index,
    };
    put_root(txn, &stored);
    put_config(txn, index, config)?;
    meta::bump_table_index(txn, Table::Roots, index);
    Ok(true)
}

pub fn set_config(txn: &mut Txn<'_>, index: u64, config: &CaConfig) -> Result<(), StoreError> {
    put_config(txn, index, config)?;
    meta::bump_table_index(txn, Table::Roots, index);
    Ok(())
}

/// Removes inactive roots; the active one is never removed.
pub fn prune_roots(txn: &mut Txn<'_>, index: u64, ids: &[String]) -> Result<bool, StoreError> {
    let mut pruned = false;
    for root in roots_in(txn)?.into_iter().filter(|r| !r.active && ids.contains(&r.root.id)) {
        txn.delete(Cf::Connect, root_key(&root.root.id));
        pruned = true;
    }
    if pruned {
        meta::bump_table_index(txn, Table::Roots, index);
    }
    Ok(pruned)
}

// ---- Intentions ----

pub fn intentions(engine: &impl Reads) -> Result<Vec<Intention>, StoreError> {
    engine.scan_prefix(Cf::Connect, INTENTION_PREFIX.as_bytes())?.iter().map(|(_, v)| decode(v, "intention")).collect()
}

pub fn intention(engine: &impl Reads, source: &str, destination: &str) -> Result<Option<Intention>, StoreError> {
    engine.get(Cf::Connect, &intention_key(source, destination))?.map(|b| decode(&b, "intention")).transpose()
}

/// Creates the pair's intention, or with `replace` overwrites it (keeping its
/// id and create index). False: it exists and `replace` was not given.
pub fn upsert_intention(
    txn: &mut Txn<'_>,
    index: u64,
    intention: &Intention,
    replace: bool,
) -> Result<bool, StoreError> {
    let k = intention_key(&intention.source, &intention.destination);
    let existing: Option<Intention> = txn.get(Cf::Connect, &k)?.map(|b| decode(&b, "intention")).transpose()?;
    let mut row = intention.clone();
    match existing {
        Some(_) if !replace => return Ok(false),
        Some(old) => {
            row.id = old.id;
            row.create_index = old.create_index;
        }
        None => row.create_index = index,
    }
    row.modify_index = index;
    txn.put(Cf::Connect, k, encode(&row));
    meta::bump_table_index(txn, Table::Intentions, index);
    Ok(true)
}

/// Deletes the pair's intention; false if there was none.
pub fn delete_intention(txn: &mut Txn<'_>, index: u64, source: &str, destination: &str) -> Result<bool, StoreError> {
    let k = intention_key(source, destination);
    if txn.get(Cf::Connect, &k)?.is_none() {
        return Ok(false);
    }
    txn.delete(Cf::Connect, k);
    meta::bump_table_index(txn, Table::Intentions, index);
    Ok(true)
}
