//! A small HTTPS server standing in for an agent's HTTPS listener: it
//! answers every request with `["<client certificate's CN>"]` (or
//! `["anonymous"]`), so `tessera catalog datacenters` prints who the CLI
//! was, and it records each request as `<who> <path>`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::Mutex;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::Request;
use hyper::Response;
use hyper_util::rt::TokioIo;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Whether a client certificate is required.
#[derive(Clone, Copy)]
pub enum ClientAuth {
    Optional,
    Required,
}

pub struct Https {
    pub addr: SocketAddr,
    pub paths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Https {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Https {
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }
}

/// Serves on 127.0.0.1:0 with `cert`/`key` from `dir`, trusting client
/// certificates signed by `ca`.
pub async fn start(dir: &Path, cert: &str, key: &str, ca: &str, auth: ClientAuth) -> Https {
    let acceptor = TlsAcceptor::from(Arc::new(config(dir, cert, key, ca, auth)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let paths = Arc::new(Mutex::new(Vec::new()));
    let seen = paths.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            tokio::spawn(serve(acceptor.clone(), tcp, seen.clone()));
        }
    });
    Https { addr, paths, task }
}

fn config(dir: &Path, cert: &str, key: &str, ca: &str, auth: ClientAuth) -> ServerConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from_pem_file(dir.join(ca)).unwrap()).unwrap();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    let verifier = match auth {
        ClientAuth::Optional => verifier.allow_unauthenticated().build().unwrap(),
        ClientAuth::Required => verifier.build().unwrap(),
    };
    let chain = vec![CertificateDer::from_pem_file(dir.join(cert)).unwrap()];
    let key = PrivateKeyDer::from_pem_file(dir.join(key)).unwrap();
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .unwrap()
}

async fn serve(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    // A refused handshake is what some tests expect: nothing to serve.
    let Ok(tls) = acceptor.accept(tcp).await else { return };
    let who = tls.get_ref().1.peer_certificates().and_then(|c| c.first()).map_or("anonymous".to_string(), common_name);
    let service = service_fn(move |request: Request<hyper::body::Incoming>| {
        seen.lock().unwrap().push(format!("{who} {}", request.uri().path()));
        let body = serde_json::to_vec(&[&who]).unwrap();
        async move { Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(body)))) }
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tls), service).await;
}

fn common_name(cert: &CertificateDer<'_>) -> String {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert).unwrap();
    let cn = parsed.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or("");
    cn.to_string()
}
