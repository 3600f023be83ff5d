//! The agent CA for TLS on the server port (not the Connect CA) and the
//! server, client and CLI certificates it signs, with the names, key usages
//! and lifetimes Consul's `tls` commands give them: behind `tessera tls`,
//! and what `-dev` makes in memory. Pure: keys and PEM text in, PEM text
//! out; no files.

use std::net::IpAddr;

use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::DnType;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::GeneralSubtree;
use rcgen::IsCa;
use rcgen::Issuer;
use rcgen::KeyPair;
use rcgen::KeyUsagePurpose;
use rcgen::NameConstraints;
use rcgen::SanType;
use rcgen::SerialNumber;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::PrivatePkcs8KeyDer;
use time::Duration;
use time::OffsetDateTime;

/// A certificate and its private key, both PEM.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AgentTlsError(String);

fn fail(message: impl Into<String>) -> AgentTlsError {
    AgentTlsError(message.into())
}

type Result<T> = std::result::Result<T, AgentTlsError>;

#[derive(Debug, Clone)]
pub struct Issued {
    pub cert: String,
    pub key: String,
}

/// What `tls ca create` was asked for.
pub struct CaOptions {
    pub days: u32,
    pub domain: String,
    /// The subject's common name; `Tessera Agent CA <serial>` when absent.
    pub common_name: Option<String>,
    /// With `-name-constraint`: the only DNS names the CA may sign for.
    pub permitted_dns: Vec<String>,
    /// With `-cluster-id`: the CA's SPIFFE signing URI.
    pub cluster_id: Option<String>,
}

/// Which kind of certificate `tls cert create` makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Server,
    Client,
    Cli,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::Client => "client",
            Kind::Cli => "cli",
        }
    }
}

/// What `tls cert create` was asked for.
pub struct CertOptions {
    pub kind: Kind,
    pub dc: String,
    pub domain: String,
    pub days: u32,
    pub node: Option<String>,
    pub additional_dns: Vec<String>,
    pub additional_ips: Vec<IpAddr>,
}

/// The subject and alternative names of a certificate.
#[derive(Debug, PartialEq, Eq)]
pub struct Names {
    pub common_name: String,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
}

/// The names Consul puts in each kind, in its order: the additional ones
/// first, then the node's name (servers), the kind's own name and
/// `localhost`; `127.0.0.1` last. A CLI certificate only ever claims its own
/// name and `localhost`: it is a client identity, not a host's.
pub fn names(opts: &CertOptions) -> Names {
    let common_name = format!("{}.{}.{}", opts.kind.label(), opts.dc, opts.domain);
    let mut dns: Vec<String> = opts.additional_dns.clone();
    let mut ips = opts.additional_ips.clone();
    let loopback = IpAddr::from([127, 0, 0, 1]);
    match opts.kind {
        Kind::Server => {
            if let Some(node) = &opts.node {
                dns.push(format!("{node}.server.{}.{}", opts.dc, opts.domain));
            }
            dns.extend([common_name.clone(), "localhost".to_string()]);
            ips.push(loopback);
        }
        Kind::Client => {
            // Tessera's: a client certificate may name its node, which the
            // servers then hold it to (as auto_encrypt's certificates).
            if let Some(node) = &opts.node {
                dns.push(format!("{node}.client.{}.{}", opts.dc, opts.domain));
            }
            dns.extend([common_name.clone(), "localhost".to_string()]);
            ips.push(loopback);
        }
        Kind::Cli => dns = vec![common_name.clone(), "localhost".to_string()],
    }
    Names { common_name, dns, ips }
}

/// The file name stem for a kind: `<dc>-<kind>-<domain>`, to which
/// `-<n>.pem` and `-<n>-key.pem` are added.
pub fn file_prefix(kind: Kind, dc: &str, domain: &str) -> String {
    format!("{dc}-{}-{domain}", kind.label())
}

