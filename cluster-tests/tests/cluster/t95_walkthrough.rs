//! Issue 5: docs/getting-started.md (the walkthrough) word for word, on the
//! default ports of 127.0.0.1, with real socat and nc.

use std::path::Path;
use std::time::Duration;

use cluster_tests::command_in;
use cluster_tests::wait_until;
use cluster_tests::Proc;

const SETTLE: Duration = Duration::from_secs(30);

pub const SOCAT_JSON: &str = r#"{
  "service": {
    "name": "socat",
    "port": 8181,
    "connect": { "sidecar_service": {} }
  }
}
"#;

pub const WEB_JSON: &str = r#"{
  "service": {
    "name": "web",
    "port": 8080,
    "connect": {
      "sidecar_service": {
        "proxy": {
          "upstreams": [
            { "destination_name": "socat", "local_bind_port": 9191 }
          ]
        }
      }
    }
  }
}
"#;

/// `tessera <args>` in `cwd`, as a user types it; stdout and exit code.
pub fn run(netns: Option<&str>, cwd: &Path, args: &[&str]) -> (String, Option<i32>) {
    let out =
        command_in(netns, cluster_tests::tessera_bin()).args(args).current_dir(cwd).output().expect("run tessera");
    (String::from_utf8_lossy(&out.stdout).trim().to_string(), out.status.code())
}

