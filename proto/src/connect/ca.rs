//! The built-in certificate authority: root generation, cross-signing for
//! root rotation, CSR validation and leaf signing. Pure and I/O-free, so the
//! Raft leader can call it inside its apply path and tests can call it
//! directly. Leaves are built from the server's [`LeafPolicy`], never from
//! what a CSR asks for: only the CSR's public key and its single SPIFFE URI
//! are taken from it.

use std::time::Duration;
use std::time::SystemTime;
use std::time::UNIX_EPOCH;

use rcgen::string::Ia5String;
use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::CertificateSigningRequestParams;
use rcgen::DistinguishedName;
use rcgen::DnType;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::IsCa;
use rcgen::Issuer;
use rcgen::KeyIdMethod;
use rcgen::KeyPair;
use rcgen::KeyUsagePurpose;
use rcgen::PublicKeyData;
use rcgen::SanType;
use rcgen::SerialNumber;
use rcgen::SubjectPublicKeyInfo;
use serde::Deserialize;
use serde::Serialize;
use sha1::Digest;
use sha1::Sha1;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::GeneralName;
use x509_parser::extensions::ParsedExtension;
use x509_parser::pem::parse_x509_pem;
use x509_parser::prelude::FromDer;

use super::spiffe::ServiceIdentity;
use super::spiffe::TrustDomain;

/// How far certificates are backdated, so that a peer whose clock is a
/// little behind the issuer's already accepts a certificate fresh off it.
const BACKDATE: Duration = Duration::from_secs(60);

/// Serial numbers are this many random bytes (RFC 5280 allows up to 20).
const SERIAL_LEN: usize = 16;

const CERT_LABEL: &str = "CERTIFICATE";
const CSR_LABELS: [&str; 2] = ["CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST"];

/// Failures of the CA's own material: keys, root and cross certificates.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("{what}: unusable private key: {reason}")]
    Key { what: String, reason: String },
    #[error("{what}: unusable certificate: {reason}")]
    Cert { what: String, reason: String },
    #[error("{field} = {value:?}: {reason}")]
    Invalid { field: &'static str, value: String, reason: String },
    #[error("building {what} failed: {reason}")]
    Build { what: String, reason: String },
}

/// Why a CSR was refused (or, for [`CsrError::Signing`], why an accepted
/// one could not be signed). Nothing is signed when any of these occur.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsrError {
    #[error("CSR is unparseable or its signature does not verify: {0}")]
    Unparseable(String),
    #[error("CSR has no URI SAN; a leaf carries exactly one (its service identity)")]
    NoUri,
    #[error("CSR has {0} URI SANs; a leaf carries exactly one")]
    TooManyUris(usize),
    #[error("CSR requests a non-URI SAN ({0}); a leaf carries exactly one URI SAN and nothing else")]
    OtherSan(String),
    #[error(
        "CSR URI {0:?} is not a service identity (spiffe://<trust-domain>/ns/<namespace>/dc/<datacenter>/svc/<name>)"
    )]
    NotServiceIdentity(String),
    #[error("CSR identity is in trust domain {got:?}; this CA signs for {want:?}")]
    WrongTrustDomain { got: String, want: String },
    #[error("CSR identity is in datacenter {got:?}; this server signs for {want:?}")]
    WrongDatacenter { got: String, want: String },
    #[error("CSR requests a CA certificate (basicConstraints CA:true); only leaves are signed")]
    CaRequested,
    #[error("CSR public key cannot be carried into a certificate unchanged: {0}")]
    UnsupportedKey(String),
    #[error("signing the leaf failed: {0}")]
    Signing(String),
    /// The requester may not claim this identity (see [`Signer::sign_for`]).
    #[error("{0}")]
    NotAllowed(String),
}

/// A root CA as stored in Raft (the private key is part of replicated
/// state, as in Consul's built-in provider).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCa {
    /// Colon-separated lowercase hex SHA-1 of the certificate DER.
    pub id: String,
    /// Also the certificate's CN; must be unique per root, because leaves
    /// (and cross-signed intermediates) chain to their issuer by name.
    pub name: String,
    /// Colon hex of the certificate serial.
    pub serial: String,
    /// Colon hex of the subject key identifier.
    pub signing_key_id: String,
    /// Unix seconds.
    pub not_before: u64,
    /// Unix seconds.
    pub not_after: u64,
    pub cert_pem: String,
    /// PKCS#8 PEM.
    pub key_pem: String,
}

/// What the leader's configuration says a leaf looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafPolicy {
    pub trust_domain: TrustDomain,
    pub datacenter: String,
    pub ttl: Duration,
}

/// A leaf certificate just issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLeaf {
    pub cert_pem: String,
    /// Colon hex.
    pub serial: String,
    pub identity: ServiceIdentity,
    /// Unix seconds (the certificate's notBefore).
    pub valid_after: u64,
    /// Unix seconds (the certificate's notAfter).
    pub valid_before: u64,
}

