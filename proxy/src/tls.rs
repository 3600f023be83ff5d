//! rustls configurations derived from one snapshot's leaf and roots, and the
//! two handshakes built on them (`accept` for the public side, `connect`
//! for upstreams). A [`TlsConfigs`] is built once per leaf/roots change and
//! shared through an `Arc` by every connection: a handshake never parses a
//! PEM or builds a config. Open connections keep the config they started
//! with; only new ones see a rotation.
//!
//! TLS 1.3 only, with the *ring* provider passed explicitly (never the
//! process default, which another crate in the binary might set). Session
//! resumption is on both ways (stateless tickets on the server, an
//! in-memory ticket store per destination service on the client), which turns
//! most reconnects between two sidecars into a PSK handshake: no
//! certificate signature, no chain verification.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::LazyLock;
use std::sync::Mutex;
use std::time::Duration;

use rustls::client::Resumption;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::sign::SingleCertAndKey;
use rustls::ClientConfig;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::ServerName;
use rustls_pki_types::UnixTime;
use tessera_mesh::connect::ServiceIdentity;
use tessera_mesh::connect::TrustDomain;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;
use tokio_rustls::client;
use tokio_rustls::server;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::TlsConnector;

use crate::config::Leaf;
use crate::config::ProxySnapshot;
use crate::config::Roots;
use crate::verify::identity_of;
use crate::verify::ClientVerifier;
use crate::verify::IdentityError;
use crate::verify::ServerVerifier;
use crate::verify::TrustStore;

/// How many servers' tickets each per-service client cache remembers.
const CLIENT_SESSION_CACHE: usize = 256;

/// Why a snapshot's leaf or roots cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("leaf certificate chain: {0}")]
    LeafChain(String),
    #[error("leaf private key: {0}")]
    LeafKey(String),
    #[error("root {id}: {reason}")]
    Root { id: String, reason: String },
    #[error("no CA roots in the snapshot")]
    NoRoots,
    #[error("trust domain {0:?}: {1}")]
    TrustDomain(String, String),
    #[error("building the TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The ring provider, TLS 1.3 suites only, AES-128-GCM first: both ends are
/// ours, and it is the cheapest AEAD on CPUs with AES instructions.
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: LazyLock<Arc<CryptoProvider>> = LazyLock::new(|| {
        use rustls::crypto::ring::cipher_suite;
        let mut provider = rustls::crypto::ring::default_provider();
        provider.cipher_suites = vec![
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ];
        Arc::new(provider)
    });
    PROVIDER.clone()
}

/// Everything TLS needs from one (identity, leaf, roots), built once.
pub struct TlsConfigs {
    identity: ServiceIdentity,
    leaf: Leaf,
    roots: Roots,
    trust: Arc<TrustStore>,
    certified: Arc<CertifiedKey>,
    server: Arc<ServerConfig>,
    /// One client config per destination service: the verifier pins the
    /// service, and resumption tickets must never cross services.
    clients: Mutex<HashMap<String, Arc<ClientConfig>>>,
}

impl fmt::Debug for TlsConfigs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfigs").field("identity", &self.identity.uri()).field("leaf", &self.leaf).finish()
    }
}

impl TlsConfigs {
    pub fn build(snapshot: &ProxySnapshot) -> Result<TlsConfigs, TlsError> {
        let provider = provider();
        let trust = Arc::new(trust_store(&snapshot.roots, &provider)?);
        let certified = Arc::new(certified_key(&snapshot.leaf, &provider)?);
        let server = Arc::new(server_config(&provider, &trust, &certified)?);
        Ok(TlsConfigs {
            identity: snapshot.identity.clone(),
            leaf: snapshot.leaf.clone(),
            roots: snapshot.roots.clone(),
            trust,
            certified,
            server,
            clients: Mutex::new(HashMap::new()),
        })
    }

    /// Whether these configs were built from the snapshot's identity, leaf
    /// and roots (an intentions-only change keeps them, and their tickets).
    pub fn built_from(&self, snapshot: &ProxySnapshot) -> bool {
        self.identity == snapshot.identity && self.leaf == snapshot.leaf && self.roots == snapshot.roots
    }

    pub fn identity(&self) -> &ServiceIdentity {
        &self.identity
    }

