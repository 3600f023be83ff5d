//! Connections for the checks that may speak TLS (HTTP with an https URL,
//! gRPC with `GRPCUseTLS`, H2PING): a TCP connection, then, when asked, a
//! rustls handshake with Consul's two settings.
//!
//! `TLSServerName` is both the SNI sent and the name the certificate must
//! hold, as Go's `tls.Config.ServerName` is; without it the target's host is
//! both. Doing the handshake here, rather than inside an HTTP client, is
//! what lets the name differ from the URL's host (reqwest and hyper's
//! connectors always take SNI from the URL). `TLSSkipVerify` accepts any
//! certificate chain and name; the handshake signatures are still checked,
//! so the peer holds the key of the certificate it sent.
//!
//! Certificates are verified against the host's trust store (as Go's
//! default is), read once per process.

use std::sync::Arc;
use std::sync::OnceLock;

use crate::transport::verifiers::AnyCertificate;
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::ServerName;
use tessera_mesh::catalog::definition::CheckTls;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

/// A check's connection: plain TCP or TLS over it.
pub type Conn = Either<TcpStream, TlsStream<TcpStream>>;

/// ALPN for an HTTP/1.1 exchange.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";
/// ALPN for HTTP/2 (gRPC, H2PING).
pub const ALPN_H2: &[u8] = b"h2";

/// The TLS side of a check, built once per runner.
#[derive(Clone)]
pub struct TlsDialer {
    config: Arc<ClientConfig>,
    server_name: String,
}

impl TlsDialer {
    /// Verifying against the host's trust store (unless `tls.skip_verify`).
    pub fn new(tls: &CheckTls, alpn: &[u8]) -> Result<TlsDialer, String> {
        TlsDialer::with_roots(tls, alpn, system_roots())
    }

    /// Verifying against `roots` (tests use their own CA).
    pub fn with_roots(tls: &CheckTls, alpn: &[u8], roots: Arc<RootCertStore>) -> Result<TlsDialer, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let mut config = match tls.skip_verify {
            true => builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyCertificate::new(provider))),
            false if roots.is_empty() => return Err("no trusted root certificates were found on this host".into()),
            false => builder.with_root_certificates(roots),
        }
        .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        Ok(TlsDialer { config: Arc::new(config), server_name: tls.server_name.clone() })
    }

    /// The TLS handshake over `tcp` to `host` (the name in the target).
    pub async fn handshake(&self, tcp: TcpStream, host: &str) -> Result<TlsStream<TcpStream>, String> {
        let name = if self.server_name.is_empty() { host } else { &self.server_name };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        let server_name =
            ServerName::try_from(name.to_string()).map_err(|_| format!("{name:?} is not a valid TLS server name"))?;
        let connector = tokio_rustls::TlsConnector::from(self.config.clone());
        connector.connect(server_name, tcp).await.map_err(|e| format!("tls: {e}"))
    }
}

/// Opens a connection to `address` (`host:port`), with TLS when `tls` is given.
pub async fn connect(address: &str, tls: Option<&TlsDialer>) -> Result<Conn, String> {
    let tcp = TcpStream::connect(address).await.map_err(|e| format!("dial tcp {address}: {e}"))?;
    match tls {
        None => Ok(Either::Left(tcp)),
        Some(tls) => {
            let host = address.rsplit_once(':').map_or(address, |(host, _)| host);
            Ok(Either::Right(tls.handshake(tcp, host).await?))
        }
    }
}

/// The host's trust store, read once: a certificate that does not parse is
/// skipped, and what could not be read is logged.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::warn!(%error, "reading the host's trusted certificates for TLS checks");
            }
            let mut roots = RootCertStore::empty();
            roots.add_parsable_certificates(found.certs);
            Arc::new(roots)
        })
        .clone()
}

#[cfg(test)]
mod tests;