/// What the HTTP API and tests need to know about any PEM certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Colon hex.
    pub serial: String,
    /// Unix seconds; 0 for dates before 1970.
    pub not_before: u64,
    /// Unix seconds; 0 for dates before 1970.
    pub not_after: u64,
    pub uris: Vec<String>,
    pub is_ca: bool,
    /// Empty when the name has no (UTF-8) CN.
    pub subject_cn: String,
    /// Empty when the name has no (UTF-8) CN.
    pub issuer_cn: String,
    /// Colon hex; empty when the certificate has no subject key identifier.
    pub subject_key_id: String,
    /// Size of the public key in bits (256 for P-256, 384 for P-384); 0 if unknown.
    pub key_bits: u32,
}

/// Bytes as lowercase hex pairs joined by colons (`3a:0f:…`), the form
/// Consul uses for serials, key ids and fingerprints.
pub fn colon_hex(bytes: &[u8]) -> String {
    let pairs: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    pairs.join(":")
}

// ---------------------------------------------------------------- roots

/// A self-signed root for `trust_domain`: CN = `name`, URI SAN
/// `trust_domain.uri()`, CA without a path length limit (so a cross-signed
/// copy of a later root can sit below it), valid from a minute ago for
/// `ttl`. Uses `key_pem` (PKCS#8, EC P-256 or P-384) when given, otherwise a
/// new P-256 key. No name constraints: webpki handles URI name constraints
/// poorly, and the trust domain is checked on every leaf instead.
pub fn generate_root(
    trust_domain: &TrustDomain,
    name: &str,
    key_pem: Option<&str>,
    ttl: Duration,
) -> Result<RootCa, CaError> {
    if name.trim().is_empty() {
        return Err(invalid("name", name, "a root needs a name (its CN)".into()));
    }
    let key = match key_pem {
        Some(pem) => load_ca_key("root key_pem", pem)?,
        None => KeyPair::generate().map_err(|e| build("root key", e))?,
    };
    let mut params = ca_params(name, Window::from_now(ttl))?;
    params.subject_alt_names = vec![uri_san("trust_domain", trust_domain.uri())?];
    let cert = params.self_signed(&key).map_err(|e| build(format!("root {name:?}"), e))?;
    root_record(name, cert.der(), cert.pem(), key.serialize_pem())
}

/// An intermediate that presents `new_root` (its subject, public key,
/// SANs and subject key id) as issued by `old_root` and signed with
/// `old_root`'s key. During rotation, peers that still trust only the old
/// root verify new leaves through `[leaf, cross]`; peers that trust the
/// new root verify them directly. Only `new_root`'s public key is used.
pub fn cross_sign(new_root: &RootCa, old_root: &RootCa, ttl: Duration) -> Result<String, CaError> {
    let issuer = ca_issuer("old root", old_root)?;
    let new_der = cert_der("new root", &new_root.cert_pem)?;
    let new_cert = parse_cert("new root", &new_der)?;
    let public_key =
        SubjectPublicKeyInfo::from_der(new_cert.public_key().raw).map_err(|e| cert_error("new root", e))?;
    let key_id = subject_key_id(&new_cert).ok_or_else(|| cert_error("new root", "no subject key identifier"))?;

    let mut params = ca_params(&new_root.name, Window::from_now(ttl))?;
    params.subject_alt_names = cert_uris("new root", &new_cert)?
        .into_iter()
        .map(|uri| uri_san("new root URI", uri))
        .collect::<Result<_, _>>()?;
    params.key_identifier_method = KeyIdMethod::PreSpecified(key_id.to_vec());
    params.use_authority_key_identifier_extension = true;
    let cross = params.signed_by(&public_key, &issuer).map_err(|e| build("cross-signed intermediate", e))?;

    let built = parse_cert("cross-signed intermediate", cross.der())?;
    if built.subject().as_raw() != new_cert.subject().as_raw() {
        return Err(cert_error("new root", format!("its subject is not exactly CN={}", new_root.name)));
    }
    Ok(cross.pem())
}

/// Describes a freshly built root for storage.
fn root_record(name: &str, der: &[u8], cert_pem: String, key_pem: String) -> Result<RootCa, CaError> {
    let info = describe(&parse_cert("new root", der)?)?;
    Ok(RootCa {
        id: colon_hex(&Sha1::digest(der)),
        name: name.to_string(),
        serial: info.serial,
        signing_key_id: info.subject_key_id,
        not_before: info.not_before,
        not_after: info.not_after,
        cert_pem,
        key_pem,
    })
}

/// Parameters shared by roots and cross-signed intermediates.
fn ca_params(name: &str, window: Window) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    window.apply(&mut params).map_err(|reason| invalid("ttl", &window.describe(), reason))?;
    Ok(params)
}

