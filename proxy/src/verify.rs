//! Peer certificate checks, the same for both directions: the chain must lead
//! to one of the snapshot's roots (webpki, all roots trusted so rotation
//! never cuts anyone), and the leaf must carry exactly one URI SAN that is a
//! service identity of our trust domain. The outbound side additionally pins
//! the service name it meant to reach. Errors are rustls errors so a failed
//! check fails the handshake itself, and [`FailureReason::of`] maps them back
//! to the metric label.

use std::fmt;
use std::io;
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::client::danger::ServerCertVerified;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::ClientCertVerified;
use rustls::server::danger::ClientCertVerifier;
use rustls::CertificateError;
use rustls::DigitallySignedStruct;
use rustls::DistinguishedName;
use rustls::OtherError;
use rustls::SignatureScheme;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::ServerName;
use rustls_pki_types::TrustAnchor;
use rustls_pki_types::UnixTime;
use tessera_mesh::connect::spiffe::SpiffeError;
use tessera_mesh::connect::ServiceIdentity;
use tessera_mesh::connect::TrustDomain;
use webpki::EndEntityCert;
use webpki::KeyUsage;

/// Why a presented leaf does not name an acceptable service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("certificate does not parse: {0}")]
    Unparseable(String),
    #[error("certificate has no URI SAN")]
    NoUri,
    #[error("certificate has {0} URI SANs, a service leaf has exactly one")]
    ManyUris(usize),
    #[error(transparent)]
    NotService(#[from] SpiffeError),
    #[error("identity {presented} is not in trust domain {expected}")]
    WrongTrustDomain { expected: String, presented: String },
    #[error("expected service {expected:?}, the peer presented {presented}")]
    WrongService { expected: String, presented: String },
}

/// The service identity carried by a leaf: its single URI SAN, parsed.
/// Says nothing about the chain; call it on verified certificates.
pub fn identity_of(cert: &CertificateDer<'_>) -> Result<ServiceIdentity, IdentityError> {
    let parsed = EndEntityCert::try_from(cert).map_err(|e| IdentityError::Unparseable(e.to_string()))?;
    identity_in(&parsed)
}

/// [`identity_of`] for a certificate already parsed.
fn identity_in(cert: &EndEntityCert<'_>) -> Result<ServiceIdentity, IdentityError> {
    let mut uris = cert.valid_uri_names();
    let first = uris.next().ok_or(IdentityError::NoUri)?;
    let more = uris.count();
    if more > 0 {
        return Err(IdentityError::ManyUris(more + 1));
    }
    Ok(ServiceIdentity::parse(first)?)
}

