//! The agent CA and its certificates for the server port, as `consul tls`
//! makes them: a CA, server certificates naming `server.<dc>.<domain>`,
//! client certificates naming `client.<dc>.<domain>`, CLI certificates
//! `cli.client.<dc>.<domain>`; ECDSA P-256 keys. Used by `tessera tls` and
//! by `-dev`, which makes a CA and a server certificate in memory.

use std::net::IpAddr;

use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::DistinguishedName;
use rcgen::DnType;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::IsCa;
use rcgen::Issuer;
use rcgen::KeyPair;
use rcgen::KeyUsagePurpose;
use rcgen::SanType;
use rcgen::SerialNumber;

/// A certificate and its key, PEM.
#[derive(Debug, Clone)]
pub struct CertAndKey {
    pub cert_pem: String,
    pub key_pem: String,
}

/// What a certificate is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Client,
    Cli,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Cli => "cli",
        }
    }
}

/// What goes into an agent certificate.
#[derive(Debug, Clone)]
pub struct CertRequest<'a> {
    pub role: Role,
    pub datacenter: &'a str,
    /// Without the trailing dot (`consul`).
    pub domain: &'a str,
    pub days: u32,
    pub dns_names: &'a [String],
    pub ip_addresses: &'a [IpAddr],
    /// A node name: servers also get `<node>.server.<dc>.<domain>`.
    pub node: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AgentTlsError(String);

fn failed(what: &str, e: impl std::fmt::Display) -> AgentTlsError {
    AgentTlsError(format!("{what}: {e}"))
}

fn validity(params: &mut CertificateParams, days: u32) {
    let now = time::OffsetDateTime::now_utc();
    // A minute back, for clocks slightly behind.
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(i64::from(days));
}

fn serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    SerialNumber::from_slice(&bytes)
}

/// A new agent CA (`<domain>-agent-ca.pem`): `Tessera Agent CA <n>`.
pub fn make_ca(domain: &str, days: u32) -> Result<CertAndKey, AgentTlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| failed("CA key", e))?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("Tessera Agent CA {}", rand::random::<u32>()));
    name.push(DnType::OrganizationName, "Tessera");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(serial());
    params.subject_alt_names = vec![SanType::DnsName(domain.try_into().map_err(|e| failed("domain", e))?)];
    validity(&mut params, days);
    let cert = params.self_signed(&key).map_err(|e| failed("CA certificate", e))?;
    Ok(CertAndKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

/// A certificate of `request`'s role, signed by `ca`.
pub fn make_cert(ca: &CertAndKey, request: &CertRequest<'_>) -> Result<CertAndKey, AgentTlsError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(|e| failed("CA key", e))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(|e| failed("CA certificate", e))?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| failed("key", e))?;
    let (dc, domain) = (request.datacenter, request.domain);
    let mut dns = match request.role {
        Role::Server => vec![format!("server.{dc}.{domain}"), "localhost".to_string()],
        Role::Client => vec![format!("client.{dc}.{domain}"), "localhost".to_string()],
        Role::Cli => vec![format!("cli.client.{dc}.{domain}"), "localhost".to_string()],
    };
    if let (Role::Server, Some(node)) = (request.role, request.node) {
        dns.push(format!("{node}.server.{dc}.{domain}"));
    }
    dns.extend(request.dns_names.iter().cloned());
    let mut ips = request.ip_addresses.to_vec();
    if request.role != Role::Cli && !ips.contains(&IpAddr::from([127, 0, 0, 1])) {
        ips.insert(0, IpAddr::from([127, 0, 0, 1]));
    }
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, dns[0].clone());
    params.distinguished_name = name;
    params.serial_number = Some(serial());
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = match request.role {
        Role::Cli => vec![ExtendedKeyUsagePurpose::ClientAuth],
        Role::Server | Role::Client => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
    };
    let mut sans = Vec::new();
    for name in &dns {
        sans.push(SanType::DnsName(name.as_str().try_into().map_err(|e| failed(&format!("DNS name {name:?}"), e))?));
    }
    sans.extend(ips.into_iter().map(SanType::IpAddress));
    params.subject_alt_names = sans;
    validity(&mut params, request.days);
    let cert = params.signed_by(&key, &issuer).map_err(|e| failed("certificate", e))?;
    Ok(CertAndKey { cert_pem: cert.pem(), key_pem: key.serialize_pem() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_certificate_names_the_server_and_chains_to_its_ca() {
        let ca = make_ca("consul", 30).unwrap();
        let request = CertRequest {
            role: Role::Server,
            datacenter: "dc1",
            domain: "consul",
            days: 30,
            dns_names: &["s1.example".to_string()],
            ip_addresses: &["10.0.0.1".parse().unwrap()],
            node: Some("s1"),
        };
        let cert = make_cert(&ca, &request).unwrap();
        let der = rustls_pem(&cert.cert_pem);
        let (_, parsed) = x509_parser::parse_x509_certificate(&der).unwrap();
        let sans = parsed.subject_alternative_name().unwrap().unwrap();
        let text = format!("{:?}", sans.value.general_names);
        for name in ["server.dc1.consul", "localhost", "s1.server.dc1.consul", "s1.example"] {
            assert!(text.contains(name), "{name} in {text}");
        }
        assert!(cert.key_pem.contains("PRIVATE KEY"));
        let ca_der = rustls_pem(&ca.cert_pem);
        let (_, ca_parsed) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
        assert_eq!(parsed.issuer(), ca_parsed.subject());
        assert!(parsed.verify_signature(Some(ca_parsed.public_key())).is_ok());
    }

    fn rustls_pem(pem: &str) -> Vec<u8> {
        x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap().1.contents
    }
}
