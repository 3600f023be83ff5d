//! The dialer against a real rustls server whose certificate a test CA
//! signed for `web.internal`: the name verified is TLSServerName when set,
//! else the target's host.

use std::net::SocketAddr;

use rcgen::BasicConstraints;
use rcgen::CertificateParams;
use rcgen::CertifiedIssuer;
use rcgen::IsCa;
use rcgen::KeyPair;
use rustls_pki_types::PrivateKeyDer;
use tokio::net::TcpListener;

use super::*;

/// A CA's root store and a listener serving a leaf it signed for `web.internal`.
async fn server_with_ca() -> (Arc<RootCertStore>, SocketAddr) {
    let mut ca_params = CertificateParams::default();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["web.internal".to_string()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()))
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    (Arc::new(roots), addr)
}

async fn dial(roots: &Arc<RootCertStore>, addr: SocketAddr, server_name: &str) -> Result<Conn, String> {
    let tls = CheckTls { skip_verify: false, server_name: server_name.to_string() };
    let dialer = TlsDialer::with_roots(&tls, ALPN_HTTP1, roots.clone()).unwrap();
    connect(&addr.to_string(), Some(&dialer)).await
}

#[tokio::test]
async fn the_certificate_is_verified_for_tls_server_name_else_the_host() {
    let (roots, addr) = server_with_ca().await;
    dial(&roots, addr, "web.internal").await.expect("trusted, and issued to TLSServerName");
    let by_host = dial(&roots, addr, "").await.expect_err("issued to web.internal, not 127.0.0.1");
    assert!(by_host.contains("certificate"), "{by_host}");
    let wrong = dial(&roots, addr, "db.internal").await.expect_err("not issued to db.internal");
    assert!(wrong.contains("certificate"), "{wrong}");
}

#[tokio::test]
async fn skip_verify_accepts_a_certificate_no_root_vouches_for() {
    let (_roots, addr) = server_with_ca().await;
    let no_roots = Arc::new(RootCertStore::empty());
    let verified = CheckTls::default();
    assert!(TlsDialer::with_roots(&verified, ALPN_HTTP1, no_roots.clone()).is_err(), "nothing could be trusted");
    let skip = CheckTls { skip_verify: true, server_name: "anything".into() };
    let dialer = TlsDialer::with_roots(&skip, ALPN_HTTP1, no_roots).unwrap();
    connect(&addr.to_string(), Some(&dialer)).await.expect("any certificate, any name");
}
