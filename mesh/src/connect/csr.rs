//! The key and certificate signing request a workload makes for itself.
//! The private key is generated where it will be used and never leaves
//! it: only the CSR travels to the servers, whose CA ([`super::ca`]) takes
//! nothing from it but the public key and the one URI SAN.

use rcgen::CertificateParams;
use rcgen::KeyPair;

use super::ca::common_name;
use super::ca::uri_san;
use super::ca::CaError;
use super::spiffe::ServiceIdentity;

/// A fresh leaf key and the CSR that asks for its certificate.
pub struct LeafKey {
    /// PKCS#8 PEM; stays with the workload.
    pub key_pem: String,
    /// PKCS#10 PEM; what is sent to the CA.
    pub csr_pem: String,
}

/// An EC P-256 key and a PKCS#10 CSR for `identity`: CN = service name and
/// exactly one SAN, the URI `identity.uri()`. No other extensions are
/// requested, since the CA refuses anything but that one URI SAN.
pub fn leaf_request(identity: &ServiceIdentity) -> Result<LeafKey, CaError> {
    let key = KeyPair::generate().map_err(|e| CaError::Build { what: "leaf key".into(), reason: e.to_string() })?;
    let csr = request_params(identity)?
        .serialize_request(&key)
        .and_then(|csr| csr.pem())
        .map_err(|e| CaError::Build { what: format!("CSR for {identity}"), reason: e.to_string() })?;
    Ok(LeafKey { key_pem: key.serialize_pem(), csr_pem: csr })
}

/// An EC P-256 key and a CSR for a client agent's own certificate
/// (auto_encrypt): the CA sets the names, so only the key matters; CN is
/// the node.
pub fn agent_request(node: &str) -> Result<LeafKey, CaError> {
    let build = |e: rcgen::Error| CaError::Build { what: format!("agent CSR for {node}"), reason: e.to_string() };
    let key = KeyPair::generate().map_err(build)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(node);
    let csr = params.serialize_request(&key).and_then(|csr| csr.pem()).map_err(build)?;
    Ok(LeafKey { key_pem: key.serialize_pem(), csr_pem: csr })
}

fn request_params(identity: &ServiceIdentity) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&identity.service);
    params.subject_alt_names = vec![uri_san("identity", identity.uri())?];
    Ok(params)
}

#[cfg(test)]
mod tests {
    use x509_parser::certification_request::X509CertificationRequest;
    use x509_parser::extensions::GeneralName;
    use x509_parser::extensions::ParsedExtension;
    use x509_parser::prelude::FromDer;

    use super::*;
    use crate::connect::spiffe::TrustDomain;

    #[test]
    fn the_csr_names_the_service_and_carries_only_its_uri() {
        let identity = ServiceIdentity::new(&TrustDomain::for_cluster("c1"), "dc1", "web");
        let leaf = leaf_request(&identity).unwrap();
        assert!(leaf.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));

        let (_, pem) = x509_parser::pem::parse_x509_pem(leaf.csr_pem.as_bytes()).unwrap();
        assert_eq!(pem.label, "CERTIFICATE REQUEST");
        let (_, csr) = X509CertificationRequest::from_der(&pem.contents).unwrap();
        csr.verify_signature().unwrap();
        let info = &csr.certification_request_info;
        let cn = info.subject.iter_common_name().next().unwrap().as_str().unwrap();
        assert_eq!(cn, "web");

        let extensions: Vec<&ParsedExtension> = csr.requested_extensions().unwrap().collect();
        assert_eq!(extensions.len(), 1, "{extensions:?}");
        let ParsedExtension::SubjectAlternativeName(san) = extensions[0] else { panic!("{extensions:?}") };
        let uri = identity.uri();
        assert_eq!(san.general_names, vec![GeneralName::URI(&uri)]);
    }
}