    /// Root names, for the startup log.
    pub fn root_names(&self) -> Vec<&str> {
        self.roots.roots.iter().map(|r| r.name.as_str()).collect()
    }

    pub fn server(&self) -> Arc<ServerConfig> {
        self.server.clone()
    }

    /// The client config that accepts only `service` as the far end.
    pub fn client_for(&self, service: &str) -> Result<Arc<ClientConfig>, TlsError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(config) = clients.get(service) {
            return Ok(config.clone());
        }
        let config = Arc::new(client_config(&provider(), &self.trust, &self.certified, service)?);
        clients.insert(service.to_string(), config.clone());
        Ok(config)
    }
}

fn trust_store(roots: &Roots, provider: &CryptoProvider) -> Result<TrustStore, TlsError> {
    let trust_domain = TrustDomain::parse(&roots.trust_domain)
        .map_err(|e| TlsError::TrustDomain(roots.trust_domain.clone(), e.to_string()))?;
    if roots.roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let mut anchors = Vec::new();
    for root in &roots.roots {
        let root_error = |reason: String| TlsError::Root { id: root.id.clone(), reason };
        let ders = CertificateDer::pem_slice_iter(root.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| root_error(e.to_string()))?;
        if ders.is_empty() {
            return Err(root_error("no certificate in PEM".into()));
        }
        for der in &ders {
            anchors.push(TrustStore::anchor(der).map_err(|e| root_error(e.to_string()))?);
        }
    }
    Ok(TrustStore::new(anchors, trust_domain, provider))
}

fn certified_key(leaf: &Leaf, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(leaf.cert_chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::LeafChain(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::LeafChain("no certificate in PEM".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).map_err(|e| TlsError::LeafKey(e.to_string()))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::LeafKey(e.to_string()))
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    trust: &Arc<TrustStore>,
    certified: &Arc<CertifiedKey>,
) -> Result<ServerConfig, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(ClientVerifier::new(trust.clone())))
        .with_cert_resolver(Arc::new(SingleCertAndKey::from(certified.clone())));
    // A new ticket key with every leaf/roots change: a ticket carries the
    // client chain verified under the old roots and must not outlive them.
    config.ticketer = rustls::crypto::ring::Ticketer::new()?;
    Ok(config)
}

fn client_config(
    provider: &Arc<CryptoProvider>,
    trust: &Arc<TrustStore>,
    certified: &Arc<CertifiedKey>,
    service: &str,
) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ServerVerifier::new(trust.clone(), service.to_string())))
        .with_client_cert_resolver(Arc::new(SingleCertAndKey::from(certified.clone())));
    config.enable_sni = false;
    config.resumption = Resumption::in_memory_sessions(CLIENT_SESSION_CACHE);
    Ok(config)
}

/// The name a client session is filed under: rustls keys its ticket store
/// by server name, and SNI is off, so each endpoint address gets a
/// synthetic DNS name of its own (tickets are only useful to the server
/// that issued them).
fn session_name(addr: SocketAddr) -> ServerName<'static> {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => u128::from(u32::from(ip)),
        IpAddr::V6(ip) => u128::from(ip),
    };
    let name = format!("h{ip:x}-p{}.tessera", addr.port());
    ServerName::try_from(name).expect("hex digits and a port always form a valid DNS name")
}

/// Why a dial to one endpoint failed; only handshake failures are counted as such.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("connecting to {0}: {1}")]
    Connect(SocketAddr, io::Error),
    #[error("TLS handshake with {0}: {1}")]
    Handshake(SocketAddr, io::Error),
    #[error("no TLS configuration: {0}")]
    Config(#[from] TlsError),
}

impl From<DialError> for io::Error {
    fn from(err: DialError) -> io::Error {
        match err {
            DialError::Connect(_, e) => e,
            DialError::Handshake(_, e) => e,
            DialError::Config(e) => io::Error::other(e),
        }
    }
}