/// A new CA: EC P-256, self-signed, valid from now for `days`.
pub fn ca(opts: &CaOptions) -> Result<Issued> {
    let key = new_key()?;
    let serial: u128 = rand::random();
    let mut params = CertificateParams::default();
    let common_name = opts.common_name.clone().unwrap_or_else(|| format!("Tessera Agent CA {serial}"));
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::OrganizationName, "Tessera");
    params.distinguished_name.push(DnType::CommonName, common_name);
    params.serial_number = Some(SerialNumber::from(serial.to_be_bytes().to_vec()));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    (params.not_before, params.not_after) = validity(opts.days);
    if !opts.permitted_dns.is_empty() {
        params.name_constraints = Some(NameConstraints {
            permitted_subtrees: opts.permitted_dns.iter().map(|d| GeneralSubtree::DnsName(d.clone())).collect(),
            excluded_subtrees: Vec::new(),
        });
    }
    if let Some(id) = &opts.cluster_id {
        let uri = format!("spiffe://{id}.{}", opts.domain);
        let uri = uri.as_str().try_into().map_err(|e| fail(format!("the cluster id: {e}")))?;
        params.subject_alt_names.push(SanType::URI(uri));
    }
    let cert = params.self_signed(&key).map_err(|e| fail(format!("error generating CA certificate: {e}")))?;
    Ok(Issued { cert: cert.pem(), key: key.serialize_pem() })
}

/// A new leaf signed by the CA (`ca_pem`, `ca_key_pem`). The CLI checks it
/// chains to the CA for its common name before writing it, as Consul does.
pub fn cert(opts: &CertOptions, ca_pem: &str, ca_key_pem: &str) -> Result<Issued> {
    let ca_key = parse_signing_key(ca_key_pem)?;
    let issuer = Issuer::from_ca_cert_pem(ca_pem, ca_key).map_err(|e| fail(format!("failed to parse CA: {e}")))?;
    let names = names(opts);
    let key = new_key()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, names.common_name.clone());
    params.serial_number = Some(SerialNumber::from(rand::random::<u128>().to_be_bytes().to_vec()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = extended_key_usages(opts.kind);
    params.use_authority_key_identifier_extension = true;
    (params.not_before, params.not_after) = validity(opts.days);
    for name in &names.dns {
        let dns = name.as_str().try_into().map_err(|e| fail(format!("invalid DNS name {name:?}: {e}")))?;
        params.subject_alt_names.push(SanType::DnsName(dns));
    }
    params.subject_alt_names.extend(names.ips.iter().copied().map(SanType::IpAddress));
    let cert = params.signed_by(&key, &issuer).map_err(|e| fail(format!("failed to create certificate: {e}")))?;
    Ok(Issued { cert: cert.pem(), key: key.serialize_pem() })
}

/// Consul's: servers ServerAuth then ClientAuth, clients the other way
/// round, CLI certificates none (any use is then allowed).
fn extended_key_usages(kind: Kind) -> Vec<ExtendedKeyUsagePurpose> {
    match kind {
        Kind::Server => vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth],
        Kind::Client => vec![ExtendedKeyUsagePurpose::ClientAuth, ExtendedKeyUsagePurpose::ServerAuth],
        Kind::Cli => Vec::new(),
    }
}

fn new_key() -> Result<KeyPair> {
    KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(|e| fail(format!("error generating private key: {e}")))
}

/// Valid from now, as Consul's are (no backdating), for `days` days.
fn validity(days: u32) -> (OffsetDateTime, OffsetDateTime) {
    let now = OffsetDateTime::now_utc();
    (now, now + Duration::days(i64::from(days)))
}

/// The CA's signing key from PEM: PKCS#8 (what Tessera writes) or SEC1
/// `EC PRIVATE KEY` (what Consul writes), so a CA made by either signs.
fn parse_signing_key(pem: &str) -> Result<KeyPair> {
    // The key text itself never goes into an error.
    let der =
        PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| fail(format!("failed to parse CA key: {e}")))?;
    let pkcs8 = match der {
        PrivateKeyDer::Sec1(sec1) => PrivatePkcs8KeyDer::from(sec1_p256_to_pkcs8(sec1.secret_sec1_der())),
        PrivateKeyDer::Pkcs8(pkcs8) => pkcs8,
        _ => return Err(fail("failed to parse CA key: only EC and PKCS#8 keys are supported")),
    };
    KeyPair::try_from(&pkcs8).map_err(|e| fail(format!("failed to parse CA key: {e}")))
}

