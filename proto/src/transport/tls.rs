//! TLS on the server port (8300): the certificates a server or client
//! agent presents, the CA it trusts, and who a peer is once its
//! certificate checked out. Servers present `server.<dc>.<domain>` and
//! verify that name on each other, both ways; client agents trust servers
//! through the CA alone and present a client certificate of their own.
//! The material is re-read on reload: new connections use the new
//! certificates, open ones carry on. Loading files (`load_ca`,
//! `load_identity`) and building a server config (`server_config`) are
//! shared with the HTTPS and gRPC TLS listeners (`listener_tls`).

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::RwLock;

use rustls::client::ClientConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::ServerName;

/// Where an agent's TLS material for the server port comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// PEM files, re-read on reload (`ca_file`/`ca_path`, `cert_file`, `key_file`).
    Files(TlsFiles),
    /// PEM text made in memory (`-dev`).
    Pem { ca: String, cert: Option<String>, key: Option<String> },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub ca_path: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

/// The lowest TLS version accepted and offered (`tls_min_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    #[default]
    Tls12,
    Tls13,
}

impl MinVersion {
    /// Consul's names: `TLSv1_2`, `TLSv1_3` (older ones are refused).
    pub fn parse(name: &str) -> Result<MinVersion, String> {
        match name {
            "" | "TLSv1_2" | "tls12" => Ok(MinVersion::Tls12),
            "TLSv1_3" | "tls13" => Ok(MinVersion::Tls13),
            "TLSv1_0" | "TLSv1_1" | "tls10" | "tls11" => {
                Err(format!("tls_min_version {name}: TLS before 1.2 is not supported"))
            }
            other => Err(format!("tls_min_version: {other:?} is not TLSv1_2 or TLSv1_3")),
        }
    }