/// The metric label of a failed handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    NoClientCert,
    BadChain,
    Expired,
    NotYetValid,
    BadIdentity,
    Timeout,
    Other,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::NoClientCert,
        FailureReason::BadChain,
        FailureReason::Expired,
        FailureReason::NotYetValid,
        FailureReason::BadIdentity,
        FailureReason::Timeout,
        FailureReason::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FailureReason::NoClientCert => "no_client_cert",
            FailureReason::BadChain => "bad_chain",
            FailureReason::Expired => "expired",
            FailureReason::NotYetValid => "not_yet_valid",
            FailureReason::BadIdentity => "bad_identity",
            FailureReason::Timeout => "timeout",
            FailureReason::Other => "other",
        }
    }

    /// Classifies the error a tokio-rustls handshake returned (rustls wraps
    /// its error in an `io::Error`).
    pub fn of(err: &io::Error) -> FailureReason {
        if err.kind() == io::ErrorKind::TimedOut {
            return FailureReason::Timeout;
        }
        match err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()) {
            Some(rustls::Error::NoCertificatesPresented) => FailureReason::NoClientCert,
            Some(rustls::Error::InvalidCertificate(cert)) => Self::of_certificate(cert),
            _ => FailureReason::Other,
        }
    }

    fn of_certificate(err: &CertificateError) -> FailureReason {
        match err {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => FailureReason::Expired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => FailureReason::NotYetValid,
            CertificateError::Other(OtherError(inner)) if inner.downcast_ref::<IdentityError>().is_some() => {
                FailureReason::BadIdentity
            }
            _ => FailureReason::BadChain,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The roots of one snapshot as webpki trust anchors, plus the trust domain
/// identities must belong to. Built once per roots change, shared by both
/// verifiers.
pub struct TrustStore {
    anchors: Vec<TrustAnchor<'static>>,
    trust_domain: TrustDomain,
    algorithms: WebPkiSupportedAlgorithms,
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStore")
            .field("anchors", &self.anchors.len())
            .field("trust_domain", &self.trust_domain)
            .finish()
    }
}

impl TrustStore {
    pub fn new(anchors: Vec<TrustAnchor<'static>>, trust_domain: TrustDomain, provider: &CryptoProvider) -> Self {
        TrustStore { anchors, trust_domain, algorithms: provider.signature_verification_algorithms }
    }

    /// A root certificate as a trust anchor.
    pub fn anchor(root: &CertificateDer<'_>) -> Result<TrustAnchor<'static>, webpki::Error> {
        webpki::anchor_from_trusted_cert(root).map(|a| a.to_owned())
    }

    /// Chain, validity period and key usage, then the identity. CA
    /// certificates presented as leaves are refused by webpki itself.
    pub(crate) fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        usage: KeyUsage,
    ) -> Result<ServiceIdentity, rustls::Error> {
        let cert = EndEntityCert::try_from(end_entity).map_err(chain_error)?;
        cert.verify_for_usage(self.algorithms.all, &self.anchors, intermediates, now, usage, None, None)
            .map_err(chain_error)?;
        let identity = identity_in(&cert).map_err(identity_error)?;
        if !identity.in_trust_domain(&self.trust_domain) {
            return Err(identity_error(IdentityError::WrongTrustDomain {
                expected: self.trust_domain.to_string(),
                presented: identity.uri(),
            }));
        }
        Ok(identity)
    }

    fn verify_signature13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_signature12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// webpki's verdict as a rustls error; the well-known cases get their own
/// variants (and so the right TLS alert), the rest keep webpki's message.
fn chain_error(err: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    let cert = match err {
        E::CertExpired { time, not_after } => CertificateError::ExpiredContext { time, not_after },
        E::CertNotValidYet { time, not_before } => CertificateError::NotValidYetContext { time, not_before },
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        E::BadDer | E::BadDerTime => CertificateError::BadEncoding,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(cert)
}

fn identity_error(err: IdentityError) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(err))))
}

/// The public listener's verifier: a client certificate is mandatory and must
/// name a service of our trust domain. Which services may connect is decided
/// after the handshake, by intentions, so that a change applies without a
/// new TLS config.
#[derive(Debug)]
pub struct ClientVerifier {
    trust: Arc<TrustStore>,
}

impl ClientVerifier {
    pub fn new(trust: Arc<TrustStore>) -> Self {
        ClientVerifier { trust }
    }
}

impl ClientCertVerifier for ClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    /// No hints: every client has exactly one leaf to offer.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.trust.verify(end_entity, intermediates, now, KeyUsage::client_auth())?;
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_signature12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_signature13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.trust.schemes()
    }
}

/// The upstream side's verifier: the server must chain to our roots and be
/// the one service this connection was meant for. The TLS server name is
/// ignored (mesh peers are named by SPIFFE URI, not DNS), the datacenter is
/// not compared (a service keeps its name across datacenters).
#[derive(Debug)]
pub struct ServerVerifier {
    trust: Arc<TrustStore>,
    service: String,
}

impl ServerVerifier {
    pub fn new(trust: Arc<TrustStore>, service: String) -> Self {
        ServerVerifier { trust, service }
    }
}

impl ServerCertVerifier for ServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let identity = self.trust.verify(end_entity, intermediates, now, KeyUsage::server_auth())?;
        if identity.service != self.service {
            return Err(identity_error(IdentityError::WrongService {
                expected: self.service.clone(),
                presented: identity.uri(),
            }));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_signature12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.trust.verify_signature13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.trust.schemes()
    }
}
