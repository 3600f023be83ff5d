//! The rustls client configuration behind the CLI's HTTPS calls, built from
//! [`TlsSettings`] as Consul's API client builds its `tls.Config`: the CA
//! file (or, without one, every certificate under the CA path; without
//! either, the host's trust store), an optional client certificate, the
//! name to verify, and verification off on request.
//!
//! `-tls-server-name` is the name the agent's certificate must hold. The
//! SNI sent stays the address's host (none for an IP address): reqwest
//! takes SNI from the URL, and an agent's single certificate does not
//! depend on it.

use std::path::Path;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::anyhow;
use anyhow::Context;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::ServerName;
use tessera_server::transport::verifiers::AnyCertificate;
use tessera_server::transport::verifiers::NamedServer;

use super::settings::TlsSettings;

/// The client configuration for `settings`; every file problem names the file.
pub fn client_config(settings: &TlsSettings) -> anyhow::Result<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let verifier = server_verifier(settings, provider)?;
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(settings)? {
        Some((certs, key)) => builder.with_client_auth_cert(certs, key).with_context(|| {
            format!(
                "Error loading client certificate {} with key {}",
                settings.client_cert.as_deref().unwrap_or_default(),
                settings.client_key.as_deref().unwrap_or_default()
            )
        })?,
        None => builder.with_no_client_auth(),
    };
    // The client speaks HTTP/1.1 only; an agent offering h2 too must not pick it.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn server_verifier(
    settings: &TlsSettings,
    provider: Arc<CryptoProvider>,
) -> anyhow::Result<Arc<dyn ServerCertVerifier>> {
    if !settings.verify {
        return Ok(Arc::new(AnyCertificate::new(provider)));
    }
    let roots = trusted_roots(settings)?;
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
    Ok(match settings.server_name.as_deref() {
        Some(name) => Arc::new(NamedServer::new(webpki, server_name(name)?)),
        None => webpki,
    })
}

/// What the agent's certificate must chain to: the CA file wins over the
/// CA path (as in Consul); with neither, the host's trust store.
fn trusted_roots(settings: &TlsSettings) -> anyhow::Result<RootCertStore> {
    let certs = match (&settings.ca_file, &settings.ca_path) {
        (Some(file), _) => ca_file(Path::new(file))?,
        (None, Some(dir)) => ca_path(Path::new(dir))?,
        (None, None) => return Ok(host_roots()),
    };
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).context("Error adding a CA certificate")?;
    }
    Ok(roots)
}

/// Every certificate in a PEM file, at least one.
fn ca_file(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = pem_certs(path).with_context(|| format!("Error loading CA file {}", path.display()))?;
    match certs.is_empty() {
        true => Err(anyhow!("Error loading CA file {}: no certificates found", path.display())),
        false => Ok(certs),
    }
}

/// Every file under `dir` (recursively, in name order) must hold PEM
/// certificates, as go-rootcerts requires; at least one must be found.
fn ca_path(dir: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let mut certs = Vec::new();
    for file in files_under(dir).with_context(|| format!("Error loading CA path {}", dir.display()))? {
        let found = pem_certs(&file).with_context(|| format!("Error loading CA path: {}", file.display()))?;
        if found.is_empty() {
            anyhow::bail!("Error loading CA path: no certificates in {}", file.display());
        }
        certs.extend(found);
    }
    match certs.is_empty() {
        true => Err(anyhow!("Error loading CA path {}: no CAs found", dir.display())),
        false => Ok(certs),
    }
}

fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        match entry.is_dir() {
            true => files.extend(files_under(&entry)?),
            false => files.push(entry),
        }
    }
    Ok(files)
}

fn pem_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let text = std::fs::read(path)?;
    Ok(CertificateDer::pem_slice_iter(&text).collect::<Result<_, _>>()?)
}

/// The host's trust store (as Go's default pool), for agents whose
/// certificate a public or company CA signed. Unreadable entries are skipped.
fn host_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    roots
}