/// A root's key, checked to be a kind we sign with (ECDSA P-256/P-384).
fn load_ca_key(what: &str, pem: &str) -> Result<KeyPair, CaError> {
    let key = KeyPair::from_pem(pem).map_err(|e| key_error(what, e))?;
    let algorithm = key.algorithm();
    if algorithm != &rcgen::PKCS_ECDSA_P256_SHA256 && algorithm != &rcgen::PKCS_ECDSA_P384_SHA384 {
        return Err(key_error(what, format!("{algorithm:?} keys are not supported; use ECDSA P-256 or P-384")));
    }
    Ok(key)
}

/// An issuer for `root`: its key, checked against its certificate, and the
/// certificate's subject and key id, parsed once.
fn ca_issuer(what: &str, root: &RootCa) -> Result<Issuer<'static, KeyPair>, CaError> {
    let key = load_ca_key(what, &root.key_pem)?;
    let der = cert_der(what, &root.cert_pem)?;
    let cert = parse_cert(what, &der)?;
    if key.subject_public_key_info() != cert.public_key().raw {
        return Err(key_error(what, "does not belong to the root's certificate"));
    }
    if !describe(&cert)?.is_ca {
        return Err(cert_error(what, "is not a CA certificate"));
    }
    Issuer::from_ca_cert_der(&der.as_slice().into(), key).map_err(|e| cert_error(what, e))
}

// ---------------------------------------------------------------- leaves

/// Holds a parsed root key and issuer name ready to sign. Build once per
/// root and share: parsing the key dominates otherwise, and the leader
/// signs thousands of leaves per second.
#[derive(Debug)]
pub struct Signer {
    root_id: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Signer {
    pub fn new(root: &RootCa) -> Result<Signer, CaError> {
        Ok(Signer { root_id: root.id.clone(), issuer: ca_issuer("root", root)? })
    }

    /// The [`RootCa::id`] of the root this signer issues under.
    pub fn root_id(&self) -> &str {
        &self.root_id
    }

    /// Validates (as [`validate_csr`]) then signs. The certificate comes from
    /// `policy`, not from the CSR's requested parameters: only the CSR's
    /// public key and its one URI are taken. The leaf has CN = service name,
    /// that URI as its only SAN, CA:false, key usage digitalSignature, EKU
    /// serverAuth + clientAuth, an authority key id, a random 16-byte serial
    /// and validity [now - 60 s, now + ttl].
    pub fn sign(&self, csr_pem: &str, policy: &LeafPolicy) -> Result<SignedLeaf, CsrError> {
        self.sign_for(csr_pem, policy, |_| Ok(()))
    }

    /// As [`Signer::sign`], but only if `may_claim` accepts the CSR's
    /// identity (who is asking is the caller's business); the CSR is parsed
    /// and its signature verified once.
    pub fn sign_for(
        &self,
        csr_pem: &str,
        policy: &LeafPolicy,
        may_claim: impl FnOnce(&ServiceIdentity) -> Result<(), String>,
    ) -> Result<SignedLeaf, CsrError> {
        let request = parse_request(csr_pem, policy)?;
        may_claim(&request.identity).map_err(CsrError::NotAllowed)?;
        let serial = random_serial();
        let window = Window::from_now(policy.ttl);
        let params = leaf_params(&request.identity, &serial, window)?;
        let cert = params.signed_by(&request.public_key, &self.issuer).map_err(|e| CsrError::Signing(e.to_string()))?;
        Ok(SignedLeaf {
            cert_pem: cert.pem(),
            serial: colon_hex(&serial),
            identity: request.identity,
            valid_after: window.not_before,
            valid_before: window.not_after,
        })
    }
}

/// Parses and checks a CSR without signing; the signature is verified by
/// rcgen's `CertificateSigningRequestParams`. Returns the identity a leaf
/// would carry.
pub fn validate_csr(csr_pem: &str, policy: &LeafPolicy) -> Result<ServiceIdentity, CsrError> {
    parse_request(csr_pem, policy).map(|request| request.identity)
}

/// What is taken from an acceptable CSR.
struct Request {
    identity: ServiceIdentity,
    public_key: rcgen::PublicKey,
}

fn parse_request(csr_pem: &str, policy: &LeafPolicy) -> Result<Request, CsrError> {
    let der = csr_der(csr_pem)?;
    let spki = requested_spki(&der)?;
    let csr = CertificateSigningRequestParams::from_der(&der.as_slice().into())
        .map_err(|e| CsrError::Unparseable(e.to_string()))?;
    check_key_carried_unchanged(&csr.public_key, spki)?;
    if matches!(csr.params.is_ca, IsCa::Ca(_)) {
        return Err(CsrError::CaRequested);
    }
    let uri = single_uri(&csr.params.subject_alt_names)?;
    let identity = ServiceIdentity::parse(uri).map_err(|_| CsrError::NotServiceIdentity(uri.to_string()))?;
    check_identity(&identity, policy)?;
    Ok(Request { identity, public_key: csr.public_key })
}

/// The DER of a PEM CSR that holds exactly one block.
fn csr_der(csr_pem: &str) -> Result<Vec<u8>, CsrError> {
    let (rest, block) =
        parse_x509_pem(csr_pem.as_bytes()).map_err(|e| CsrError::Unparseable(format!("not PEM: {e}")))?;
    if !CSR_LABELS.contains(&block.label.as_str()) {
        return Err(CsrError::Unparseable(format!("PEM block is {:?}, expected CERTIFICATE REQUEST", block.label)));
    }
    if !rest.trim_ascii().is_empty() {
        return Err(CsrError::Unparseable("text after the CSR's PEM block".into()));
    }
    Ok(block.contents)
}

/// The CSR's SubjectPublicKeyInfo exactly as encoded, refusing trailing bytes
/// (which rcgen would ignore).
fn requested_spki(der: &[u8]) -> Result<&[u8], CsrError> {
    let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| CsrError::Unparseable(e.to_string()))?;
    if !rest.is_empty() {
        return Err(CsrError::Unparseable(format!("{} bytes after the CSR's DER", rest.len())));
    }
    Ok(csr.certification_request_info.subject_pki.raw)
}