/// `echo LINE | nc -N 127.0.0.1 PORT` (in a namespace if given): what came
/// back. `-N` passes the end of input on as a half-close, so nc returns as
/// soon as the far end has echoed and closed (or refused), not after a fixed
/// linger that a slow handshake could outlast.
pub fn nc(netns: Option<&str>, port: u16, line: &str) -> String {
    let script = format!("printf '{line}\\n' | timeout 10 nc -N 127.0.0.1 {port}");
    let out = command_in(netns, "sh").args(["-c", &script]).output().expect("run nc");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// How long an intention change may take to reach the sidecars once the CLI
/// has returned: the write is committed then, but the push to each agent and
/// on to its sidecars follows it (milliseconds here; a person typing the next
/// command takes longer than this bound).
pub const PROPAGATION: Duration = Duration::from_secs(5);

/// Runs [`nc`] until it prints `want`, failing after `timeout`.
pub async fn nc_until(netns: Option<&str>, port: u16, line: &str, want: &str, timeout: Duration) {
    let what = format!("nc {port} <<< {line:?} prints {want:?}");
    wait_until(&what, timeout, || async { (nc(netns, port, line) == want).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t95_the_walkthrough_word_for_word() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    std::fs::create_dir_all(cwd.join("tessera.d")).unwrap();
    let log = |name: &str| cwd.join(format!("{name}.log"));

    eprintln!("=== 1. an application that knows nothing about the mesh");
    let _socat = Proc::spawn(None, Path::new("socat"), &["-v", "tcp-l:8181,fork", "exec:/bin/cat"], cwd, log("socat"));
    eprintln!("=== 0. a running agent");
    let agent = Proc::tessera(None, &["agent", "-dev", "-config-dir", "./tessera.d"], cwd, log("agent"));
    agent.wait_log("created the Connect CA root", SETTLE).await;
    nc_until(None, 8181, "direct", "direct", SETTLE).await;

    eprintln!("=== 2. register it, with a sidecar");
    std::fs::write(cwd.join("tessera.d/socat.json"), SOCAT_JSON).unwrap();
    assert_eq!(run(None, cwd, &["reload"]).1, Some(0));
    let socat_sidecar = Proc::tessera(None, &["connect", "proxy", "-sidecar-for", "socat"], cwd, log("socat-proxy"));
    socat_sidecar.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    let banner = socat_sidecar.log();
    for line in [
        "==> Tessera Connect proxy starting...",
        "Configuration mode: Agent API",
        "Sidecar for ID: socat",
        "Proxy ID: socat-sidecar-proxy",
    ] {
        assert!(banner.contains(line), "missing {line:?} in:\n{banner}");
    }
    let identity_line =
        banner.lines().find(|l| l.contains("TLS Identity: spiffe://")).expect("identity line").to_string();
    assert!(identity_line.ends_with(".consul/ns/default/dc/dc1/svc/socat"), "{identity_line}");

    eprintln!("=== 3. reach it from another identity, ad hoc");
    let web_adhoc =
        Proc::tessera(None, &["connect", "proxy", "-service", "web", "-upstream", "socat:9191"], cwd, log("web-adhoc"));
    web_adhoc.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    let banner = web_adhoc.log();
    for line in [
        "Configuration mode: Flags",
        "Service: web",
        "Upstream: socat => :9191",
        "Public listener: Disabled",
        "/svc/web",
    ] {
        assert!(banner.contains(line), "missing {line:?} in:\n{banner}");
    }
    nc_until(None, 9191, "hello", "hello", SETTLE).await;
    drop(web_adhoc);

    eprintln!("=== 4. declare the dependency instead");
    std::fs::write(cwd.join("tessera.d/web.json"), WEB_JSON).unwrap();
    assert_eq!(run(None, cwd, &["reload"]).1, Some(0));
    let web = Proc::tessera(None, &["connect", "proxy", "-sidecar-for", "web"], cwd, log("web-proxy"));
    web.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    let lines = web.log();
    for line in [
        "127.0.0.1:9191->service:default/socat starting on 127.0.0.1:9191",
        "Proxy loaded config and ready to serve",
        "TLS Roots   : [Tessera CA 1]",
    ] {
        assert!(lines.contains(line), "missing {line:?} in:\n{lines}");
    }
    assert!(lines.contains("TLS Identity: spiffe://") && lines.contains("/svc/web"), "{lines}");
    nc_until(None, 9191, "hello", "hello", SETTLE).await;

    eprintln!("=== 5. control who may talk to whom");
    assert_eq!(
        run(None, cwd, &["intention", "create", "-deny", "web", "socat"]),
        ("Created: web => socat (deny)".into(), Some(0))
    );
    nc_until(None, 9191, "hello", "", PROPAGATION).await; // a denied connection is closed, nothing echoes
    assert_eq!(run(None, cwd, &["intention", "delete", "web", "socat"]), ("Intention deleted.".into(), Some(0)));
    nc_until(None, 9191, "hello", "hello", PROPAGATION).await;

    eprintln!("=== beyond Consul: a deny closes the pair's open connections within a second");
    open_connection_is_closed_by_a_deny(cwd).await;

    eprintln!("=== -register: a flags-mode proxy with a listener registers itself while it runs");
    registered_proxy_comes_and_goes(cwd).await;
}

async fn registered_proxy_comes_and_goes(cwd: &Path) {
    let http = cluster_tests::Http::new();
    let args = [
        "connect",
        "proxy",
        "-service",
        "api",
        "-listen",
        "127.0.0.1:21900",
        "-service-addr",
        "127.0.0.1:8181",
        "-register",
        "-metrics-addr",
        "127.0.95.9:9102",
    ];
    let proxy = Proc::tessera(None, &args, cwd, cwd.join("api-proxy.log"));
    proxy.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    let (status, metrics) = http.get("127.0.95.9:9102", "/metrics").await.expect("metrics endpoint");
    assert_eq!(status, 200);
    for family in ["tessera_proxy_connections_total", "tessera_proxy_handshake_failures_total"] {
        assert!(metrics.contains(family), "{family} missing from:\n{metrics}");
    }
    wait_until("api-proxy passing in the catalog", SETTLE, || {
        let http = &http;
        async move {
            let rows = http.get_json("127.0.0.1:8500", "/v1/health/connect/api?passing").await?;
            (rows.as_array()?.len() == 1 && rows[0]["Service"]["Port"] == 21900).then_some(())
        }
    })
    .await;
    let pid = proxy.pid().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    wait_until("api-proxy deregistered on exit", SETTLE, || {
        let http = &http;
        async move {
            let rows = http.get_json("127.0.0.1:8500", "/v1/catalog/service/api-proxy").await?;
            rows.as_array()?.is_empty().then_some(())
        }
    })
    .await;
}

/// Holds a connection open through the sidecars, denies the pair and
/// expects the connection to end within a second of the CLI returning.
pub async fn open_connection_is_closed_by_a_deny(cwd: &Path) {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    let mut held = tokio::net::TcpStream::connect("127.0.0.1:9191").await.unwrap();
    held.write_all(b"still here\n").await.unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), held.read(&mut buf)).await.unwrap().unwrap();
    assert_eq!(&buf[..n], b"still here\n");
    assert_eq!(run(None, cwd, &["intention", "create", "-deny", "web", "socat"]).1, Some(0));
    let closed = tokio::time::timeout(Duration::from_secs(1), held.read(&mut buf)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the open connection was not closed: {closed:?}");
    assert_eq!(run(None, cwd, &["intention", "delete", "web", "socat"]).1, Some(0));
    nc_until(None, 9191, "again", "again", PROPAGATION).await;
}