type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate chain and key: both or neither.
fn client_identity(settings: &TlsSettings) -> anyhow::Result<Option<Identity>> {
    let (cert, key) = match (&settings.client_cert, &settings.client_key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (cert, key),
        _ => anyhow::bail!("both client cert and client key must be provided"),
    };
    let chain = pem_certs(Path::new(cert)).with_context(|| format!("Error loading client certificate {cert}"))?;
    if chain.is_empty() {
        anyhow::bail!("Error loading client certificate {cert}: no certificates found");
    }
    let text = std::fs::read(key).with_context(|| format!("Error loading client key {key}"))?;
    let key = PrivateKeyDer::from_pem_slice(&text).with_context(|| format!("Error loading client key {key}"))?;
    Ok(Some((chain, key)))
}

/// `-tls-server-name` as a name to verify; a `:port` is dropped, as Consul
/// drops it (`server.dc1.consul:8501`, `[::1]:8501`).
fn server_name(given: &str) -> anyhow::Result<ServerName<'static>> {
    ServerName::try_from(without_port(given).to_string()).map_err(|_| anyhow!("invalid TLS server name {given:?}"))
}

fn without_port(given: &str) -> &str {
    if let Some(bracketed) = given.strip_prefix('[') {
        return bracketed.split_once(']').map_or(bracketed, |(host, _)| host);
    }
    match given.split_once(':') {
        // More than one colon is a bare IPv6 address.
        Some((host, port)) if !port.contains(':') => host,
        _ => given,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TlsSettings {
        TlsSettings {
            ca_file: None,
            ca_path: None,
            client_cert: None,
            client_key: None,
            server_name: None,
            verify: true,
        }
    }

    fn error(settings: &TlsSettings) -> String {
        format!("{:#}", client_config(settings).expect_err("an error"))
    }

    #[test]
    fn server_names_lose_their_port() {
        assert_eq!(server_name("server.dc1.consul:8501").unwrap(), ServerName::try_from("server.dc1.consul").unwrap());
        assert_eq!(server_name("server.dc1.consul").unwrap(), ServerName::try_from("server.dc1.consul").unwrap());
        assert_eq!(server_name("[::1]:8501").unwrap(), ServerName::try_from("::1").unwrap());
        assert_eq!(server_name("::1").unwrap(), ServerName::try_from("::1").unwrap());
        assert_eq!(server_name("127.0.0.1:1").unwrap(), ServerName::try_from("127.0.0.1").unwrap());
        assert!(server_name("bad name").is_err());
    }

    #[test]
    fn bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem").display().to_string();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let junk = junk.display().to_string();

        let e = error(&TlsSettings { ca_file: Some(missing.clone()), ..settings() });
        assert!(e.starts_with(&format!("Error loading CA file {missing}")), "{e}");
        let e = error(&TlsSettings { ca_file: Some(junk.clone()), ..settings() });
        assert_eq!(e, format!("Error loading CA file {junk}: no certificates found"));
        let e = error(&TlsSettings { ca_path: Some(dir.path().display().to_string()), ..settings() });
        assert_eq!(e, format!("Error loading CA path: no certificates in {junk}"));
        let e = error(&TlsSettings { client_cert: Some(junk.clone()), ..settings() });
        assert_eq!(e, "both client cert and client key must be provided");
        let e =
            error(&TlsSettings { client_cert: Some(junk.clone()), client_key: Some(missing.clone()), ..settings() });
        assert_eq!(e, format!("Error loading client certificate {junk}: no certificates found"));
    }

    #[test]
    fn an_empty_ca_path_has_no_cas() {
        let dir = tempfile::tempdir().unwrap();
        let e = error(&TlsSettings { ca_path: Some(dir.path().display().to_string()), ..settings() });
        assert_eq!(e, format!("Error loading CA path {}: no CAs found", dir.path().display()));
    }
}
