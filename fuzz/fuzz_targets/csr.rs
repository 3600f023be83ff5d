//! A leaf CSR as the sign endpoint receives it: arbitrary PEM text checked
//! against a leaf policy (PEM decoding, DER, the SPIFFE URI, the key).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tessera_mesh::connect::ca::{validate_csr, LeafPolicy};
use tessera_mesh::connect::spiffe::TrustDomain;

fuzz_target!(|pem: &str| {
    let policy = LeafPolicy {
        trust_domain: TrustDomain::for_cluster("11111111-2222-3333-4444-555555555555"),
        datacenter: "dc1".into(),
        ttl: Duration::from_secs(3 * 24 * 3600),
    };
    let _ = validate_csr(pem, &policy);
});
