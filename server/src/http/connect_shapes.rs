//! Consul's JSON shapes for roots, leaves, intentions and the CA
//! configuration.

use serde_json::json;
use serde_json::Value;
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

pub fn roots(roots: &CaRoots) -> Value {
    let list: Vec<Value> = roots
        .roots
        .iter()
        .map(|r| {
            json!({
                "ID": r.id,
                "Name": r.name,
                "SerialNumber": r.serial,
                "SigningKeyID": r.signing_key_id,
                "ExternalTrustDomain": roots.trust_domain.trim_end_matches(".consul"),
                "NotBefore": rfc3339(r.not_before),
                "NotAfter": rfc3339(r.not_after),
                "RootCert": r.cert_pem,
                "IntermediateCerts": r.intermediate_pems,
                "Active": r.active,
                "PrivateKeyType": "ec",
                "PrivateKeyBits": key_bits(&r.cert_pem),
                "CreateIndex": r.create_index,
                "ModifyIndex": r.modify_index,
            })
        })
        .collect();
    json!({"ActiveRootID": roots.active_root_id, "TrustDomain": roots.trust_domain, "Roots": list})
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

pub fn leaf(leaf: &LeafView) -> Value {
    json!({
        "SerialNumber": leaf.serial,
        "CertPEM": leaf.cert_pem,
        "PrivateKeyPEM": leaf.private_key_pem,
        "Service": leaf.service,
        "ServiceURI": leaf.service_uri,
        "ValidAfter": rfc3339(leaf.valid_after),
        "ValidBefore": rfc3339(leaf.valid_before),
        "Namespace": "default",
        "CreateIndex": leaf.create_index,
        "ModifyIndex": leaf.modify_index,
    })
}

pub fn intention(i: &Intention) -> Value {
    json!({
        "ID": i.id,
        "Description": i.description,
        "SourceNS": "default",
        "SourceName": i.source,
        "DestinationNS": "default",
        "DestinationName": i.destination,
        "SourceType": "consul",
        "Action": i.action.to_string(),
        "Meta": i.meta,
        "Precedence": i.precedence(),
        "CreateIndex": i.create_index,
        "ModifyIndex": i.modify_index,
    })
}

pub fn ca_config(config: &CaConfig, create_index: u64, modify_index: u64) -> Value {
    json!({
        "Provider": "consul",
        "Config": {
            "LeafCertTTL": config.leaf_cert_ttl,
            "RootCertTTL": config.root_cert_ttl,
            "IntermediateCertTTL": config.intermediate_cert_ttl,
            "PrivateKeyType": config.private_key_type,
            "PrivateKeyBits": config.private_key_bits,
            "CSRMaxPerSecond": config.csr_max_per_second,
            "LeafReissueSpread": config.leaf_reissue_spread,
        },
        "State": null,
        "ForceWithoutCrossSigning": false,
        "CreateIndex": create_index,
        "ModifyIndex": modify_index,
    })
}
