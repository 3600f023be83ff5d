//! `tessera tls ca create` and `tessera tls cert create`: Consul's file
//! names and messages, private keys 0600, the names and key usages of each
//! kind, certificates that chain to the CA, and the refusals.

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::ServerName;
use rustls_pki_types::UnixTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;

use crate::ok;
use crate::stderr;
use crate::stdout;
use crate::tessera;

const DAY: i64 = 86_400;

fn mode(dir: &Path, file: &str) -> u32 {
    std::fs::metadata(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")).permissions().mode() & 0o777
}

fn der(dir: &Path, file: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> X509Certificate<'a> {
    x509_parser::parse_x509_certificate(der).expect("a certificate").1
}

fn lifetime_days(cert: &X509Certificate<'_>) -> i64 {
    (cert.validity().not_after.timestamp() - cert.validity().not_before.timestamp()) / DAY
}

/// The DNS and IP alternative names, in order.
fn sans(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<IpAddr>) {
    let (mut dns, mut ips) = (Vec::new(), Vec::new());
    for name in &cert.subject_alternative_name().unwrap().expect("SANs").value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) if b.len() == 4 => ips.push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap())),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    (dns, ips)
}

/// (serverAuth, clientAuth), or None without the extension.
fn ekus(cert: &X509Certificate<'_>) -> Option<(bool, bool)> {
    cert.extended_key_usage().unwrap().map(|e| (e.value.server_auth, e.value.client_auth))
}

fn is_p256(cert: &X509Certificate<'_>) -> bool {
    let params = cert.public_key().algorithm.parameters.as_ref().expect("EC parameters");
    params.as_oid().unwrap() == x509_parser::oid_registry::OID_EC_P256
}

/// The certificate chains to the CA and holds `name` (webpki, as rustls
/// clients check a server).
fn chains_to(ca: &CertificateDer<'static>, cert: &CertificateDer<'_>, name: &str) {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
    let name = ServerName::try_from(name.to_string()).unwrap();
    verifier.verify_server_cert(cert, &[], &name, &[], UnixTime::now()).expect("chains to the CA");
}

fn assert_private_key(dir: &Path, file: &str) {
    assert_eq!(mode(dir, file), 0o600, "{file}");
    assert!(matches!(PrivateKeyDer::from_pem_file(dir.join(file)), Ok(PrivateKeyDer::Pkcs8(_))), "{file}");
}

#[test]
fn ca_create_writes_consuls_two_files_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = ok(dir.path(), &["tls", "ca", "create"]);
    assert_eq!(out, "==> Saved consul-agent-ca.pem\n==> Saved consul-agent-ca-key.pem\n");
    assert_eq!(mode(dir.path(), "consul-agent-ca.pem"), 0o644);
    assert_private_key(dir.path(), "consul-agent-ca-key.pem");
    let ca = der(dir.path(), "consul-agent-ca.pem");
    let parsed = parse(&ca);
    assert!(parsed.is_ca());
    assert!(is_p256(&parsed));
    assert_eq!(lifetime_days(&parsed), 1825);
    assert!(parsed.subject().to_string().contains("Tessera Agent CA "), "{}", parsed.subject());

    let before = std::fs::read(dir.path().join("consul-agent-ca-key.pem")).unwrap();
    let again = tessera(dir.path(), &["tls", "ca", "create"], &[]);
    assert_eq!(again.status.code(), Some(1));
    assert_eq!(stderr(&again), "consul-agent-ca.pem already exists.\n");
    assert_eq!(std::fs::read(dir.path().join("consul-agent-ca-key.pem")).unwrap(), before);
}