    pub(crate) fn versions(self) -> &'static [&'static rustls::SupportedProtocolVersion] {
        static BOTH: [&rustls::SupportedProtocolVersion; 2] = [&rustls::version::TLS13, &rustls::version::TLS12];
        static TLS13_ONLY: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        match self {
            MinVersion::Tls12 => &BOTH,
            MinVersion::Tls13 => &TLS13_ONLY,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> TlsError {
    TlsError::File { path: path.display().to_string(), reason: reason.to_string() }
}

/// What the names on the server port are made of.
#[derive(Debug, Clone)]
pub struct Names {
    pub datacenter: String,
    /// Without the trailing dot (`consul`).
    pub domain: String,
}

impl Names {
    pub fn new(datacenter: &str, domain: &str) -> Names {
        Names { datacenter: datacenter.to_string(), domain: domain.trim_end_matches('.').to_string() }
    }

    /// The name every server's certificate carries and every peer checks.
    pub fn server_name(&self) -> String {
        format!("server.{}.{}", self.datacenter, self.domain)
    }

    /// The name Consul's client agent certificates carry.
    pub fn client_name(&self) -> String {
        format!("client.{}.{}", self.datacenter, self.domain)
    }
}

/// The certificate and key an agent presents.
#[derive(Clone)]
pub(crate) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

/// The server port's TLS: loaded material and the rustls configs made
/// from it, swapped whole on reload.
pub struct RpcTls {
    names: Names,
    source: Source,
    min_version: MinVersion,
    provider: Arc<CryptoProvider>,
    state: RwLock<State>,
}

struct State {
    loaded: Arc<LoadedState>,
    /// More roots a server trusts client certificates from (the Connect
    /// CA's, which signs auto-encrypt certificates).
    extra_roots: Vec<CertificateDer<'static>>,
    /// A certificate got at run time (auto-encrypt), used over the loaded one.
    auto_identity: Option<Identity>,
    configs: Arc<Configs>,
}

/// Everything loaded from a [`Source`], checked.
struct LoadedState {
    ca: Vec<CertificateDer<'static>>,
    identity: Option<Identity>,
}

/// The rustls configs of one moment.
pub struct Configs {
    /// For accepting, when this agent has a certificate (servers).
    pub server: Option<Arc<ServerConfig>>,
    /// For dialing servers.
    pub client: Arc<ClientConfig>,
}

impl RpcTls {
    /// Loads `source`; a server (`needs_identity`) must have a certificate and key.
    pub fn new(
        names: Names,
        source: Source,
        min_version: MinVersion,
        needs_identity: bool,
    ) -> Result<RpcTls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let loaded = load(&source)?;
        if needs_identity && loaded.identity.is_none() {
            return Err(TlsError::Invalid("a server needs cert_file and key_file for the server port".into()));
        }
        let loaded = Arc::new(loaded);
        let configs = Arc::new(build(&provider, min_version, &loaded, &[], None)?);
        let state = State { loaded, extra_roots: Vec::new(), auto_identity: None, configs };
        Ok(RpcTls { names, source, min_version, provider, state: RwLock::new(state) })
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    pub fn configs(&self) -> Arc<Configs> {
        self.state.read().expect("tls state lock").configs.clone()
    }

    /// The CA certificates this agent trusts, PEM (what auto-encrypt hands a client).
    pub fn ca_pems(&self) -> Vec<String> {
        let state = self.state.read().expect("tls state lock");
        state.loaded.ca.iter().map(pem_of).collect()
    }

    /// Re-reads the files; on any error the old material stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let loaded = load(&self.source)?;
        let mut state = self.state.write().expect("tls state lock");
        if state.loaded.identity.is_some() && loaded.identity.is_none() {
            return Err(TlsError::Invalid("the reloaded files have no certificate and key".into()));
        }
        let loaded = Arc::new(loaded);
        state.configs = Arc::new(build(
            &self.provider,
            self.min_version,
            &loaded,
            &state.extra_roots,
            state.auto_identity.as_ref(),
        )?);
        state.loaded = loaded;
        Ok(())
    }

    /// Trusts client certificates signed by `roots` too (PEM; replaces the last set).
    pub fn set_extra_roots(&self, roots: &[String]) -> Result<(), TlsError> {
        let extra =
            roots.iter().map(|pem| parse_certs(pem.as_bytes(), "a Connect root")).collect::<Result<Vec<_>, _>>()?;
        let extra: Vec<CertificateDer<'static>> = extra.into_iter().flatten().collect();
        let mut state = self.state.write().expect("tls state lock");
        if state.extra_roots == extra {
            return Ok(());
        }
        state.configs =
            Arc::new(build(&self.provider, self.min_version, &state.loaded, &extra, state.auto_identity.as_ref())?);
        state.extra_roots = extra;
        Ok(())
    }

    /// Presents this certificate (PEM chain and key) from now on: a client
    /// agent's auto-encrypt certificate.
    pub fn set_identity(&self, chain_pem: &str, key_pem: &str) -> Result<(), TlsError> {
        let identity = identity_from(chain_pem.as_bytes(), key_pem.as_bytes(), "the auto-encrypt certificate")?;
        let mut state = self.state.write().expect("tls state lock");
        state.configs =
            Arc::new(build(&self.provider, self.min_version, &state.loaded, &state.extra_roots, Some(&identity))?);
        state.auto_identity = Some(identity);
        Ok(())
    }

    /// Whether this agent presents a certificate when it dials.
    pub fn has_identity(&self) -> bool {
        let state = self.state.read().expect("tls state lock");
        state.auto_identity.is_some() || state.loaded.identity.is_some()
    }

    /// The name to dial servers by (SNI, and what their certificate must carry).
    pub fn server_name(&self) -> ServerName<'static> {
        ServerName::try_from(self.names.server_name()).expect("a DNS name made of the datacenter and domain")
    }
}

fn pem_of(cert: &CertificateDer<'_>) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

fn load(source: &Source) -> Result<LoadedState, TlsError> {
    match source {
        Source::Pem { ca, cert, key } => {
            let ca = parse_certs(ca.as_bytes(), "the CA")?;
            let identity = match (cert, key) {
                (Some(cert), Some(key)) => Some(identity_from(cert.as_bytes(), key.as_bytes(), "the certificate")?),
                _ => None,
            };
            Ok(LoadedState { ca, identity })
        }
        Source::Files(files) => load_files(files),
    }
}

fn load_files(files: &TlsFiles) -> Result<LoadedState, TlsError> {
    let ca = load_ca(files)?;
    if ca.is_empty() {
        return Err(TlsError::Invalid(
            "no CA certificate for the server port: give ca_file or ca_path (make one with `tessera tls ca create`)"
                .into(),
        ));
    }
    Ok(LoadedState { ca, identity: load_identity(files)? })
}

/// The certificates of `ca_file` and of every file in `ca_path` (none
/// when neither is given).
pub(crate) fn load_ca(files: &TlsFiles) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut ca = Vec::new();
    if let Some(path) = &files.ca_file {
        ca.extend(parse_certs(&read(path)?, &path.display().to_string())?);
    }
    if let Some(dir) = &files.ca_path {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| file_error(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        entries.sort();
        for path in entries {
            ca.extend(parse_certs(&read(&path)?, &path.display().to_string())?);
        }
    }
    Ok(ca)
}

/// `cert_file` and `key_file`: both or neither.
pub(crate) fn load_identity(files: &TlsFiles) -> Result<Option<Identity>, TlsError> {
    match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => Ok(Some(identity_from(&read(cert)?, &read(key)?, &cert.display().to_string())?)),
        (None, None) => Ok(None),
        (Some(_), None) => Err(TlsError::Invalid("cert_file is given without key_file".into())),
        (None, Some(_)) => Err(TlsError::Invalid("key_file is given without cert_file".into())),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| file_error(path, e))
}

