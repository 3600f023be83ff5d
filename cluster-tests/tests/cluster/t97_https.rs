//! HTTPS for the HTTP API (`-https-port`, `tls.https`) and gRPC over TLS
//! for sidecars (`-grpc-tls-port`, `tls.grpc`), from the real binary with
//! certificates `tessera tls` made: the CLI over HTTPS with `-ca-file`,
//! with and without `-client-cert`, and a sidecar through grpc_tls.

use std::path::Path;
use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dev_agent;
use cluster_tests::tls_args;
use cluster_tests::tls_files;
use cluster_tests::wait_until;
use cluster_tests::Agent;
use cluster_tests::Http;
use cluster_tests::Proc;

const SETTLE: Duration = Duration::from_secs(30);

/// A -dev agent on `ip` with the server certificate of `tls_dir`'s CA on
/// the server port, HTTPS on 8501 and gRPC TLS on 8503; `files` go to its
/// config dir.
fn tls_agent(ip: &str, dir: &Path, tls_dir: &Path, files: &[(&str, &str)]) -> Agent {
    let mut agent = dev_agent(ip, dir, files);
    agent.args.extend(tls_args(tls_dir, "dc1", true));
    agent.args.extend(["-https-port", "8501", "-grpc-tls-port", "8503"].map(String::from));
    agent.start();
    agent
}

/// The certificate `tessera tls cert create -server` makes names
/// `server.dc1.consul`, `localhost` and 127.0.0.1, not the agents' 127.0.71.x.
const SERVER_NAME: [&str; 2] = ["-tls-server-name", "server.dc1.consul"];

fn run(args: &[&str]) -> (i32, String, String) {
    let out = cli(&[args, &SERVER_NAME[..]].concat());
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[tokio::test(flavor = "multi_thread")]
async fn t97_the_cli_speaks_https_with_and_without_a_client_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, _, _] = tls_files(dir.path(), "dc1", true);
    let [_, client_cert, client_key] = tls_files(dir.path(), "dc1", false);
    let verifying = "tls {\n  https {\n    verify_incoming = true\n  }\n}\n";
    let mut strict = tls_agent("127.0.71.1", &dir.path().join("strict"), dir.path(), &[("https.hcl", verifying)]);
    let mut open = tls_agent("127.0.71.2", &dir.path().join("open"), dir.path(), &[]);
    let http = Http::new();
    for agent in [&strict, &open] {
        // The plain port stays as configured beside HTTPS.
        http.wait_json(&agent.http_addr(), "/v1/agent/self", SETTLE).await;
    }

    // No verify_incoming: the CA is enough.
    let addr = "https://127.0.71.2:8501";
    let members = wait_until("members over HTTPS", SETTLE, || async {
        let (code, out, _) = run(&["members", "-http-addr", addr, "-ca-file", &ca]);
        (code == 0).then_some(out)
    })
    .await;
    assert!(members.contains("dev") && members.contains("alive"), "{members}");
    assert_eq!(run(&["kv", "put", "-http-addr", addr, "-ca-file", &ca, "greeting", "hello"]).0, 0);
    let (code, out, err) = run(&["kv", "get", "-http-addr", addr, "-ca-file", &ca, "greeting"]);
    assert_eq!((code, out.trim()), (0, "hello"), "{err}");
    // Without the CA (the host's trust store) the agent's certificate is not trusted.
    let (code, _, err) = run(&["members", "-http-addr", addr]);
    assert_ne!(code, 0, "an untrusted certificate must fail: {err}");

    // verify_incoming: refused without a client certificate, answered with one.
    let addr = "https://127.0.71.1:8501";
    let (code, _, err) = run(&["members", "-http-addr", addr, "-ca-file", &ca]);
    assert_ne!(code, 0, "no client certificate must be refused: {err}");
    let with_cert = ["-http-addr", addr, "-ca-file", &ca, "-client-cert", &client_cert, "-client-key", &client_key];
    let (code, out, err) = run(&[&["members"][..], &with_cert].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("dev"), "{out}");
    assert_eq!(run(&[&["kv", "put"][..], &with_cert, &["k", "v"]].concat()).0, 0);
    let (code, out, err) = run(&[&["kv", "get"][..], &with_cert, &["k"]].concat());
    assert_eq!((code, out.trim()), (0, "v"), "{err}");

    strict.stop();
    open.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn t97_a_sidecar_follows_its_agent_over_grpc_tls() {
    let dir = tempfile::tempdir().unwrap();
    let [ca, _, _] = tls_files(dir.path(), "dc1", true);
    let mut agent = tls_agent("127.0.71.3", &dir.path().join("agent"), dir.path(), &[]);
    let http = Http::new();
    http.wait_json(&agent.http_addr(), "/v1/agent/self", SETTLE).await;
    agent.wait_log("created the Connect CA root", SETTLE).await;

    let args = [
        "connect",
        "proxy",
        "-service",
        "web",
        "-upstream",
        "db:127.0.71.3:19197",
        "-http-addr",
        "https://127.0.71.3:8501",
        "-ca-file",
        &ca,
        "-grpc-addr",
        "https://127.0.71.3:8503",
        SERVER_NAME[0],
        SERVER_NAME[1],
    ];
    let sidecar = Proc::tessera(None, &args, dir.path(), dir.path().join("sidecar.log"));
    sidecar.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    let log = sidecar.log();
    assert!(log.contains("TLS Identity: spiffe://") && log.contains("/svc/web"), "{log}");
    drop(sidecar);

    // The gRPC TLS port speaks TLS only.
    let plain = ["connect", "proxy", "-service", "web", "-grpc-addr", "127.0.71.3:8503"];
    let plain = [&plain[..], &["-http-addr", "https://127.0.71.3:8501", "-ca-file", &ca]].concat();
    let (code, _, err) = run(&plain);
    assert_ne!(code, 0, "plaintext to the TLS port must fail");
    assert!(err.contains("cannot reach the agent's gRPC port"), "{err}");
    agent.stop();
}