/// rcgen infers a CSR key's algorithm from the CSR's signature algorithm,
/// so a P-384 key that signed with SHA-256 would be re-encoded as a P-256
/// key. Refuse any key whose re-encoding differs from what the CSR holds.
fn check_key_carried_unchanged(key: &rcgen::PublicKey, requested: &[u8]) -> Result<(), CsrError> {
    if key.subject_public_key_info() == requested {
        return Ok(());
    }
    Err(CsrError::UnsupportedKey(
        "its algorithm or curve does not match the CSR's signature algorithm (use P-256/SHA-256 or P-384/SHA-384)"
            .into(),
    ))
}

/// The one URI SAN; any other kind of SAN, or a count other than one, is refused.
fn single_uri(sans: &[SanType]) -> Result<&str, CsrError> {
    let mut uris = Vec::with_capacity(1);
    for san in sans {
        match san {
            SanType::URI(uri) => uris.push(uri.as_str()),
            other => return Err(CsrError::OtherSan(describe_san(other))),
        }
    }
    match uris.as_slice() {
        [] => Err(CsrError::NoUri),
        [uri] => Ok(uri),
        many => Err(CsrError::TooManyUris(many.len())),
    }
}

fn describe_san(san: &SanType) -> String {
    match san {
        SanType::DnsName(name) => format!("DNS:{}", name.as_str()),
        SanType::Rfc822Name(name) => format!("email:{}", name.as_str()),
        SanType::URI(uri) => format!("URI:{}", uri.as_str()),
        SanType::IpAddress(ip) => format!("IP:{ip}"),
        SanType::OtherName((oid, _)) => {
            let arcs: Vec<String> = oid.iter().map(u64::to_string).collect();
            format!("otherName:{}", arcs.join("."))
        }
        other => format!("{other:?}"),
    }
}

fn check_identity(identity: &ServiceIdentity, policy: &LeafPolicy) -> Result<(), CsrError> {
    if !identity.in_trust_domain(&policy.trust_domain) {
        return Err(CsrError::WrongTrustDomain {
            got: identity.trust_domain.clone(),
            want: policy.trust_domain.to_string(),
        });
    }
    if identity.datacenter != policy.datacenter {
        return Err(CsrError::WrongDatacenter { got: identity.datacenter.clone(), want: policy.datacenter.clone() });
    }
    Ok(())
}

/// The leaf's parameters, all from policy and identity. The URI is the
/// identity's canonical form, not the CSR's spelling of it.
fn leaf_params(identity: &ServiceIdentity, serial: &[u8], window: Window) -> Result<CertificateParams, CsrError> {
    let uri = Ia5String::try_from(identity.uri()).map_err(|e| CsrError::Signing(e.to_string()))?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(&identity.service);
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(SerialNumber::from_slice(serial));
    window.apply(&mut params).map_err(|reason| CsrError::Signing(format!("ttl {}: {reason}", window.describe())))?;
    Ok(params)
}

// ---------------------------------------------------------------- inspection

/// Serial, validity, URIs, CA flag, names and key id of a PEM certificate.
pub fn cert_info(pem: &str) -> Result<CertInfo, CaError> {
    let der = cert_der("certificate", pem)?;
    describe(&parse_cert("certificate", &der)?)
}

fn describe(cert: &X509Certificate<'_>) -> Result<CertInfo, CaError> {
    let what = "certificate";
    let is_ca = cert.basic_constraints().map_err(|e| cert_error(what, e))?.is_some_and(|bc| bc.value.ca);
    Ok(CertInfo {
        serial: colon_hex(&cert.serial.to_bytes_be()),
        not_before: unix_seconds(cert.validity().not_before.timestamp()),
        not_after: unix_seconds(cert.validity().not_after.timestamp()),
        uris: cert_uris(what, cert)?,
        is_ca,
        subject_cn: first_cn(cert.subject()),
        issuer_cn: first_cn(cert.issuer()),
        subject_key_id: subject_key_id(cert).map(colon_hex).unwrap_or_default(),
        key_bits: cert.public_key().parsed().map_or(0, |key| key.key_size() as u32),
    })
}

