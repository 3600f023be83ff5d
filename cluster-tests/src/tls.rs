//! The agents' TLS certificates as tests handle them: rotated in place
//! (what an operator does before a reload), and as a new handshake sees them.

use std::path::Path;
use std::process::Command;

use crate::tessera_bin;
use crate::tls_files;

/// Issues a new certificate for `dc`'s servers (or clients) from the CA of
/// [`tls_files`] and moves it and its key into the paths agents were
/// started with, each by a rename (an agent reloading meanwhile reads the
/// old file or the new one, never half of one). Returns the new
/// certificate (DER).
pub fn rotate_cert(dir: &Path, dc: &str, server: bool) -> Vec<u8> {
    let [_, cert, key] = tls_files(dir, dc, server);
    let tls = dir.join("tls");
    let before = pem_names(&tls);
    let role = if server { "-server" } else { "-client" };
    let out = Command::new(tessera_bin())
        .args(["tls", "cert", "create", role, "-dc", dc])
        .current_dir(&tls)
        .output()
        .expect("run tessera tls cert create");
    assert!(out.status.success(), "tessera tls cert create: {}", String::from_utf8_lossy(&out.stderr));
    let made = pem_names(&tls).into_iter().find(|n| !before.contains(n) && !n.ends_with("-key.pem"));
    let made = made.expect("tessera tls cert create made a certificate");
    let made_key = made.replace(".pem", "-key.pem");
    for (from, to) in [(made.as_str(), &cert), (made_key.as_str(), &key)] {
        let staged = format!("{to}.new");
        std::fs::copy(tls.join(from), &staged).expect("stage the new file");
        std::fs::rename(&staged, to).expect("move the new file into place");
    }
    pem_der(Path::new(&cert))
}

fn pem_names(dir: &Path) -> Vec<String> {
    let entries = std::fs::read_dir(dir).expect("the TLS dir");
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|n| n.ends_with(".pem")).collect()
}

/// The first certificate of a PEM file (DER).
pub fn pem_der(path: &Path) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(path).expect("a PEM certificate").as_ref().to_vec()
}

/// The certificate the server port at `addr` presents to a new handshake
/// (as `server.<dc>.consul`, trusting the CA file `ca`).
pub async fn presented_cert(addr: &str, ca: &str, dc: &str) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(ca).expect("the CA file") {
        roots.add(cert.expect("a CA certificate")).expect("a usable CA certificate");
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("reach the server port");
    let name = rustls_pki_types::ServerName::try_from(format!("server.{dc}.consul")).expect("a server name");
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tls = connector.connect(name, tcp).await.expect("a TLS handshake");
    tls.get_ref().1.peer_certificates().expect("a server certificate")[0].as_ref().to_vec()
}
