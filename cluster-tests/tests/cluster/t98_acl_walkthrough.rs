//! Issue 12: docs/getting-started.md section 6, the walkthrough with
//! `default_policy = "deny"`, word for word on a host of its own (a network
//! namespace, so it keeps the default ports while t95 runs): sidecars
//! started with their service-identity tokens carry traffic; without a
//! token, or with another service's, a sidecar gets no certificate. Then
//! the attacks of the issue, refused with no state change, and a deleted
//! token refused at once, its sidecar's stream ended.

use std::path::Path;
use std::time::Duration;

use cluster_tests::command_in;
use cluster_tests::netns::TestNet;
use cluster_tests::Proc;

use crate::t95_walkthrough::nc_until;
use crate::t95_walkthrough::SOCAT_JSON;
use crate::t95_walkthrough::WEB_JSON;

const SETTLE: Duration = Duration::from_secs(60);
const ACL_DENY: &str = r#"acl { enabled = true default_policy = "deny" }"#;

/// `tessera <args>` on the host as its user types it, `CONSUL_HTTP_TOKEN`
/// exported when given: stdout, stderr and the exit code.
fn tessera(ns: &str, cwd: &Path, token: Option<&str>, args: &[&str]) -> (String, String, Option<i32>) {
    let mut command = command_in(Some(ns), cluster_tests::tessera_bin());
    command.args(args).current_dir(cwd).stdin(std::process::Stdio::null());
    if let Some(token) = token {
        command.env("CONSUL_HTTP_TOKEN", token);
    }
    let out = command.output().expect("run tessera");
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (text(&out.stdout), text(&out.stderr), out.status.code())
}

/// The value of a `Key:   value` line of the CLI's pretty output.
fn field(text: &str, key: &str) -> String {
    let line = text.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap_or_else(|| panic!("{key} in {text}"));
    line[key.len() + 1..].trim().to_string()
}