#[test]
fn ca_create_takes_the_domain_days_name_and_constraints() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["tls", "ca", "create", "-domain", "nomad", "-days", "30", "-common-name", "Lab CA", "-name-constraint"];
    assert_eq!(ok(dir.path(), &args), "==> Saved nomad-agent-ca.pem\n==> Saved nomad-agent-ca-key.pem\n");
    let ca = der(dir.path(), "nomad-agent-ca.pem");
    let parsed = parse(&ca);
    assert_eq!(lifetime_days(&parsed), 30);
    assert_eq!(parsed.subject().iter_common_name().next().unwrap().as_str().unwrap(), "Lab CA");
    let constraints = parsed.name_constraints().unwrap().expect("name constraints");
    assert!(constraints.critical);
    // A certificate outside the constraints is refused before any file is written.
    let out = tessera(
        dir.path(),
        &["tls", "cert", "create", "-client", "-domain", "nomad", "-additional-dnsname", "x.example"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(!dir.path().join("dc1-client-nomad-0.pem").exists());
    ok(dir.path(), &["tls", "cert", "create", "-client", "-domain", "nomad"]);
    chains_to(&ca, &der(dir.path(), "dc1-client-nomad-0.pem"), "client.dc1.nomad");
}

#[test]
fn server_certificates_have_consuls_names_usages_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["tls", "ca", "create"]);
    let ca = der(dir.path(), "consul-agent-ca.pem");
    let args = ["tls", "cert", "create", "-server", "-node", "n1", "-additional-dnsname", "db.example"];
    let out = ok(dir.path(), &[&args[..], &["-additional-ipaddress", "10.0.0.9"][..]].concat());
    assert!(out.starts_with("==> WARNING: a server certificate"), "{out}");
    assert!(out.ends_with(
        "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n\
         ==> Saved dc1-server-consul-0.pem\n==> Saved dc1-server-consul-0-key.pem\n"
    ));
    assert_eq!(mode(dir.path(), "dc1-server-consul-0.pem"), 0o644);
    assert_private_key(dir.path(), "dc1-server-consul-0-key.pem");
    let cert = der(dir.path(), "dc1-server-consul-0.pem");
    let parsed = parse(&cert);
    assert_eq!(
        sans(&parsed),
        (
            vec!["db.example".into(), "n1.server.dc1.consul".into(), "server.dc1.consul".into(), "localhost".into()],
            vec![IpAddr::from([10, 0, 0, 9]), IpAddr::from([127, 0, 0, 1])]
        )
    );
    assert_eq!(ekus(&parsed), Some((true, true)));
    assert!(!parsed.is_ca());
    assert!(is_p256(&parsed));
    assert_eq!(lifetime_days(&parsed), 365);
    chains_to(&ca, &cert, "server.dc1.consul");
    chains_to(&ca, &cert, "127.0.0.1");

    // The next free number, and -dc, -domain and -days.
    ok(dir.path(), &["tls", "cert", "create", "-server"]);
    assert!(dir.path().join("dc1-server-consul-1-key.pem").exists());
    std::fs::copy(dir.path().join("consul-agent-ca.pem"), dir.path().join("lab-agent-ca.pem")).unwrap();
    std::fs::copy(dir.path().join("consul-agent-ca-key.pem"), dir.path().join("lab-agent-ca-key.pem")).unwrap();
    ok(dir.path(), &["tls", "cert", "create", "-server", "-dc", "east", "-domain", "lab", "-days", "7"]);
    let other = der(dir.path(), "east-server-lab-0.pem");
    assert_eq!(lifetime_days(&parse(&other)), 7);
    chains_to(&ca, &other, "server.east.lab");
}

#[test]
fn client_and_cli_certificates_have_consuls_names_and_usages() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["tls", "ca", "create"]);
    let ca = der(dir.path(), "consul-agent-ca.pem");
    let out = ok(dir.path(), &["tls", "cert", "create", "-client"]);
    assert_eq!(
        out,
        "==> Using consul-agent-ca.pem and consul-agent-ca-key.pem\n\
         ==> Saved dc1-client-consul-0.pem\n==> Saved dc1-client-consul-0-key.pem\n"
    );
    assert_private_key(dir.path(), "dc1-client-consul-0-key.pem");
    let client = der(dir.path(), "dc1-client-consul-0.pem");
    let parsed = parse(&client);
    assert_eq!(
        sans(&parsed),
        (vec!["client.dc1.consul".into(), "localhost".into()], vec![IpAddr::from([127, 0, 0, 1])])
    );
    assert_eq!(ekus(&parsed), Some((true, true)));
    chains_to(&ca, &client, "client.dc1.consul");

    // A CLI certificate ignores additional DNS names, has no 127.0.0.1 and no EKU (as Consul's).
    ok(dir.path(), &["tls", "cert", "create", "-cli", "-additional-dnsname", "ignored.example"]);
    assert_private_key(dir.path(), "dc1-cli-consul-0-key.pem");
    let cli = der(dir.path(), "dc1-cli-consul-0.pem");
    let parsed = parse(&cli);
    assert_eq!(sans(&parsed), (vec!["cli.dc1.consul".into(), "localhost".into()], vec![]));
    assert_eq!(ekus(&parsed), None);
    chains_to(&ca, &cli, "cli.dc1.consul");
}

#[test]
fn cert_create_refuses_without_a_ca_or_a_single_kind() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["-server"], "Error reading CA: consul-agent-ca.pem: "),
        (&["-client", "-ca", "mine.pem"], "Error reading CA: mine.pem: "),
        (&[], "Please provide either -server, -client, or -cli\n"),
        (&["-server", "-cli"], "Please provide either -server, -client, or -cli\n"),
        (&["-cli", "-node", "n1"], "-node requires -server or -client\n"),
        (&["-server", "-ca", ""], "Please provide the ca\n"),
        (&["-client", "-additional-ipaddress", "10.0.0"], "Invalid IP address for -additional-ipaddress: 10.0.0\n"),
    ];
    for (flags, expected) in cases {
        let out = tessera(dir.path(), &[&["tls", "cert", "create"][..], flags].concat(), &[]);
        assert_eq!(out.status.code(), Some(1), "{flags:?}");
        assert!(stderr(&out).starts_with(expected), "{flags:?}: {}", stderr(&out));
    }
    ok(dir.path(), &["tls", "ca", "create"]);
    std::fs::remove_file(dir.path().join("consul-agent-ca-key.pem")).unwrap();
    let out = tessera(dir.path(), &["tls", "cert", "create", "-server"], &[]);
    assert!(stderr(&out).starts_with("Error reading CA key: consul-agent-ca-key.pem: "), "{}", stderr(&out));
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["consul-agent-ca.pem"], "nothing else was written");
}
