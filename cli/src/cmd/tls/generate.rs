//! The certificate work behind `tessera tls`: the agent CA and its
//! certificates come from `tessera_mesh::agent_tls` (which `-dev` uses
//! too); here each new certificate is checked to chain to the CA for its
//! name before any file is written, as Consul checks.

use std::sync::Arc;

use anyhow::anyhow;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::ServerName;
use rustls_pki_types::UnixTime;
pub use tessera_mesh::agent_tls::file_prefix;
pub use tessera_mesh::agent_tls::names;
pub use tessera_mesh::agent_tls::CaOptions;
pub use tessera_mesh::agent_tls::CertOptions;
pub use tessera_mesh::agent_tls::Issued;
pub use tessera_mesh::agent_tls::Kind;

pub fn ca(opts: &CaOptions) -> anyhow::Result<Issued> {
    Ok(tessera_mesh::agent_tls::ca(opts)?)
}

/// A new certificate signed by the CA, verified against it.
pub fn cert(opts: &CertOptions, ca_pem: &str, ca_key_pem: &str) -> anyhow::Result<Issued> {
    let issued = tessera_mesh::agent_tls::cert(opts, ca_pem, ca_key_pem)?;
    let der =
        CertificateDer::from_pem_slice(issued.cert.as_bytes()).map_err(|e| anyhow!("the new certificate: {e}"))?;
    verify(ca_pem, &der, &names(opts).common_name)?;
    Ok(issued)
}
/// The new certificate must chain to the CA and hold its common name as a
/// DNS name: a CA whose name constraints forbid it is caught here, before
/// any file is written.
fn verify(ca_pem: &str, cert: &CertificateDer<'_>, name: &str) -> anyhow::Result<()> {
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(ca.map_err(|e| anyhow!("failed to parse root certificate: {e}"))?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
    let server_name = ServerName::try_from(name.to_string())?;
    verifier
        .verify_server_cert(cert, &[], &server_name, &[], UnixTime::now())
        .map_err(|e| anyhow!("the new certificate does not verify against the CA: {e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn opts(kind: Kind) -> CertOptions {
        CertOptions {
            kind,
            dc: "dc1".into(),
            domain: "consul".into(),
            days: 365,
            node: None,
            additional_dns: vec!["extra.example".into()],
            additional_ips: vec![IpAddr::from([10, 0, 0, 1])],
        }
    }

    fn new_ca(permitted_dns: Vec<String>) -> Issued {
        ca(&CaOptions { days: 10, domain: "consul".into(), common_name: None, permitted_dns, cluster_id: None })
            .unwrap()
    }

    #[test]
    fn name_constraints_refuse_names_outside_them() {
        let ca = new_ca(vec!["consul".into(), "localhost".into()]);
        assert!(cert(&opts(Kind::Cli), &ca.cert, &ca.key).is_ok());
        // extra.example is outside the constraints.
        let err = cert(&opts(Kind::Client), &ca.cert, &ca.key).err().unwrap();
        assert!(err.to_string().contains("does not verify against the CA"), "{err}");
    }
}
