//! Consul's answers for roots, leaves, intentions and the CA
//! configuration (`tessera_mesh::api::connect`), from what the server and
//! the agent hold.

use tessera_mesh::api::connect::CaConfiguration;
use tessera_mesh::api::connect::CaProviderConfig;
use tessera_mesh::api::connect::CaRoot;
use tessera_mesh::api::connect::CaRootList;
use tessera_mesh::api::connect::Intention as IntentionJson;
use tessera_mesh::api::connect::LeafCert;
use tessera_mesh::connect::Intention;
use tessera_proto::v1::CaRoots;

use crate::agent::connect::leaf::LeafView;
use tessera_store::ca::CaConfig;

/// Unix seconds as RFC 3339, as Consul prints certificate times.
pub fn rfc3339(unix: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// The root key's size, read from its certificate (all roots are EC).
fn key_bits(cert_pem: &str) -> u32 {
    tessera_mesh::connect::ca::cert_info(cert_pem).map_or(256, |info| info.key_bits)
}

pub fn roots(roots: &CaRoots) -> CaRootList {
    let list = roots
        .roots
        .iter()
        .map(|r| CaRoot {
            id: r.id.clone(),
            name: r.name.clone(),
            serial_number: r.serial.clone(),
            signing_key_id: r.signing_key_id.clone(),
            external_trust_domain: roots.trust_domain.trim_end_matches(".consul").to_string(),
            not_before: rfc3339(r.not_before),
            not_after: rfc3339(r.not_after),
            root_cert: r.cert_pem.clone(),
            intermediate_certs: r.intermediate_pems.clone(),
            active: r.active,
            private_key_type: "ec".to_string(),
            private_key_bits: key_bits(&r.cert_pem),
            create_index: r.create_index,
            modify_index: r.modify_index,
        })
        .collect();
    CaRootList { active_root_id: roots.active_root_id.clone(), trust_domain: roots.trust_domain.clone(), roots: list }
}

/// `?pem=true`: every trusted root and intermediate, concatenated.
pub fn roots_pem(roots: &CaRoots) -> String {
    let mut out = String::new();
    for root in &roots.roots {
        out.push_str(&root.cert_pem);
        for intermediate in &root.intermediate_pems {
            out.push_str(intermediate);
        }
    }
    out
}

pub fn leaf(leaf: &LeafView) -> LeafCert {
    LeafCert {
        serial_number: leaf.serial.clone(),
        cert_pem: leaf.cert_pem.clone(),
        private_key_pem: leaf.private_key_pem.clone(),
        service: leaf.service.clone(),
        service_uri: leaf.service_uri.clone(),
        valid_after: rfc3339(leaf.valid_after),
        valid_before: rfc3339(leaf.valid_before),
        namespace: "default".to_string(),
        create_index: leaf.create_index,
        modify_index: leaf.modify_index,
    }
}

pub fn intention(i: &Intention) -> IntentionJson {
    IntentionJson::from(i)
}

pub fn ca_config(config: &CaConfig, create_index: u64, modify_index: u64) -> CaConfiguration {
    CaConfiguration {
        provider: "consul".to_string(),
        config: CaProviderConfig {
            csr_max_per_second: config.csr_max_per_second,
            intermediate_cert_ttl: config.intermediate_cert_ttl.clone(),
            leaf_cert_ttl: config.leaf_cert_ttl.clone(),
            leaf_reissue_spread: config.leaf_reissue_spread.clone(),
            private_key_bits: config.private_key_bits,
            private_key_type: config.private_key_type.clone(),
            root_cert_ttl: config.root_cert_ttl.clone(),
        },
        state: None,
        force_without_cross_signing: false,
        create_index,
        modify_index,
    }
}