fn cert_uris(what: &str, cert: &X509Certificate<'_>) -> Result<Vec<String>, CaError> {
    let Some(san) = cert.subject_alternative_name().map_err(|e| cert_error(what, e))? else {
        return Ok(Vec::new());
    };
    let uris = san.value.general_names.iter().filter_map(|name| match name {
        GeneralName::URI(uri) => Some(uri.to_string()),
        _ => None,
    });
    Ok(uris.collect())
}

fn subject_key_id<'a>(cert: &'a X509Certificate<'_>) -> Option<&'a [u8]> {
    cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0),
        _ => None,
    })
}

fn first_cn(name: &x509_parser::x509::X509Name<'_>) -> String {
    name.iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or_default().to_string()
}

/// The DER of a PEM certificate (the first block, which must be a certificate).
fn cert_der(what: &str, pem: &str) -> Result<Vec<u8>, CaError> {
    let (_, block) = parse_x509_pem(pem.as_bytes()).map_err(|e| cert_error(what, format!("not PEM: {e}")))?;
    if block.label != CERT_LABEL {
        return Err(cert_error(what, format!("PEM block is {:?}, expected {CERT_LABEL}", block.label)));
    }
    Ok(block.contents)
}

fn parse_cert<'a>(what: &str, der: &'a [u8]) -> Result<X509Certificate<'a>, CaError> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| cert_error(what, e))?;
    if !rest.is_empty() {
        return Err(cert_error(what, format!("{} bytes after the certificate's DER", rest.len())));
    }
    Ok(cert)
}

// ---------------------------------------------------------------- small parts

/// A validity period in unix seconds: from [`BACKDATE`] ago for a ttl.
#[derive(Debug, Clone, Copy)]
struct Window {
    not_before: u64,
    not_after: u64,
}

impl Window {
    fn from_now(ttl: Duration) -> Window {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        Window { not_before: now.saturating_sub(BACKDATE.as_secs()), not_after: now.saturating_add(ttl.as_secs()) }
    }

    fn apply(&self, params: &mut CertificateParams) -> Result<(), String> {
        params.not_before = datetime(self.not_before)?;
        params.not_after = datetime(self.not_after)?;
        Ok(())
    }

    fn describe(&self) -> String {
        format!("valid {}..{} (unix s)", self.not_before, self.not_after)
    }
}

fn datetime(unix: u64) -> Result<OffsetDateTime, String> {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
        .ok_or_else(|| format!("{unix} is past the latest date a certificate can carry"))
}

fn unix_seconds(timestamp: i64) -> u64 {
    u64::try_from(timestamp).unwrap_or(0)
}

/// 16 random bytes with the top bit clear (a positive INTEGER without a
/// padding byte) and the next bit set (no leading zero byte is stripped,
/// so every serial is exactly 16 bytes): 126 random bits.
fn random_serial() -> [u8; SERIAL_LEN] {
    let mut serial = [0u8; SERIAL_LEN];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40;
    serial
}

fn common_name(cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name
}

fn uri_san(field: &'static str, uri: String) -> Result<SanType, CaError> {
    match Ia5String::try_from(uri.as_str()) {
        Ok(ia5) => Ok(SanType::URI(ia5)),
        Err(e) => Err(invalid(field, &uri, e.to_string())),
    }
}

fn invalid(field: &'static str, value: &str, reason: String) -> CaError {
    CaError::Invalid { field, value: value.to_string(), reason }
}

fn build(what: impl Into<String>, reason: impl ToString) -> CaError {
    CaError::Build { what: what.into(), reason: reason.to_string() }
}

fn key_error(what: &str, reason: impl ToString) -> CaError {
    CaError::Key { what: what.to_string(), reason: reason.to_string() }
}

