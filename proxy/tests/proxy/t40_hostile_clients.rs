//! Clients talking TLS straight to the public listener, each with something
//! wrong in its certificate: all refused, each counted under its reason.

use std::sync::Arc;

use rcgen::BasicConstraints;
use rcgen::ExtendedKeyUsagePurpose;
use rcgen::IsCa;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::client::danger::ServerCertVerified;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::PrivateKeyDer;
use rustls::pki_types::ServerName;
use rustls::pki_types::UnixTime;
use rustls::ClientConfig;
use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use tessera_proxy::Leaf;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::support::*;

/// The hostile client does not care who the server is.
#[derive(Debug)]
struct AnyServer(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn client(leaf: Option<&Leaf>) -> TlsConnector {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let config = match leaf {
        Some(leaf) => {
            let chain =
                CertificateDer::pem_slice_iter(leaf.cert_chain_pem.as_bytes()).collect::<Result<_, _>>().unwrap();
            let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    TlsConnector::from(Arc::new(config))
}

/// Connects as `leaf` and returns whether the app's echo came back.
pub async fn echoes(addr: std::net::SocketAddr, leaf: Option<&Leaf>) -> bool {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let Ok(mut tls) = within(client(leaf).connect(ServerName::try_from("socat").unwrap(), tcp)).await else {
        return false;
    };
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    if tls.write_all(b"hello").await.is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    within(tls.read_exact(&mut buf)).await.is_ok() && &buf == b"hello"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_client_certificates_are_refused_by_reason() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let socat = TestProxy::public(snapshot(&ca, "socat"), app, true).await;
    let addr = socat.public.unwrap();

    tracing::info!("--- a proper client gets its echo (the harness works)");
    assert!(echoes(addr, Some(&ca.leaf("web"))).await);

    let other_ca = Ca::new("Someone else's CA");
    let other_domain = Ca::in_trust_domain("Other domain", "99999999-0000-0000-0000-000000000000.consul");
    let expired = ca.leaf_with("web", |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let two_uris = ca.leaf_with("web", |p| p.subject_alt_names.push(uri(&identity("admin").uri())));
    let is_ca = ca.leaf_with("web", |p| p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained));
    let foreign_domain = ca.leaf_with("web", |p| {
        p.subject_alt_names =
            vec![uri("spiffe://99999999-0000-0000-0000-000000000000.consul/ns/default/dc/dc1/svc/web")]
    });
    let agent_uri = ca.leaf_with("web", |p| {
        p.subject_alt_names = vec![uri(&format!("spiffe://{TRUST_DOMAIN}/agent/client/dc/dc1/id/x"))]
    });
    let server_only = ca.leaf_with("web", |p| p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]);

    let cases: Vec<(&str, Option<Leaf>, &str)> = vec![
        ("leaf from another CA", Some(other_ca.leaf("web")), "bad_chain"),
        ("leaf from another trust domain's CA", Some(other_domain.leaf("web")), "bad_chain"),
        ("expired leaf", Some(expired), "expired"),
        ("two URI SANs", Some(two_uris), "bad_identity"),
        ("CA certificate as the leaf", Some(is_ca), "bad_chain"),
        ("identity in another trust domain", Some(foreign_domain), "bad_identity"),
        ("not a service identity", Some(agent_uri), "bad_identity"),
        ("no clientAuth usage", Some(server_only), "bad_chain"),
        ("no client certificate", None, "no_client_cert"),
    ];
    let mut expected = std::collections::HashMap::<&str, u64>::new();
    for (what, leaf, reason) in &cases {
        tracing::info!("--- {what}");
        assert!(!echoes(addr, leaf.as_ref()).await, "{what}: echoed");
        *expected.entry(reason).or_default() += 1;
        let series = format!(r#"tessera_proxy_handshake_failures_total{{direction="inbound",reason="{reason}"}}"#);
        socat.wait_metric(&series, expected[reason]).await;
    }
    for (reason, count) in expected {
        let series = format!(r#"tessera_proxy_handshake_failures_total{{direction="inbound",reason="{reason}"}}"#);
        assert_eq!(socat.metric(&series).await, count, "{reason}");
    }
    assert_eq!(socat.metric(r#"tessera_proxy_handshake_failures_total{direction="inbound",reason="other"}"#).await, 0);
}
