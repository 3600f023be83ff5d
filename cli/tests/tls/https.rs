//! The CLI's HTTP client over TLS, against a real HTTPS server using the
//! certificates `tessera tls` made: the CA file or path, a client
//! certificate (optional and required), a wrong CA, `-tls-server-name`,
//! the CONSUL_/TESSERA_ environment and the flags' precedence over it.

use std::path::Path;
use std::path::PathBuf;
use std::process::Output;

use tempfile::TempDir;

use crate::ok;
use crate::server::start;
use crate::server::ClientAuth;
use crate::server::Https;
use crate::stderr;
use crate::stdout;
use crate::tessera;

/// A CA with server, client and CLI certificates, and a second CA (with a
/// CLI certificate of its own) that the server does not trust.
struct Pki {
    dir: TempDir,
    other: TempDir,
}

impl Pki {
    fn new() -> Pki {
        let (dir, other) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        for args in [&["ca", "create"][..], &["cert", "create", "-server"], &["cert", "create", "-cli"]] {
            ok(dir.path(), &[&["tls"][..], args].concat());
            ok(other.path(), &[&["tls"][..], args].concat());
        }
        Pki { dir, other }
    }

    fn path(&self, file: &str) -> String {
        self.dir.path().join(file).display().to_string()
    }

    fn other(&self, file: &str) -> String {
        self.other.path().join(file).display().to_string()
    }

    /// The HTTPS server with the server certificate (or, with `cli_cert`,
    /// the CLI one: it has no IP address, only `cli.dc1.consul` and
    /// `localhost`).
    async fn server(&self, auth: ClientAuth, cli_cert: bool) -> Https {
        let (cert, key) = match cli_cert {
            true => ("dc1-cli-consul-0.pem", "dc1-cli-consul-0-key.pem"),
            false => ("dc1-server-consul-0.pem", "dc1-server-consul-0-key.pem"),
        };
        start(self.dir.path(), cert, key, "consul-agent-ca.pem", auth).await
    }
}

/// `tessera catalog datacenters` with `args` and `env`, off the runtime
/// the server runs on.
async fn datacenters(dir: &Path, args: &[String], env: &[(&str, String)]) -> Output {
    let (dir, args, env): (PathBuf, Vec<String>, Vec<(String, String)>) =
        (dir.to_path_buf(), args.to_vec(), env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = ["catalog", "datacenters"].into_iter().chain(args.iter().map(String::as_str)).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        tessera(&dir, &args, &env)
    })
    .await
    .unwrap()
}

fn flags(pairs: &[&str]) -> Vec<String> {
    pairs.iter().map(|s| s.to_string()).collect()
}

#[track_caller]
fn answered(out: &Output, who: &str) {
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(out), stderr(out));
    assert_eq!(stdout(out), format!("{who}\n"));
}