/// `curl` on the host: status and body. `token` goes as X-Consul-Token.
fn curl(ns: &str, method: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let url = format!("http://127.0.0.1:8500{path}");
    let mut args = vec!["-s", "-X", method, "-w", "\n%{http_code}", "--data-binary", body, url.as_str()];
    let header = token.map(|t| format!("X-Consul-Token: {t}"));
    if let Some(header) = &header {
        args.extend(["-H", header.as_str()]);
    }
    let out = command_in(Some(ns), "curl").args(&args).output().expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A sidecar that must not start: it exits non-zero without a TLS
/// identity, and says why.
fn refused_sidecar(ns: &str, cwd: &Path, token: Option<&str>, service: &str) -> String {
    let mut args = vec!["connect", "proxy", "-sidecar-for", service];
    if let Some(token) = token {
        args.extend(["-token", token]);
    }
    let (out, err, code) = tessera(ns, cwd, None, &args);
    let all = format!("{out}\n{err}");
    assert_ne!(code, Some(0), "the sidecar must not start:\n{all}");
    assert!(!all.contains("TLS Identity"), "no certificate may be handed out:\n{all}");
    all
}

#[tokio::test(flavor = "multi_thread")]
async fn t98_the_walkthrough_with_default_deny() {
    let net = TestNet::create(98, 1);
    let ns = net.ns(1);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::create_dir_all(cwd.join("tessera.d")).unwrap();
    std::fs::write(cwd.join("tessera.d/socat.json"), SOCAT_JSON).unwrap();
    std::fs::write(cwd.join("tessera.d/web.json"), WEB_JSON).unwrap();
    let log = |name: &str| cwd.join(format!("{name}.log"));
    let socat_args = ["-v", "tcp-l:8181,fork", "exec:/bin/cat"];
    let _socat = Proc::spawn(Some(&ns), Path::new("socat"), &socat_args, cwd, log("socat"));
    let agent_args = ["agent", "-dev", "-config-dir", "./tessera.d", "-hcl", ACL_DENY];
    let agent = Proc::tessera(Some(&ns), &agent_args, cwd, log("agent"));
    agent.wait_log("created the Connect CA root", SETTLE).await;

    let (boot, err, code) = tessera(&ns, cwd, None, &["acl", "bootstrap"]);
    assert_eq!(code, Some(0), "{err}");
    let management = field(&boot, "SecretID");
    let made = |description: &str, identity: &str| {
        let args = ["acl", "token", "create", "-description", description, "-service-identity", identity];
        let (out, err, code) = tessera(&ns, cwd, Some(&management), &args);
        assert_eq!(code, Some(0), "{err}");
        (field(&out, "AccessorID"), field(&out, "SecretID"))
    };
    let (_, socat_token) = made("socat", "socat");
    let (web_accessor, web_token) = made("web", "web");
    let allow = tessera(&ns, cwd, Some(&management), &["intention", "create", "-allow", "web", "socat"]);
    assert_eq!((allow.0.as_str(), allow.2), ("Created: web => socat (allow)", Some(0)), "{}", allow.1);

    let anonymous = refused_sidecar(&ns, cwd, None, "socat");
    // Anonymous cannot even see the registration (agent services are filtered by service:read).
    assert!(anonymous.contains("No sidecar proxy registered for socat"), "{anonymous}");
    let wrong = refused_sidecar(&ns, cwd, Some(&web_token), "socat");
    assert!(wrong.contains("lacks permission 'service:write' on \"socat\""), "{wrong}");

    let socat_args = ["connect", "proxy", "-sidecar-for", "socat", "-token", socat_token.as_str()];
    let socat_sidecar = Proc::tessera(Some(&ns), &socat_args, cwd, log("socat-proxy"));
    socat_sidecar.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    assert!(socat_sidecar.log().contains("/svc/socat"), "{}", socat_sidecar.log());
    let web_args = ["connect", "proxy", "-sidecar-for", "web", "-token", web_token.as_str()];
    let web_sidecar = Proc::tessera(Some(&ns), &web_args, cwd, log("web-proxy"));
    web_sidecar.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    nc_until(Some(&ns), 9191, "hello", "hello", SETTLE).await;

    attacks_are_refused(&ns, &web_token);
    deleted_token_stops_working(&ns, cwd, &management, (&web_accessor, &web_token));
    // The sidecar holding it loses its stream: no renewed leaf for a deleted token.
    web_sidecar.wait_log("ACL not found", SETTLE).await;
    assert!(web_sidecar.log().contains("lost the agent's stream"), "{}", web_sidecar.log());
}

/// The issue's list, each refused with Consul's text and changing nothing.
fn attacks_are_refused(ns: &str, web_token: &str) {
    let intentions_before = curl(ns, "GET", "/v1/connect/intentions", Some(web_token), "");
    let roots_before = curl(ns, "GET", "/v1/connect/ca/roots", None, "");
    for token in [None, Some(web_token)] {
        // A live certificate and key for a service registered nowhere.
        let (status, body) = curl(ns, "GET", "/v1/agent/connect/ca/leaf/db", token, "");
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("lacks permission 'service:write' on \"db\""), "{body}");
        // The caller's key as the active root.
        let ca = r#"{"Provider":"consul","Config":{"PrivateKey":"x"}}"#;
        let (status, body) = curl(ns, "PUT", "/v1/connect/ca/configuration", token, ca);
        assert_eq!(status, 403, "{body}");
        // * -> * deny, and a fake db sidecar endpoint.
        let deny_all = r#"{"SourceName":"*","DestinationName":"*","Action":"deny"}"#;
        let (status, body) = curl(ns, "POST", "/v1/connect/intentions", token, deny_all);
        assert_eq!(status, 403, "{body}");
        let fake = r#"{"Name":"db-sidecar-proxy","Kind":"connect-proxy","Port":21999,"Proxy":{"DestinationServiceName":"db"}}"#;
        let (status, body) = curl(ns, "PUT", "/v1/agent/service/register", token, fake);
        assert_eq!(status, 403, "{body}");
        let (status, body) = curl(ns, "DELETE", "/v1/operator/raft/peer?address=127.0.0.1:8300", token, "");
        assert_eq!(status, 403, "{body}");
    }
    let (_, services) = curl(ns, "GET", "/v1/agent/services", Some(web_token), "");
    assert!(!services.contains("db-sidecar-proxy"), "{services}");
    assert_eq!(curl(ns, "GET", "/v1/connect/intentions", Some(web_token), ""), intentions_before);
    assert_eq!(curl(ns, "GET", "/v1/connect/ca/roots", None, ""), roots_before);
    let (status, _) = curl(ns, "GET", "/v1/status/leader", None, "");
    assert_eq!(status, 200, "the raft peer is still there");
    // An unknown secret is not a token.
    let (status, body) = curl(ns, "GET", "/v1/agent/services", Some("not-a-secret"), "");
    assert_eq!((status, body.as_str()), (403, "ACL not found"));
}

fn deleted_token_stops_working(ns: &str, cwd: &Path, management: &str, (accessor, secret): (&str, &str)) {
    let (status, _) = curl(ns, "GET", "/v1/agent/service/web-sidecar-proxy", Some(secret), "");
    assert_eq!(status, 200);
    let deleted = tessera(ns, cwd, Some(management), &["acl", "token", "delete", "-accessor-id", accessor]);
    assert_eq!(deleted.2, Some(0), "{}", deleted.1);
    let (status, body) = curl(ns, "GET", "/v1/agent/service/web-sidecar-proxy", Some(secret), "");
    assert_eq!((status, body.as_str()), (403, "ACL not found"), "a deleted token is refused at once");
}
