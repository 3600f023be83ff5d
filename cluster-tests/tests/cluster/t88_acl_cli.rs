//! The ACL CLI against a real agent with ACLs on: bootstrap, a policy from
//! a rules file, a token with a service identity, read back with -token
//! and with CONSUL_HTTP_TOKEN.

use std::process::Command;
use std::process::Stdio;
use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dev_agent;
use cluster_tests::tessera_bin;
use cluster_tests::Http;

const SETTLE: Duration = Duration::from_secs(30);

fn stdout(args: &[&str]) -> String {
    let out = cli(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of a `Key:   value` line of Consul's pretty output.
fn field(text: &str, key: &str) -> String {
    let line = text.lines().find(|l| l.starts_with(&format!("{key}:"))).unwrap_or_else(|| panic!("{key} in {text}"));
    line[key.len() + 1..].trim().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn t88_bootstrap_then_a_policy_from_a_file_and_a_service_identity_token() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.0.81", dir.path(), &[("acl.hcl", "acl {\n  enabled = true\n}\n")]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/status/leader", SETTLE).await;
    let a = ["-http-addr", addr.as_str()];

    let boot = stdout(&[&["acl", "bootstrap"][..], &a].concat());
    let secret = field(&boot, "SecretID");
    assert!(boot.contains("00000000-0000-0000-0000-000000000001 - global-management"), "{boot}");
    assert_eq!(field(&boot, "Description"), "Bootstrap Token (Global Management)");
    let again = cli(&[&["acl", "bootstrap"][..], &a].concat());
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("ACL bootstrap no longer allowed"));

    let rules = dir.path().join("web.hcl");
    std::fs::write(&rules, "service \"web\" {\n  policy = \"write\"\n}\n").unwrap();
    let rules_arg = format!("@{}", rules.display());
    let t = ["-token", secret.as_str()];
    let create = ["acl", "policy", "create", "-name", "web-write", "-rules", &rules_arg, "-description", "web"];
    let policy = stdout(&[&create[..], &a, &t].concat());
    assert_eq!(field(&policy, "Name"), "web-write");
    assert!(policy.contains("service \"web\""), "{policy}");
    // Without the management token the write is refused.
    let refused = cli(&[&create[..], &a].concat());
    assert_eq!(refused.status.code(), Some(1));

    let token_args = [
        "acl",
        "token",
        "create",
        "-description",
        "web token",
        "-policy-name",
        "web-write",
        "-service-identity",
        "web:dc1",
    ];
    let token = stdout(&[&token_args[..], &a, &t].concat());
    let accessor = field(&token, "AccessorID");
    assert_ne!(field(&token, "SecretID"), "<hidden>");
    assert!(token.contains("web (Datacenters: dc1)"), "{token}");

    // Read back with the token from the environment.
    let read = Command::new(tessera_bin())
        .args([&["acl", "token", "read", "-accessor-id", accessor.as_str()][..], &a].concat())
        .env("CONSUL_HTTP_TOKEN", &secret)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(read.status.success(), "{}", String::from_utf8_lossy(&read.stderr));
    let read = String::from_utf8_lossy(&read.stdout).into_owned();
    assert_eq!(field(&read, "SecretID"), "<hidden>");
    assert_eq!(field(&read, "Description"), "web token");
    assert!(read.contains(" - web-write") && read.contains("web (Datacenters: dc1)"), "{read}");
    let me = stdout(&[&["acl", "token", "read", "-self"][..], &a, &t].concat());
    assert_eq!(field(&me, "AccessorID"), field(&boot, "AccessorID"));
    let anonymous = cli(&[&["acl", "policy", "list"][..], &a].concat());
    assert_eq!(anonymous.status.code(), Some(1), "reading ACLs needs acl:read");
    assert!(String::from_utf8_lossy(&anonymous.stderr).contains("lacks permission 'acl:read'"));
    let list = stdout(&[&["acl", "policy", "list"][..], &a, &t].concat());
    assert!(list.contains("global-management") && list.contains("web-write"), "{list}");
    agent.stop();
}
