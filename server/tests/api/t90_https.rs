//! HTTPS on `ports.https` and gRPC over TLS on `ports.grpc_tls`, beside the
//! plain ports: the server certificate presented, client certificates
//! required with verify_incoming, and certificates re-read on reload for
//! new handshakes while open connections carry on.

use std::sync::Arc;

use cluster_tests::Http;
use http_body_util::BodyExt;
use http_body_util::Empty;
use hyper::body::Bytes;
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::ServerName;
use serde_json::Value;
use tessera_mesh::agent_tls::Kind;
use tessera_proto::v1::proxy_api_client::ProxyApiClient;
use tessera_proto::v1::WatchProxyRequest;
use tokio::net::TcpStream;

use crate::support::TestServer;
use crate::support::TestTls;

/// A client trusting the test CA, presenting its client certificate when
/// `client_cert`, offering `alpn`.
fn client_config(tls: &TestTls, client_cert: bool, alpn: &[u8]) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tls.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match client_cert {
        true => {
            let chain = CertificateDer::pem_file_iter(tls.path("client.pem")).unwrap().map(|c| c.unwrap()).collect();
            let key = PrivateKeyDer::from_pem_file(tls.path("client-key.pem")).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        false => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![alpn.to_vec()];
    Arc::new(config)
}

fn der(pem: &str) -> Vec<u8> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
}

/// One HTTP/1.1 connection over TLS, kept open across requests.
struct HttpsConn {
    sender: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    /// The certificate the agent presented (DER).
    cert: Vec<u8>,
}

impl HttpsConn {
    async fn open(addr: &str, config: Arc<ClientConfig>) -> std::io::Result<HttpsConn> {
        let tcp = TcpStream::connect(addr).await?;
        // The server certificate carries 127.0.0.1, as `tessera tls cert create` makes it.
        let name = ServerName::try_from("127.0.0.1").unwrap();
        let stream = tokio_rustls::TlsConnector::from(config).connect(name, tcp).await?;
        let cert = stream.get_ref().1.peer_certificates().expect("the agent's certificate")[0].to_vec();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (sender, conn) = hyper::client::conn::http1::handshake(io).await.map_err(std::io::Error::other)?;
        tokio::spawn(conn);
        Ok(HttpsConn { sender, cert })
    }

    async fn get(&mut self, path: &str) -> Result<(u16, String), hyper::Error> {
        let request = hyper::Request::get(path).header("host", "127.0.0.1").body(Empty::new()).unwrap();
        // One request at a time on HTTP/1.1: wait until the last answer is done.
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t90_https_answers_with_the_server_certificate_beside_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::make(dir.path());
    let listener = tls.listener(false);
    let server = TestServer::start_with(&dir.path().join("data"), None, |config| {
        config.https_port = Some(0);
        config.https_tls = listener;
    })
    .await;
    let https = server.https.clone().expect("an HTTPS listener");

    let mut conn = HttpsConn::open(&https, client_config(&tls, false, b"http/1.1")).await.unwrap();
    let server_pem = std::fs::read_to_string(tls.path("server.pem")).unwrap();
    assert_eq!(conn.cert, der(&server_pem), "the configured server certificate");
    let (status, body) = conn.get("/v1/agent/self").await.unwrap();
    assert_eq!(status, 200, "{body}");
    let me: Value = serde_json::from_str(&body).unwrap();
    let port: u16 = https.rsplit_once(':').unwrap().1.parse().unwrap();
    assert_eq!(me["DebugConfig"]["HTTPSPort"], port, "{me}");
    assert_eq!(me["DebugConfig"]["GRPCTLSPort"], -1, "{me}");
    // The same router: KV written over HTTPS reads back over plain HTTP.
    let put = hyper::Request::put("/v1/kv/over-https").header("host", "127.0.0.1").body(Empty::new()).unwrap();
    conn.sender.ready().await.unwrap();
    assert_eq!(conn.sender.send_request(put).await.unwrap().status(), 200);
    assert!(Http::new().kv_value(&server.http, "over-https", "").await.is_some());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t91_verify_incoming_requires_a_client_certificate_of_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::make(dir.path());
    let listener = tls.listener(true);
    let server = TestServer::start_with(&dir.path().join("data"), None, |config| {
        config.https_port = Some(0);
        config.https_tls = listener;
    })
    .await;
    let https = server.https.clone().unwrap();

    // TLS 1.3 clients finish first and hear the server's refusal on their
    // first read: either way no answer comes back.
    let anonymous = match HttpsConn::open(&https, client_config(&tls, false, b"http/1.1")).await {
        Ok(mut conn) => conn.get("/v1/status/leader").await.map(|(status, _)| status).ok(),
        Err(_) => None,
    };
    assert_eq!(anonymous, None, "no client certificate: refused at the handshake");

    let mut conn = HttpsConn::open(&https, client_config(&tls, true, b"http/1.1")).await.unwrap();
    assert_eq!(conn.get("/v1/status/leader").await.unwrap().0, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t92_reload_serves_new_certificates_to_new_handshakes_and_keeps_open_connections() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TestTls::make(dir.path());
    let (https_tls, grpc_tls) = (tls.listener(false), tls.listener(false));
    let server = TestServer::start_with(&dir.path().join("data"), None, |config| {
        config.https_port = Some(0);
        config.https_tls = https_tls;
        config.grpc_tls_port = Some(0);
        config.grpc_tls = grpc_tls;
    })
    .await;
    let https = server.https.clone().unwrap();
    let old_pem = std::fs::read_to_string(tls.path("server.pem")).unwrap();
    let mut open = HttpsConn::open(&https, client_config(&tls, false, b"http/1.1")).await.unwrap();
    assert_eq!(open.get("/v1/status/leader").await.unwrap().0, 200);

    let new_pem = tls.renew(Kind::Server);
    assert_ne!(der(&new_pem), der(&old_pem));
    let reloaded = Http::new().put(&server.http, "/v1/agent/reload", "").await.unwrap();
    assert_eq!(reloaded.0, 200, "{}", reloaded.1);

    let mut fresh = HttpsConn::open(&https, client_config(&tls, false, b"http/1.1")).await.unwrap();
    assert_eq!(fresh.cert, der(&new_pem), "a new handshake sees the new certificate");
    assert_eq!(fresh.get("/v1/status/leader").await.unwrap().0, 200);
    assert_eq!(open.cert, der(&old_pem));
    assert_eq!(open.get("/v1/status/leader").await.unwrap().0, 200, "the open connection carries on");

    // gRPC over TLS: the agent's services, with the new certificate too.
    let grpc_tls = server.grpc_tls.clone().unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let channel = tessera_proto::transport::tls_channel(&grpc_tls, client_config(&tls, false, b"h2"), name).unwrap();
    let refused = ProxyApiClient::new(channel).watch_proxy(WatchProxyRequest { service: String::new() }).await;
    let status = refused.expect_err("no service named");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "ProxyApi answered over TLS: {status:?}");
    server.stop().await;
}
