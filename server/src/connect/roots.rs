//! The public view of the CA roots (no private keys), as agents, proxies
//! and the roots endpoints see them.

use tessera_proto::v1::CaRoot;
use tessera_proto::v1::CaRoots;

use crate::connect::ca::trust_domain;
use crate::consensus::Server;
use crate::consensus::ServerError;
use tessera_store::ca::CaState;
use tessera_store::Table;

pub fn public(state: &CaState, trust_domain: &str, index: u64) -> CaRoots {
    let roots = state
        .roots
        .iter()
        .map(|r| CaRoot {
            id: r.root.id.clone(),
            name: r.root.name.clone(),
            serial: r.root.serial.clone(),
            signing_key_id: r.root.signing_key_id.clone(),
            not_before: r.root.not_before,
            not_after: r.root.not_after,
            cert_pem: r.root.cert_pem.clone(),
            intermediate_pems: r.intermediate_pems.clone(),
            active: r.active,
            create_index: r.create_index,
            modify_index: r.modify_index,
        })
        .collect();
    CaRoots {
        index,
        trust_domain: trust_domain.to_string(),
        active_root_id: state.active().map(|r| r.root.id.clone()).unwrap_or_default(),
        roots,
        reissue_spread_ms: state.config().reissue_spread().as_millis() as u64,
    }
}

/// The roots as this server has them now; None before the CA has a root.
pub fn current(server: &Server) -> Result<Option<CaRoots>, ServerError> {
    let read = server.store.read(Table::Roots, |view| view.ca_state())?;
    if read.value.roots.is_empty() {
        return Ok(None);
    }
    Ok(Some(public(&read.value, trust_domain(server)?.as_str(), read.index)))
}