fn parse_certs(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Invalid(format!("{what}: not PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid(format!("{what}: no PEM certificate in it")));
    }
    Ok(certs)
}

fn identity_from(chain_pem: &[u8], key_pem: &[u8], what: &str) -> Result<Identity, TlsError> {
    let chain = parse_certs(chain_pem, what)?;
    // The key's text is never put in an error or a log.
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|_| TlsError::Invalid(format!("{what}: the key file holds no PEM private key")))?;
    Ok(Identity { chain, key: Arc::new(key) })
}

pub(crate) fn roots_of(certs: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert.clone()).map_err(|e| TlsError::Invalid(format!("a CA certificate is not usable: {e}")))?;
    }
    Ok(roots)
}

fn build(
    provider: &Arc<CryptoProvider>,
    min_version: MinVersion,
    loaded: &LoadedState,
    extra_roots: &[CertificateDer<'static>],
    auto_identity: Option<&Identity>,
) -> Result<Configs, TlsError> {
    let invalid = |e: rustls::Error| TlsError::Invalid(e.to_string());
    let ca_roots = Arc::new(roots_of(&loaded.ca)?);
    let identity = auto_identity.or(loaded.identity.as_ref());

    let client = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(min_version.versions())
        .map_err(invalid)?
        .with_root_certificates(ca_roots);
    let mut client = match identity {
        Some(id) => client.with_client_auth_cert(id.chain.clone(), id.key.clone_key()).map_err(invalid)?,
        None => client.with_no_client_auth(),
    };
    client.alpn_protocols = vec![b"h2".to_vec()];

    let server = match &loaded.identity {
        None => None,
        Some(id) => {
            let mut trusted = loaded.ca.clone();
            trusted.extend(extra_roots.iter().cloned());
            // A client agent's first call (auto-encrypt) has no certificate
            // yet: which calls need which identity is decided per call.
            let auth = ClientAuth::Optional(&trusted);
            Some(Arc::new(server_config(provider, min_version, id, auth, &[b"h2"])?))
        }
    };
    Ok(Configs { server, client: Arc::new(client) })
}

/// Which client certificates a listener asks for.
pub(crate) enum ClientAuth<'a> {
    /// None asked for.
    None,
    /// Verified against these roots when sent; a caller may send none.
    Optional(&'a [CertificateDer<'static>]),
    /// Required and verified against these roots: no certificate, no connection.
    Required(&'a [CertificateDer<'static>]),
}

/// A rustls server config presenting `identity`: every listener of the
/// agent that speaks TLS is built here.
pub(crate) fn server_config(
    provider: &Arc<CryptoProvider>,
    min_version: MinVersion,
    identity: &Identity,
    client_auth: ClientAuth<'_>,
    alpn: &[&[u8]],
) -> Result<ServerConfig, TlsError> {
    let invalid = |e: rustls::Error| TlsError::Invalid(e.to_string());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(min_version.versions())
        .map_err(invalid)?;
    let builder = match client_auth {
        ClientAuth::None => builder.with_no_client_auth(),
        ClientAuth::Optional(roots) | ClientAuth::Required(roots) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots_of(roots)?), provider.clone());
            let verifier = match client_auth {
                ClientAuth::Optional(_) => verifier.allow_unauthenticated(),
                _ => verifier,
            };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| TlsError::Invalid(e.to_string()))?)
        }
    };
    let mut config = builder.with_single_cert(identity.chain.clone(), identity.key.clone_key()).map_err(invalid)?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}