#[track_caller]
fn refused(out: &Output, why: &str) {
    assert_eq!(out.status.code(), Some(1), "{}", stdout(out));
    let text = stderr(out);
    assert!(text.contains("Error connecting to the agent at https://"), "{text}");
    assert!(text.contains(why), "{why:?} not in {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ca_file_verifies_the_agent_and_a_client_certificate_is_presented() {
    let pki = Pki::new();
    let https = pki.server(ClientAuth::Optional, false).await;
    let ca = pki.path("consul-agent-ca.pem");
    let out = datacenters(pki.dir.path(), &flags(&["-http-addr", &https.url(), "-ca-file", &ca]), &[]).await;
    answered(&out, "anonymous");

    let with_cert = [
        "-http-addr",
        &https.url(),
        "-ca-file",
        &ca,
        "-client-cert",
        &pki.path("dc1-cli-consul-0.pem"),
        "-client-key",
        &pki.path("dc1-cli-consul-0-key.pem"),
    ];
    answered(&datacenters(pki.dir.path(), &flags(&with_cert), &[]).await, "cli.dc1.consul");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_requiring_a_client_certificate_refuses_without_one() {
    let pki = Pki::new();
    let https = pki.server(ClientAuth::Required, false).await;
    let base = ["-http-addr".to_string(), https.url(), "-ca-file".into(), pki.path("consul-agent-ca.pem")];
    let out = datacenters(pki.dir.path(), &base, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("Error connecting to the agent at https://"), "{}", stderr(&out));

    // One from a CA the server does not trust is refused too.
    let foreign = [&base[..], &flags(&["-client-cert", &pki.other("dc1-cli-consul-0.pem")])[..]].concat();
    let foreign = [&foreign[..], &flags(&["-client-key", &pki.other("dc1-cli-consul-0-key.pem")])[..]].concat();
    assert_eq!(datacenters(pki.dir.path(), &foreign, &[]).await.status.code(), Some(1));

    let env = [
        ("CONSUL_CLIENT_CERT", pki.path("dc1-cli-consul-0.pem")),
        ("CONSUL_CLIENT_KEY", pki.path("dc1-cli-consul-0-key.pem")),
    ];
    answered(&datacenters(pki.dir.path(), &base, &env).await, "cli.dc1.consul");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_another_ca_fails_verification() {
    let pki = Pki::new();
    let https = pki.server(ClientAuth::Optional, false).await;
    let wrong = flags(&["-http-addr", &https.url(), "-ca-file", &pki.other("consul-agent-ca.pem")]);
    refused(&datacenters(pki.dir.path(), &wrong, &[]).await, "UnknownIssuer");
    // Without any CA, the host's trust store does not know this one either.
    refused(&datacenters(pki.dir.path(), &flags(&["-http-addr", &https.url()]), &[]).await, "UnknownIssuer");
    // A CA path holding the right CA verifies.
    let cas = tempfile::tempdir().unwrap();
    std::fs::copy(pki.path("consul-agent-ca.pem"), cas.path().join("agent-ca.pem")).unwrap();
    let path = flags(&["-http-addr", &https.url(), "-ca-path", &cas.path().display().to_string()]);
    answered(&datacenters(pki.dir.path(), &path, &[]).await, "anonymous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tls_server_name_is_the_name_verified() {
    let pki = Pki::new();
    // The CLI certificate names no IP address: 127.0.0.1 does not match it.
    let https = pki.server(ClientAuth::Optional, true).await;
    let base = flags(&["-http-addr", &https.url(), "-ca-file", &pki.path("consul-agent-ca.pem")]);
    refused(&datacenters(pki.dir.path(), &base, &[]).await, "certificate not valid for name \"127.0.0.1\"");
    let named = [&base[..], &flags(&["-tls-server-name", "cli.dc1.consul"])[..]].concat();
    answered(&datacenters(pki.dir.path(), &named, &[]).await, "anonymous");
    let port_dropped = [&base[..], &flags(&["-tls-server-name", "cli.dc1.consul:8501"])[..]].concat();
    answered(&datacenters(pki.dir.path(), &port_dropped, &[]).await, "anonymous");
    let wrong = [&base[..], &flags(&["-tls-server-name", "server.dc1.consul"])[..]].concat();
    refused(&datacenters(pki.dir.path(), &wrong, &[]).await, "certificate not valid for name \"server.dc1.consul\"");
    let env = [("CONSUL_TLS_SERVER_NAME", "cli.dc1.consul".to_string())];
    answered(&datacenters(pki.dir.path(), &base, &env).await, "anonymous");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_configures_tls_and_flags_win_over_it() {
    let pki = Pki::new();
    let https = pki.server(ClientAuth::Optional, false).await;
    let (right, wrong) = (pki.path("consul-agent-ca.pem"), pki.other("consul-agent-ca.pem"));
    // CONSUL_HTTP_SSL turns a bare address into https.
    let env = [
        ("CONSUL_HTTP_ADDR", https.addr.to_string()),
        ("CONSUL_HTTP_SSL", "true".to_string()),
        ("CONSUL_CACERT", right.clone()),
    ];
    answered(&datacenters(pki.dir.path(), &[], &env).await, "anonymous");
    // CONSUL_HTTP_SSL_VERIFY=false: no CA needed.
    let env = [("CONSUL_HTTP_ADDR", https.url()), ("CONSUL_HTTP_SSL_VERIFY", "false".to_string())];
    answered(&datacenters(pki.dir.path(), &[], &env).await, "anonymous");
    // TESSERA_ wins over CONSUL_ ...
    let env = [("CONSUL_HTTP_ADDR", https.url()), ("CONSUL_CACERT", wrong.clone()), ("TESSERA_CACERT", right.clone())];
    answered(&datacenters(pki.dir.path(), &[], &env).await, "anonymous");
    // ... and a flag over both.
    let env = [("TESSERA_HTTP_ADDR", https.url()), ("TESSERA_CACERT", right.clone())];
    refused(&datacenters(pki.dir.path(), &flags(&["-ca-file", &wrong]), &env).await, "UnknownIssuer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tls_files_are_named() {
    let pki = Pki::new();
    let missing = pki.path("nope.pem");
    let out =
        datacenters(pki.dir.path(), &flags(&["-http-addr", "https://127.0.0.1:1", "-ca-file", &missing]), &[]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("Error loading CA file {missing}")), "{}", stderr(&out));
    let half = flags(&["-http-addr", "https://127.0.0.1:1", "-client-cert", &pki.path("dc1-cli-consul-0.pem")]);
    let out = datacenters(pki.dir.path(), &half, &[]).await;
    assert!(stderr(&out).contains("both client cert and client key must be provided"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_proxy_reaches_the_agent_with_the_same_tls_settings() {
    let pki = Pki::new();
    let https = pki.server(ClientAuth::Required, false).await;
    let args = [
        "connect",
        "proxy",
        "-sidecar-for",
        "web",
        "-http-addr",
        &https.url(),
        "-ca-file",
        &pki.path("consul-agent-ca.pem"),
        "-client-cert",
        &pki.path("dc1-cli-consul-0.pem"),
        "-client-key",
        &pki.path("dc1-cli-consul-0-key.pem"),
    ]
    .map(String::from);
    let dir = pki.dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tessera(&dir, &args, &[])
    })
    .await
    .unwrap();
    // The stand-in's answer is not a service list, so the proxy stops; but it
    // asked over TLS with its client certificate.
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("Error connecting"), "{}", stderr(&out));
    assert_eq!(https.paths.lock().unwrap().first().map(String::as_str), Some("cli.dc1.consul /v1/agent/services"));
}