fn cert_error(what: &str, reason: impl ToString) -> CaError {
    CaError::Cert { what: what.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use x509_parser::extensions::BasicConstraints as ParsedBasicConstraints;

    use super::*;
    use crate::connect::csr::leaf_request;

    const DAY: Duration = Duration::from_secs(24 * 3600);
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

    fn trust_domain() -> TrustDomain {
        TrustDomain::for_cluster("11111111-2222-3333-4444-555555555555")
    }

    fn policy() -> LeafPolicy {
        LeafPolicy { trust_domain: trust_domain(), datacenter: "dc1".into(), ttl: 3 * DAY }
    }

    fn web() -> ServiceIdentity {
        ServiceIdentity::new(&trust_domain(), "dc1", "web")
    }

    fn root(name: &str) -> RootCa {
        generate_root(&trust_domain(), name, None, 10 * YEAR).unwrap()
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
    }

    /// The DER of a PEM block (of any label).
    fn der_of(pem: &str) -> Vec<u8> {
        parse_x509_pem(pem.as_bytes()).unwrap().1.contents
    }

    /// A minimal base64 PEM encoder, to re-wrap tampered DER.
    fn pem_of(label: &str, der: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut b64 = String::new();
        for chunk in der.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..4 {
                let digit = ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char;
                b64.push(if i <= chunk.len() { digit } else { '=' });
            }
        }
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
        format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
    }

    /// A CSR built directly with rcgen, as a hostile or broken client might.
    fn csr_with(sans: Vec<SanType>, is_ca: IsCa) -> String {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name("web");
        params.subject_alt_names = sans;
        params.is_ca = is_ca;
        params.serialize_request(&KeyPair::generate().unwrap()).unwrap().pem().unwrap()
    }

    fn uri(text: &str) -> SanType {
        SanType::URI(Ia5String::try_from(text).unwrap())
    }

    fn uris(texts: &[&str]) -> Vec<SanType> {
        texts.iter().map(|t| uri(t)).collect()
    }

    /// A valid CSR whose signed content was altered after signing.
    fn tampered_csr() -> String {
        let pem = leaf_request(&web()).unwrap().csr_pem;
        let mut der = der_of(&pem);
        assert_eq!(pem_of("CERTIFICATE REQUEST", &der), pem, "the test encoder must reproduce rcgen's PEM");
        let at = der.windows(7).position(|w| w == b"svc/web").unwrap();
        der[at..at + 7].copy_from_slice(b"svc/api");
        pem_of("CERTIFICATE REQUEST", &der)
    }

    fn parsed(pem: &str) -> (Vec<u8>, CertInfo) {
        (der_of(pem), cert_info(pem).unwrap())
    }

    fn authority_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
        cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|id| id.0.to_vec()),
            _ => None,
        })
    }

    #[test]
    fn colon_hex_is_lowercase_pairs() {
        assert_eq!(colon_hex(&[0x3a, 0x0f, 0xff]), "3a:0f:ff");
        assert_eq!(colon_hex(&[]), "");
    }

    #[test]
    fn a_root_describes_itself() {
        let before = now();
        let root = root("Tessera CA 1");
        let (der, info) = parsed(&root.cert_pem);

        assert_eq!(root.id, colon_hex(&Sha1::digest(&der)));
        assert_eq!(root.id.len(), 20 * 3 - 1);
        assert_eq!(root.serial, info.serial);
        assert_eq!(root.serial.len(), SERIAL_LEN * 3 - 1);
        assert_eq!(root.signing_key_id, info.subject_key_id);
        assert!(!root.signing_key_id.is_empty());
        assert_eq!((root.not_before, root.not_after), (info.not_before, info.not_after));
        assert!(root.not_before + 60 >= before && root.not_before + 60 <= now());
        assert_eq!(root.not_after - root.not_before, 10 * YEAR.as_secs() + 60);
        assert!(info.is_ca);
        assert_eq!(info.uris, vec![trust_domain().uri()]);
        assert_eq!((info.subject_cn.as_str(), info.issuer_cn.as_str()), ("Tessera CA 1", "Tessera CA 1"));

        let cert = parse_cert("root", &der).unwrap();
        cert.verify_signature(None).unwrap();
        let bc = cert.basic_constraints().unwrap().unwrap().value;
        assert_eq!(bc, &ParsedBasicConstraints { ca: true, path_len_constraint: None });
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.key_cert_sign() && usage.crl_sign() && usage.digital_signature());
        assert!(cert.name_constraints().unwrap().is_none());

        let stored: RootCa = serde_json::from_str(&serde_json::to_string(&root).unwrap()).unwrap();
        assert_eq!(stored, root);
    }

    #[test]
    fn a_root_uses_a_given_p384_key_and_refuses_other_kinds() {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let root = generate_root(&trust_domain(), "Tessera CA 384", Some(&key.serialize_pem()), YEAR).unwrap();
        let der = der_of(&root.cert_pem);
        let cert = parse_cert("root", &der).unwrap();
        assert_eq!(cert.public_key().raw, key.subject_public_key_info().as_slice());
        assert_eq!(cert_info(&root.cert_pem).unwrap().key_bits, 384);

        let leaf = Signer::new(&root).unwrap().sign(&leaf_request(&web()).unwrap().csr_pem, &policy()).unwrap();
        let leaf_der = der_of(&leaf.cert_pem);
        parse_cert("leaf", &leaf_der).unwrap().verify_signature(Some(cert.public_key())).unwrap();

        let ed25519 = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap().serialize_pem();
        for bad in [ed25519.as_str(), "not a key"] {
            let err = generate_root(&trust_domain(), "x", Some(bad), YEAR).unwrap_err();
            assert!(matches!(err, CaError::Key { .. }), "{err}");
        }
        assert!(matches!(generate_root(&trust_domain(), " ", None, YEAR), Err(CaError::Invalid { field: "name", .. })));
    }

    #[test]
    fn a_signer_refuses_a_key_that_is_not_its_roots() {
        let mut root = root("Tessera CA 1");
        root.key_pem = KeyPair::generate().unwrap().serialize_pem();
        let err = Signer::new(&root).unwrap_err();
        assert!(err.to_string().contains("does not belong"), "{err}");
    }

    #[test]
    fn a_workload_csr_is_signed_from_policy() {
        let root = root("Tessera CA 1");
        let signer = Signer::new(&root).unwrap();
        assert_eq!(signer.root_id(), root.id);
        let request = leaf_request(&web()).unwrap();
        assert_eq!(validate_csr(&request.csr_pem, &policy()), Ok(web()));

        let before = now();
        let leaf = signer.sign(&request.csr_pem, &policy()).unwrap();
        let (der, info) = parsed(&leaf.cert_pem);
        let cert = parse_cert("leaf", &der).unwrap();

        assert_eq!(leaf.identity, web());
        assert_eq!(info.uris, vec![web().uri()]);
        assert_eq!(cert.subject_alternative_name().unwrap().unwrap().value.general_names.len(), 1);
        assert!(!info.is_ca);
        assert_eq!((info.subject_cn.as_str(), info.issuer_cn.as_str()), ("web", "Tessera CA 1"));
        assert_eq!(leaf.serial, info.serial);
        assert_eq!(leaf.serial.len(), SERIAL_LEN * 3 - 1);
        assert_eq!((leaf.valid_after, leaf.valid_before), (info.not_before, info.not_after));
        assert!(info.not_before + 60 >= before && info.not_before + 60 <= now(), "backdated 60 s");
        assert_eq!(info.not_after - info.not_before, policy().ttl.as_secs() + 60, "ttl from policy");

        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth && !eku.any && !eku.code_signing);
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.digital_signature() && !usage.key_cert_sign() && !usage.crl_sign());
        let signing_key_id = der_of(&root.cert_pem);
        let root_cert = parse_cert("root", &signing_key_id).unwrap();
        assert_eq!(authority_key_id(&cert).as_deref(), subject_key_id(&root_cert));
        assert_eq!(cert.issuer().as_raw(), root_cert.subject().as_raw());
        cert.verify_signature(Some(root_cert.public_key())).unwrap();

        let workload_key = KeyPair::from_pem(&request.key_pem).unwrap();
        assert_eq!(cert.public_key().raw, workload_key.subject_public_key_info().as_slice());
    }

    #[test]
    fn what_a_csr_asks_for_beyond_its_key_and_uri_is_ignored() {
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name("admin");
        params.subject_alt_names = vec![uri(&web().uri())];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        let csr = params.serialize_request(&KeyPair::generate().unwrap()).unwrap().pem().unwrap();

        let leaf = Signer::new(&root("Tessera CA 1")).unwrap().sign(&csr, &policy()).unwrap();
        let der = der_of(&leaf.cert_pem);
        let cert = parse_cert("leaf", &der).unwrap();
        assert_eq!(first_cn(cert.subject()), "web");
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.digital_signature() && !usage.key_cert_sign() && !usage.crl_sign());
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && eku.client_auth && !eku.code_signing);
    }

    #[test]
    fn hostile_csrs_are_refused_and_nothing_is_signed() {
        let td = trust_domain();
        let good = web().uri();
        let other_td = ServiceIdentity::new(&TrustDomain::for_cluster("evil"), "dc1", "web").uri();
        let other_dc = ServiceIdentity::new(&td, "dc2", "web").uri();
        let agent = format!("spiffe://{td}/agent/client/dc/dc1/id/x");
        let dns = SanType::DnsName(Ia5String::try_from("web.service.consul").unwrap());
        let cases: Vec<(&str, String, CsrError)> = vec![
            ("two URI SANs", csr_with(uris(&[&good, &other_dc]), IsCa::NoCa), CsrError::TooManyUris(2)),
            ("no SAN at all", csr_with(vec![], IsCa::NoCa), CsrError::NoUri),
            (
                "another trust domain",
                csr_with(uris(&[&other_td]), IsCa::NoCa),
                CsrError::WrongTrustDomain { got: "evil.consul".into(), want: td.to_string() },
            ),
            (
                "another datacenter",
                csr_with(uris(&[&other_dc]), IsCa::NoCa),
                CsrError::WrongDatacenter { got: "dc2".into(), want: "dc1".into() },
            ),
            ("an agent identity", csr_with(uris(&[&agent]), IsCa::NoCa), CsrError::NotServiceIdentity(agent.clone())),
            (
                "a DNS SAN beside the URI",
                csr_with(vec![uri(&good), dns.clone()], IsCa::NoCa),
                CsrError::OtherSan("DNS:web.service.consul".into()),
            ),
            ("only a DNS SAN", csr_with(vec![dns], IsCa::NoCa), CsrError::OtherSan("DNS:web.service.consul".into())),
            ("CA:true", csr_with(uris(&[&good]), IsCa::Ca(BasicConstraints::Unconstrained)), CsrError::CaRequested),
            (
                "CA:true, pathlen 0",
                csr_with(uris(&[&good]), IsCa::Ca(BasicConstraints::Constrained(0))),
                CsrError::CaRequested,
            ),
        ];
        let signer = Signer::new(&root("Tessera CA 1")).unwrap();
        for (name, csr, want) in cases {
            assert_eq!(validate_csr(&csr, &policy()), Err(want.clone()), "{name}");
            assert_eq!(signer.sign(&csr, &policy()), Err(want), "{name}");
        }

        let valid = leaf_request(&web()).unwrap().csr_pem;
        let certificate = root("Tessera CA 2").cert_pem;
        let unparseable = [
            ("garbage", "this is not a CSR".to_string()),
            ("garbage inside PEM armour", pem_of("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00")),
            ("a certificate instead", certificate),
            ("tampered after signing", tampered_csr()),
            ("two CSRs in one", format!("{valid}{valid}")),
        ];
        for (name, csr) in unparseable {
            let err = signer.sign(&csr, &policy()).unwrap_err();
            assert!(matches!(err, CsrError::Unparseable(_)), "{name}: {err}");
            assert!(matches!(validate_csr(&csr, &policy()), Err(CsrError::Unparseable(_))), "{name}");
        }
        let err = signer.sign(&tampered_csr(), &policy()).unwrap_err();
        assert!(err.to_string().contains("signature"), "{err}");
    }

    #[test]
    fn a_cross_signed_new_root_chains_new_leaves_to_the_old_root() {
        let old = root("Tessera CA 1");
        let new = root("Tessera CA 2");
        let cross_pem = cross_sign(&new, &old, YEAR).unwrap();
        let leaf = Signer::new(&new).unwrap().sign(&leaf_request(&web()).unwrap().csr_pem, &policy()).unwrap();

        let (old_der, new_der, cross_der, leaf_der) =
            (der_of(&old.cert_pem), der_of(&new.cert_pem), der_of(&cross_pem), der_of(&leaf.cert_pem));
        let old_cert = parse_cert("old", &old_der).unwrap();
        let new_cert = parse_cert("new", &new_der).unwrap();
        let cross = parse_cert("cross", &cross_der).unwrap();
        let leaf = parse_cert("leaf", &leaf_der).unwrap();

        // Directly: leaf -> new root.
        leaf.verify_signature(Some(new_cert.public_key())).unwrap();
        assert_eq!(leaf.issuer().as_raw(), new_cert.subject().as_raw());
        // Through the cross: leaf -> cross -> old root.
        assert_eq!(cross.subject().as_raw(), new_cert.subject().as_raw());
        assert_eq!(cross.public_key().raw, new_cert.public_key().raw);
        leaf.verify_signature(Some(cross.public_key())).unwrap();
        assert_eq!(cross.issuer().as_raw(), old_cert.subject().as_raw());
        cross.verify_signature(Some(old_cert.public_key())).unwrap();
        assert!(cross.verify_signature(Some(new_cert.public_key())).is_err());

        let info = cert_info(&cross_pem).unwrap();
        assert!(info.is_ca);
        assert_eq!(info.subject_key_id, new.signing_key_id);
        assert_eq!(info.uris, vec![trust_domain().uri()]);
        assert_eq!((info.subject_cn.as_str(), info.issuer_cn.as_str()), ("Tessera CA 2", "Tessera CA 1"));
        assert_eq!(authority_key_id(&cross).as_deref(), subject_key_id(&old_cert));
        assert_eq!(authority_key_id(&leaf).as_deref(), subject_key_id(&cross));
        let usage = cross.key_usage().unwrap().unwrap().value;
        assert!(usage.key_cert_sign() && usage.crl_sign() && usage.digital_signature());
        assert_eq!(info.not_after - info.not_before, YEAR.as_secs() + 60);
    }

    /// Run with `cargo test -p tessera-proto --release -- --ignored --nocapture`.
    #[test]
    #[ignore = "throughput measurement; run in release"]
    fn sign_throughput() {
        let signer = Signer::new(&root("Tessera CA 1")).unwrap();
        let csrs: Vec<String> = (0..256)
            .map(|i| {
                let identity = ServiceIdentity::new(&trust_domain(), "dc1", &format!("svc{i}"));
                leaf_request(&identity).unwrap().csr_pem
            })
            .collect();
        let run = |threads: usize| {
            let window = Duration::from_secs(2);
            let start = Instant::now();
            let signed: usize = std::thread::scope(|scope| {
                let workers: Vec<_> = (0..threads)
                    .map(|t| {
                        let (signer, csrs) = (&signer, &csrs);
                        scope.spawn(move || {
                            let mut n = 0;
                            while start.elapsed() < window {
                                signer.sign(&csrs[(n + t) % csrs.len()], &policy()).unwrap();
                                n += 1;
                            }
                            n
                        })
                    })
                    .collect();
                workers.into_iter().map(|w| w.join().unwrap()).sum()
            });
            signed as f64 / start.elapsed().as_secs_f64()
        };
        println!("sign(): {:.0}/s on 1 thread, {:.0}/s on 2 threads", run(1), run(2));
    }
}
