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
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
/// Its `Debug` leaves the key out, so no log or panic message carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
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

impl std::fmt::Debug for RootCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCa")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("serial", &self.serial)
            .field("signing_key_id", &self.signing_key_id)
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &REDACTED)
            .finish()
    }
}

/// What `Debug` shows in place of a private key.
pub const REDACTED: &str = "<redacted>";

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

/// Where a new root's key comes from. `Debug` leaves a given key out.
#[derive(Clone, Copy)]
pub enum RootKey<'a> {
    /// An operator's key: PKCS#8 PEM, EC P-256 or P-384.
    Given(&'a str),
    /// A new EC key of this many bits (256 or 384).
    Fresh(u32),
}

impl std::fmt::Debug for RootKey<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RootKey::Given(_) => f.debug_tuple("Given").field(&REDACTED).finish(),
            RootKey::Fresh(bits) => f.debug_tuple("Fresh").field(bits).finish(),
        }
    }
}

impl RootKey<'_> {
    fn key_pair(self) -> Result<KeyPair, CaError> {
        match self {
            RootKey::Given(pem) => load_ca_key("root key_pem", pem),
            RootKey::Fresh(256) => {
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| build("root key", e))
            }
            RootKey::Fresh(384) => {
                KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(|e| build("root key", e))
            }
            RootKey::Fresh(bits) => Err(invalid("key bits", &bits.to_string(), "EC keys are 256 or 384 bits".into())),
        }
    }
}

/// A self-signed root for `trust_domain`: CN = `name`, URI SAN
/// `trust_domain.uri()`, CA without a path length limit (so a cross-signed
/// copy of a later root can sit below it), valid from a minute ago for
/// `ttl`. No name constraints: webpki handles URI name constraints poorly,
/// and the trust domain is checked on every leaf instead.
pub fn generate_root(
    trust_domain: &TrustDomain,
    name: &str,
    key: RootKey<'_>,
    ttl: Duration,
) -> Result<RootCa, CaError> {
    if name.trim().is_empty() {
        return Err(invalid("name", name, "a root needs a name (its CN)".into()));
    }
    let key = key.key_pair()?;
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

/// A client agent's certificate (auto-encrypt): its key, its node's agent
/// SPIFFE id.
#[derive(Debug, Clone)]
pub struct SignedAgent {
    pub cert_pem: String,
    /// Unix seconds (the certificate's notAfter).
    pub valid_before: u64,
}

impl Signer {
    /// Signs a client agent's certificate for `agent_uri` (Consul's
    /// `spiffe://<trust domain>/agent/client/dc/<dc>/id/<node>`), with
    /// `localhost` and 127.0.0.1 as Consul adds them. Only the CSR's public
    /// key is taken (its signature checked); whatever names it asks for are
    /// ignored, and a CA request is refused.
    pub fn sign_agent(
        &self,
        csr_pem: &str,
        agent_uri: &str,
        ttl: std::time::Duration,
    ) -> Result<SignedAgent, CsrError> {
        let der = csr_der(csr_pem)?;
        let spki = requested_spki(&der)?;
        let csr = CertificateSigningRequestParams::from_der(&der.as_slice().into())
            .map_err(|e| CsrError::Unparseable(e.to_string()))?;
        check_key_carried_unchanged(&csr.public_key, spki)?;
        if matches!(csr.params.is_ca, IsCa::Ca(_)) {
            return Err(CsrError::CaRequested);
        }
        let window = Window::from_now(ttl);
        let params = agent_params(agent_uri, &random_serial(), window)?;
        let cert = params.signed_by(&csr.public_key, &self.issuer).map_err(|e| CsrError::Signing(e.to_string()))?;
        Ok(SignedAgent { cert_pem: cert.pem(), valid_before: window.not_after })
    }
}

fn agent_params(agent_uri: &str, serial: &[u8], window: Window) -> Result<CertificateParams, CsrError> {
    let signing = |e: rcgen::Error| CsrError::Signing(e.to_string());
    let uri = Ia5String::try_from(agent_uri).map_err(signing)?;
    let localhost = Ia5String::try_from("localhost").map_err(signing)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(agent_uri.rsplit('/').next().unwrap_or_default());
    params.subject_alt_names = vec![
        SanType::URI(uri),
        SanType::DnsName(localhost),
        SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])),
    ];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(SerialNumber::from_slice(serial));
    window.apply(&mut params).map_err(|reason| CsrError::Signing(format!("ttl {}: {reason}", window.describe())))?;
    Ok(params)
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

pub(super) fn common_name(cn: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, cn);
    name
}

pub(super) fn uri_san(field: &'static str, uri: String) -> Result<SanType, CaError> {
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
mod tests;