/// TCP connect plus TLS handshake as this identity, accepting only
/// `service` at the far end; `limit` bounds both together. `wrap` puts the
/// connected socket in whatever transport the caller relays over.
pub async fn connect<IO>(
    tls: &TlsConfigs,
    addr: SocketAddr,
    service: &str,
    limit: Duration,
    wrap: impl FnOnce(TcpStream) -> IO,
) -> Result<client::TlsStream<IO>, DialError>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let connector = TlsConnector::from(tls.client_for(service)?);
    let attempt = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| DialError::Connect(addr, e))?;
        let _ = tcp.set_nodelay(true);
        let stream =
            connector.connect(session_name(addr), wrap(tcp)).await.map_err(|e| DialError::Handshake(addr, e))?;
        let conn = stream.get_ref().1;
        if resumed(conn) {
            recheck_resumed_server(tls, service, conn.peer_certificates())
                .map_err(|e| DialError::Handshake(addr, e))?;
        }
        Ok(stream)
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Err(DialError::Connect(addr, io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))),
    }
}

/// Whether a completed handshake resumed an earlier session.
pub fn resumed<D>(conn: &rustls::ConnectionCommon<D>) -> bool {
    conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
}

/// Server-side handshake bounded by `limit`; returns the verified peer
/// identity.
pub async fn accept<IO>(
    tls: &TlsConfigs,
    io: IO,
    limit: Duration,
) -> io::Result<(server::TlsStream<IO>, ServiceIdentity)>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let acceptor = TlsAcceptor::from(tls.server());
    let stream = match tokio::time::timeout(limit, acceptor.accept(io)).await {
        Ok(result) => result?,
        Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out")),
    };
    let conn = stream.get_ref().1;
    let peer = match resumed(conn) {
        true => recheck_resumed_peer(tls, conn.peer_certificates())?,
        false => peer_identity(conn.peer_certificates())?,
    };
    Ok((stream, peer))
}

/// rustls does not verify the client's certificate again when a TLS 1.3
/// session resumes, and tickets live for hours: a peer whose leaf has since
/// expired, or whose root was retired, would still get in. Check the chain
/// the session was made with against the roots and the time of now; the
/// peer's identity comes with the check.
fn recheck_resumed_peer(tls: &TlsConfigs, chain: Option<&[CertificateDer<'static>]>) -> io::Result<ServiceIdentity> {
    recheck_chain(tls, chain, webpki::KeyUsage::client_auth())
}

/// A resumed session's chain against the current roots at the time of now.
fn recheck_chain(
    tls: &TlsConfigs,
    chain: Option<&[CertificateDer<'static>]>,
    usage: webpki::KeyUsage,
) -> io::Result<ServiceIdentity> {
    let invalid = |e: rustls::Error| io::Error::new(io::ErrorKind::InvalidData, e);
    let chain = chain.filter(|c| !c.is_empty()).ok_or_else(|| invalid(rustls::Error::NoCertificatesPresented))?;
    tls.trust.verify(&chain[0], &chain[1..], UnixTime::now(), usage).map_err(invalid)
}

/// The same for the server a resumed outbound session reaches: rustls
/// checked its chain when the ticket was issued, not now. Its leaf must
/// still chain to the current roots at the time of now and name `service`.
fn recheck_resumed_server(
    tls: &TlsConfigs,
    service: &str,
    chain: Option<&[CertificateDer<'static>]>,
) -> io::Result<()> {
    let identity = recheck_chain(tls, chain, webpki::KeyUsage::server_auth())?;
    match identity.service == service {
        true => Ok(()),
        false => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            IdentityError::WrongService { expected: service.to_string(), presented: identity.uri() },
        )),
    }
}

/// The identity in a verified (or resumed, hence once verified) peer chain.
fn peer_identity(chain: Option<&[CertificateDer<'static>]>) -> io::Result<ServiceIdentity> {
    let leaf = chain.and_then(|c| c.first()).ok_or_else(|| {
        let err = rustls::Error::NoCertificatesPresented;
        io::Error::new(io::ErrorKind::InvalidData, err)
    })?;
    identity_of(leaf).map_err(|e: IdentityError| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_are_valid_and_distinct_per_endpoint() {
        let a = session_name("127.0.0.1:21000".parse().unwrap());
        let b = session_name("127.0.0.1:21001".parse().unwrap());
        let c = session_name("[::1]:21000".parse().unwrap());
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_str(), "h7f000001-p21000.tessera");
    }
}
