//! TLS of the listeners an agent serves its own clients on: HTTPS for the
//! HTTP API (`ports.https`) and gRPC for sidecars (`ports.grpc_tls`), as
//! against the server port's ([`super::tls::RpcTls`]). The operator's
//! certificate and key are presented; with `verify_incoming` a client
//! certificate from the CA is required at the handshake. The files are
//! re-read on reload: new handshakes use the new ones, open connections
//! carry on with what they shook hands with.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::RwLock;

use rustls::crypto::CryptoProvider;
use rustls::server::ServerConfig;
use tokio::net::TcpListener;
use tokio_rustls::server::TlsStream;

use super::accept;
use super::accept::Accepted;
use super::tls::ClientAuth;
use super::tls::MinVersion;
use super::tls::TlsError;
use super::tls::TlsFiles;

/// What a listener's TLS is made of (`tls.https` or `tls.grpc` over
/// `tls.defaults`, as resolved by the configuration).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerSettings {
    pub files: TlsFiles,
    pub min_version: MinVersion,
    /// Require a client certificate signed by the CA.
    pub verify_incoming: bool,
}

pub struct ListenerTls {
    what: &'static str,
    settings: ListenerSettings,
    alpn: &'static [&'static [u8]],
    provider: Arc<CryptoProvider>,
    config: RwLock<Arc<ServerConfig>>,
}

impl ListenerTls {
    /// The HTTPS API's: HTTP/2 and HTTP/1.1 offered, as Consul's listener does.
    pub fn https(settings: ListenerSettings) -> Result<ListenerTls, TlsError> {
        ListenerTls::new("HTTPS", settings, &[b"h2", b"http/1.1"])
    }

    /// The agent's gRPC TLS port (gRPC is HTTP/2 only).
    pub fn grpc(settings: ListenerSettings) -> Result<ListenerTls, TlsError> {
        ListenerTls::new("gRPC TLS", settings, &[b"h2"])
    }

    fn new(
        what: &'static str,
        settings: ListenerSettings,
        alpn: &'static [&'static [u8]],
    ) -> Result<ListenerTls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = RwLock::new(Arc::new(build(what, &provider, &settings, alpn)?));
        Ok(ListenerTls { what, settings, alpn, provider, config })
    }

    /// The listener's name in logs and errors (`HTTPS`, `gRPC TLS`).
    pub fn what(&self) -> &'static str {
        self.what
    }

    /// The config new handshakes use.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        self.config.read().expect("listener tls lock").clone()
    }

    /// Re-reads the files; on any error the old config stays in use.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = build(self.what, &self.provider, &self.settings, self.alpn)?;
        *self.config.write().expect("listener tls lock") = Arc::new(config);
        Ok(())
    }
}

fn build(
    what: &str,
    provider: &Arc<CryptoProvider>,
    settings: &ListenerSettings,
    alpn: &[&[u8]],
) -> Result<ServerConfig, TlsError> {
    let identity = super::tls::load_identity(&settings.files)?
        .ok_or_else(|| TlsError::Invalid(format!("{what} needs cert_file and key_file")))?;
    let ca = match settings.verify_incoming {
        true => super::tls::load_ca(&settings.files)?,
        false => Vec::new(),
    };
    let client_auth = match settings.verify_incoming {
        true if ca.is_empty() => {
            return Err(TlsError::Invalid(format!(
                "verify_incoming for {what} needs the CA that signs client certificates: ca_file or ca_path"
            )))
        }
        true => ClientAuth::Required(&ca),
        false => ClientAuth::None,
    };
    super::tls::server_config(provider, settings.min_version, &identity, client_auth, alpn)
}

/// The TLS connections of `listener` as their handshakes finish, under
/// `limits` (see [`accept::accepting`]); a refused handshake is logged and
/// dropped.
pub fn incoming(
    listener: TcpListener,
    tls: Arc<ListenerTls>,
    limits: accept::Limits,
) -> impl futures::Stream<Item = (TlsStream<Accepted>, SocketAddr)> + Send {
    let what = tls.what;
    accept::accepting(listener, what, limits, move |stream, addr| Box::pin(handshake(tls.clone(), stream, addr)))
}

async fn handshake(
    tls: Arc<ListenerTls>,
    stream: Accepted,
    addr: SocketAddr,
) -> Option<(TlsStream<Accepted>, SocketAddr)> {
    match tokio_rustls::TlsAcceptor::from(tls.server_config()).accept(stream).await {
        Ok(stream) => Some((stream, addr)),
        Err(e) => {
            tracing::info!(peer = %addr, error = %e, "{}: TLS handshake refused", tls.what);
            None
        }
    }
}
