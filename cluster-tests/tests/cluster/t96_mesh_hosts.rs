//! Issue 5 across hosts: 3 servers and 2 client hosts in network namespaces;
//! socat and its sidecar on host A, web's sidecar on host B. The
//! walkthrough holds there, through a leader SIGKILL and a root rotation
//! under traffic.

use std::time::Duration;

use cluster_tests::netns::TestNet;
use cluster_tests::Agent;
use cluster_tests::Http;
use cluster_tests::Proc;
use tokio::io::AsyncBufReadExt;
use tokio::io::AsyncWriteExt;

use crate::t95_walkthrough::nc;
use crate::t95_walkthrough::nc_until;
use crate::t95_walkthrough::run;
use crate::t95_walkthrough::PROPAGATION;
use crate::t95_walkthrough::SOCAT_JSON;
use crate::t95_walkthrough::WEB_JSON;

/// Generous: this test shares two cores with the whole parallel suite.
const SETTLE: Duration = Duration::from_secs(60);

/// Agents' client ports also answer on their host's loopback, so the
/// walkthrough's commands run there unchanged.
const ANY: Option<&str> = Some("0.0.0.0");

/// A connection held open from host B through both sidecars (socat as the
/// client), echoing one line at a time.
struct HeldConnection {
    _child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    sent: usize,
}

impl HeldConnection {
    fn open(ns: &str) -> HeldConnection {
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", ns, "socat", "-", "TCP:127.0.0.1:9191"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("socat client");
        let stdin = child.stdin.take().unwrap();
        let lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        HeldConnection { _child: child, stdin, lines, sent: 0 }
    }

    /// One round trip; panics if the echo does not come back within 10 s (a
    /// dropped connection shows at once; the bound covers a loaded machine).
    async fn echo(&mut self) {
        self.sent += 1;
        let line = format!("line {}", self.sent);
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), self.lines.next_line()).await;
        assert_eq!(
            got.ok().and_then(|l| l.ok()).flatten().as_deref(),
            Some(line.as_str()),
            "the held connection dropped"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t96_the_walkthrough_across_hosts_survives_leader_loss_and_root_rotation() {
    let net = TestNet::create(96, 5);
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let mut servers = net.servers(3, ANY, cwd, &[]);
    servers.iter_mut().for_each(Agent::start);
    let (host_a, host_b) = (net.ns(4), net.ns(5));
    let mut clients = Vec::new();
    for (host, name, file, json) in [(4, "a", "socat.json", SOCAT_JSON), (5, "b", "web.json", WEB_JSON)] {
        let config_dir = cwd.join(format!("{name}.d"));
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::write(config_dir.join(file), json).unwrap();
        let args = vec!["-retry-join".into(), net.host_ip(1), "-config-dir".into(), config_dir.display().to_string()];
        let mut agent = net.agent(host, name, ANY, cwd, args);
        agent.start();
        clients.push(agent);
    }
    let http = Http::new();
    let b_http = format!("{}:8500", net.host_ip(5));
    http.wait_json(&b_http, "/v1/agent/connect/ca/leaf/web", SETTLE).await;
    let log = |name: &str| cwd.join(format!("{name}.log"));
    let _socat = Proc::spawn(
        Some(&host_a),
        std::path::Path::new("socat"),
        &["tcp-l:8181,fork", "exec:/bin/cat"],
        cwd,
        log("socat"),
    );
    let socat_proxy =
        Proc::tessera(Some(&host_a), &["connect", "proxy", "-sidecar-for", "socat"], cwd, log("socat-proxy"));
    let web_proxy = Proc::tessera(Some(&host_b), &["connect", "proxy", "-sidecar-for", "web"], cwd, log("web-proxy"));
    socat_proxy.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    web_proxy.wait_log("Proxy loaded config and ready to serve", SETTLE).await;

    eprintln!("=== hello -> hello from host B to socat on host A");
    nc_until(Some(&host_b), 9191, "hello", "hello", SETTLE).await;
    assert_eq!(
        run(Some(&host_b), cwd, &["intention", "create", "-deny", "web", "socat"]).0,
        "Created: web => socat (deny)"
    );
    nc_until(Some(&host_b), 9191, "hello", "", PROPAGATION).await;
    assert_eq!(run(Some(&host_b), cwd, &["intention", "delete", "web", "socat"]).0, "Intention deleted.");
    nc_until(Some(&host_b), 9191, "hello", "hello", PROPAGATION).await;

    eprintln!("=== step 3 on a client host: an ad-hoc proxy for a service not registered there");
    let adhoc = Proc::tessera(
        Some(&host_b),
        &["connect", "proxy", "-service", "api", "-upstream", "socat:9292"],
        cwd,
        log("api-adhoc"),
    );
    adhoc.wait_log("Proxy loaded config and ready to serve", SETTLE).await;
    assert!(adhoc.log().contains("/svc/api"), "{}", adhoc.log());
    nc_until(Some(&host_b), 9292, "adhoc", "adhoc", SETTLE).await;
    let proxies = http.get_json(&b_http, "/v1/health/connect/api").await.unwrap();
    assert_eq!(proxies.as_array().map(Vec::len), Some(0), "an upstream-only proxy is not a Connect endpoint");
    drop(adhoc);

    eprintln!("=== the leader is killed during traffic; connections old and new keep working");
    let mut held = HeldConnection::open(&host_b);
    held.echo().await;
    let leader_host = net.leader_host(&http, &b_http, SETTLE).await;
    servers[leader_host - 1].kill9();
    for n in 0..10 {
        held.echo().await;
        assert_eq!(
            nc(Some(&host_b), 9191, &format!("new {n}")),
            format!("new {n}"),
            "new connection {n} after the kill"
        );
    }

    eprintln!("=== a root rotation under traffic drops nothing");
    cluster_tests::write_rotation_config(cwd);
    let set = run(Some(&host_b), cwd, &["connect", "ca", "set-config", "-config-file", "ca.json"]);
    assert_eq!(set.0, "Configuration updated!");
    let deadline = tokio::time::Instant::now() + SETTLE;
    let rotated = |p: &Proc| {
        p.log().contains("TLS Roots   : [Tessera CA 1, Tessera CA 2]")
            || p.log().contains("TLS Roots   : [Tessera CA 2, Tessera CA 1]")
    };
    let reissued = |p: &Proc| p.log().matches("TLS Identity:").count() >= 2;
    let mut rounds = 0;
    while !(rotated(&socat_proxy) && rotated(&web_proxy) && reissued(&socat_proxy) && reissued(&web_proxy)) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "sidecars did not move to the new root:\n{}\n{}",
            socat_proxy.log(),
            web_proxy.log()
        );
        held.echo().await;
        assert_eq!(nc(Some(&host_b), 9191, "during"), "during", "a new connection failed during the rotation");
        rounds += 1;
    }
    for _ in 0..5 {
        held.echo().await;
        assert_eq!(nc(Some(&host_b), 9191, "after"), "after");
    }
    eprintln!("rotation finished after {rounds} rounds; the held connection echoed {} lines", held.sent);
    drop(clients);
    drop(servers);
}