/// Wraps a SEC1 P-256 key in a PKCS#8 envelope (RFC 5208: version 0, the
/// id-ecPublicKey/prime256v1 algorithm, the SEC1 bytes as the key), the
/// only form ring reads.
fn sec1_p256_to_pkcs8(sec1: &[u8]) -> Vec<u8> {
    const VERSION_0: &[u8] = &[0x02, 0x01, 0x00];
    const EC_P256_ALGORITHM: &[u8] = &[
        0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d,
        0x03, 0x01, 0x07,
    ];
    let mut body = [VERSION_0, EC_P256_ALGORITHM].concat();
    body.extend(der_tlv(0x04, sec1));
    der_tlv(0x30, &body)
}

/// One DER tag-length-value (definite lengths up to 64 KiB).
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    match len {
        0..=0x7f => out.push(len as u8),
        0x80..=0xff => out.extend([0x81, len as u8]),
        _ => out.extend([0x82, (len >> 8) as u8, len as u8]),
    }
    out.extend_from_slice(content);
    out
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn each_kind_has_consuls_names_in_consuls_order() {
        let mut server = opts(Kind::Server);
        server.node = Some("n1".into());
        assert_eq!(
            names(&server),
            Names {
                common_name: "server.dc1.consul".into(),
                dns: vec![
                    "extra.example".into(),
                    "n1.server.dc1.consul".into(),
                    "server.dc1.consul".into(),
                    "localhost".into()
                ],
                ips: vec![IpAddr::from([10, 0, 0, 1]), IpAddr::from([127, 0, 0, 1])],
            }
        );
        let client = names(&opts(Kind::Client));
        assert_eq!(client.dns, ["extra.example", "client.dc1.consul", "localhost"]);
        assert_eq!(client.ips, [IpAddr::from([10, 0, 0, 1]), IpAddr::from([127, 0, 0, 1])]);
        let cli = names(&opts(Kind::Cli));
        assert_eq!(cli.common_name, "cli.dc1.consul");
        assert_eq!(cli.dns, ["cli.dc1.consul", "localhost"]);
        assert_eq!(cli.ips, [IpAddr::from([10, 0, 0, 1])]);
        assert_eq!(file_prefix(Kind::Cli, "dc2", "nomad"), "dc2-cli-nomad");
    }

    fn new_ca(permitted_dns: Vec<String>) -> Issued {
        ca(&CaOptions { days: 10, domain: "consul".into(), common_name: None, permitted_dns, cluster_id: None })
            .unwrap()
    }

    #[test]
    fn a_leaf_chains_to_its_ca() {
        let ca = new_ca(Vec::new());
        let leaf = cert(&opts(Kind::Server), &ca.cert, &ca.key).unwrap();
        assert!(leaf.cert.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(leaf.key.starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn a_sec1_ca_key_signs_too() {
        // The same P-256 key as SEC1: the private scalar and public point
        // taken back out of the PKCS#8 document ring wrote.
        let ca = new_ca(Vec::new());
        let pkcs8 = PrivateKeyDer::from_pem_slice(ca.key.as_bytes()).unwrap();
        let PrivateKeyDer::Pkcs8(pkcs8) = pkcs8 else { panic!("not PKCS#8") };
        let der = pkcs8.secret_pkcs8_der();
        // SEQUENCE (3-byte header), version (3), algorithm (21), then the
        // OCTET STRING holding the SEC1 key.
        let at = 3 + 3 + 21;
        assert_eq!(der[at], 0x04);
        let sec1 = &der[at + 2..at + 2 + usize::from(der[at + 1])];
        let sec1_pem = format!(
            "-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, sec1)
        );
        assert!(cert(&opts(Kind::Cli), &ca.cert, &sec1_pem).is_ok());
    }

    #[test]
    fn der_lengths_use_the_long_form_past_127() {
        assert_eq!(der_tlv(0x04, &[7; 3])[..2], [0x04, 3]);
        assert_eq!(der_tlv(0x04, &[7; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(der_tlv(0x04, &[7; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}
