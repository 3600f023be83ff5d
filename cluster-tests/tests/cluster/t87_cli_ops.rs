//! CLI commands over single agent calls, against a dev agent: maint,
//! force-leave, version, catalog datacenters, operator autopilot, kv
//! export/import, monitor, info, join.

use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dev_agent;
use cluster_tests::wait_until;
use cluster_tests::Http;
use cluster_tests::Proc;

const SETTLE: Duration = Duration::from_secs(30);

fn stdout(args: &[&str]) -> String {
    let out = cli(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn t87_maint_force_leave_version_datacenters_and_autopilot_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let web = r#"{"service": {"name": "web", "id": "web-1", "port": 80}}"#;
    let mut agent = dev_agent("127.0.87.1", dir.path(), &[("web.json", web)]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/service/web-1", SETTLE).await;
    let a = ["-http-addr", addr.as_str()];

    assert_eq!(
        stdout(&[&["maint", "-enable", "-reason", "upgrading"][..], &a].concat()),
        "Node entered maintenance mode\n"
    );
    let listed = stdout(&[&["maint"][..], &a].concat());
    assert!(listed.contains("Node:") && listed.contains("Reason: upgrading"), "{listed}");
    let service = [&["maint", "-enable", "-service", "web-1"][..], &a].concat();
    assert_eq!(stdout(&service), "Service entered maintenance mode: web-1\n");
    wait_until("web fails while in maintenance", SETTLE, || async {
        let entries = http.get_json(&addr, "/v1/health/service/web?passing").await?;
        entries.as_array()?.is_empty().then_some(())
    })
    .await;
    assert_eq!(stdout(&[&["maint", "-disable"][..], &a].concat()), "Node left maintenance mode\n");
    assert_eq!(
        stdout(&[&["maint", "-disable", "-service", "web-1"][..], &a].concat()),
        "Service left maintenance mode: web-1\n"
    );
    let unknown = cli(&[&["maint", "-enable", "-service", "nope"][..], &a].concat());
    assert_eq!(unknown.status.code(), Some(1));

    let body = r#"{"Node": "old-host", "Address": "10.0.0.9"}"#;
    assert_eq!(http.put(&addr, "/v1/catalog/register", body).await.unwrap().0, 200);
    stdout(&[&["force-leave", "-prune", "old-host"][..], &a].concat());
    let nodes = http.get_json(&addr, "/v1/catalog/nodes").await.unwrap();
    assert!(nodes.as_array().unwrap().iter().all(|n| n["Node"] != "old-host"));

    assert!(stdout(&["version"]).contains("Consul API 1.17.0"));
    assert_eq!(stdout(&[&["catalog", "datacenters"][..], &a].concat()), "dc1\n");
    let config = stdout(&[&["operator", "autopilot", "get-config"][..], &a].concat());
    assert!(config.contains("MaxTrailingLogs = 250"), "{config}");
    let state = stdout(&[&["operator", "autopilot", "state"][..], &a].concat());
    assert!(state.contains("Healthy: true") && state.contains("Failure Tolerance: 0"), "{state}");
}

#[tokio::test(flavor = "multi_thread")]
async fn t88_kv_export_and_import_round_trip_consuls_json() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.88.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/self", SETTLE).await;
    let a = ["-http-addr", addr.as_str()];
    for (key, value, flags) in [("app/color", "blue", "0"), ("app/size", "10", "42"), ("other/x", "y", "0")] {
        stdout(&[&["kv", "put", "-flags", flags, key, value][..], &a].concat());
    }
    let exported = stdout(&[&["kv", "export", "app/"][..], &a].concat());
    let entries: serde_json::Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 2, "{exported}");
    assert_eq!(entries[1]["key"], "app/size");
    assert_eq!(entries[1]["flags"], 42);
    assert_eq!(entries[1]["value"], "MTA=", "base64 of 10");
    assert!(exported.contains("\n\t{"), "tab-indented as Consul's: {exported}");

    let file = dir.path().join("export.json");
    std::fs::write(&file, &exported).unwrap();
    let data = format!("@{}", file.display());
    let imported = stdout(&[&["kv", "import", "-prefix", "copy/"][..], &a, &[data.as_str()]].concat());
    assert_eq!(imported, "Imported: copy/app/color\nImported: copy/app/size\n");
    assert_eq!(http.kv_value(&addr, "copy/app/size", "").await.as_deref(), Some("10"));
    let bad = cli(&[&["kv", "import"][..], &a, &["not json"]].concat());
    assert_eq!(bad.status.code(), Some(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn t89_monitor_info_and_join_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.89.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/self", SETTLE).await;
    let a = ["-http-addr", addr.as_str()];

    // The agent logs at info; a monitor asks for debug and gets it.
    let plain = ["monitor", "-log-level", "debug", "-http-addr", &addr];
    let monitor = Proc::tessera(None, &plain, dir.path(), dir.path().join("monitor.log"));
    let json = ["monitor", "-log-level", "DEBUG", "-log-json", "-http-addr", &addr];
    let monitor_json = Proc::tessera(None, &json, dir.path(), dir.path().join("monitor-json.log"));
    let check = r#"{"ID": "beat", "Name": "beat", "TTL": "30s"}"#;
    assert_eq!(http.put(&addr, "/v1/agent/check/register", check).await.unwrap().0, 200);
    // Monitors attach asynchronously: change the check until both have seen a change.
    wait_until("both monitors show a debug line", SETTLE, || {
        let (http, addr, monitor, monitor_json) = (&http, &addr, &monitor, &monitor_json);
        async move {
            for status in ["pass", "fail"] {
                http.put(addr, &format!("/v1/agent/check/{status}/beat"), "").await?;
            }
            (monitor.log().contains("[DEBUG]")
                && monitor.log().contains("check status changed")
                && monitor_json.log().contains(r#""@level":"debug""#))
            .then_some(())
        }
    })
    .await;
    let bad = cli(&[&["monitor", "-log-level", "loud"][..], &a].concat());
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("Unknown log level: loud"));

    // -datacenter and -stale reach the agent as ?dc= and ?stale.
    stdout(&[&["kv", "put", "color", "blue"][..], &a].concat());
    assert_eq!(stdout(&[&["kv", "get", "-stale", "-datacenter", "DC1", "color"][..], &a].concat()), "blue\n");
    let other = cli(&[&["kv", "get", "-datacenter", "dc2", "color"][..], &a].concat());
    assert_eq!(other.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&other.stderr).contains("No path to datacenter"));
    assert!(stdout(&[&["operator", "raft", "list-peers", "-stale"][..], &a].concat()).contains("leader"));

    let info = stdout(&[&["info"][..], &a].concat());
    assert!(info.contains("raft:\n") && info.contains("\tstate = Leader\n"), "{info}");
    assert!(info.contains("consul:\n") && info.contains("\tserver = true\n"), "{info}");

    // Joining a server of its own cluster succeeds; a dead address does not.
    let joined = stdout(&[&["join", "127.0.89.1"][..], &a].concat());
    assert_eq!(joined, "Successfully joined cluster by contacting 1 nodes.\n");
    let failed = cli(&[&["join", "127.0.89.2:1"][..], &a].concat());
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr).into_owned();
    assert!(stderr.contains("Error joining address '127.0.89.2:1'") && stderr.contains("Failed to join any nodes."));
    let wan = cli(&[&["join", "-wan", "127.0.89.1"][..], &a].concat());
    assert!(String::from_utf8_lossy(&wan.stderr).contains("WAN join is not supported"));
}

#[tokio::test(flavor = "multi_thread")]
async fn t86_autopilot_set_config_changes_only_the_flags_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.84.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/self", SETTLE).await;
    let a = ["-http-addr", addr.as_str()];
    let set = |flags: &[&str]| stdout(&[&["operator", "autopilot", "set-config"][..], flags, &a].concat());

    assert_eq!(set(&["-max-trailing-logs", "400", "-last-contact-threshold", "350ms"]), "Configuration updated!\n");
    assert_eq!(
        set(&["-cleanup-dead-servers=false", "-min-quorum", "3", "-server-stabilization-time", "30s"]),
        "Configuration updated!\n"
    );
    let config = stdout(&[&["operator", "autopilot", "get-config"][..], &a].concat());
    for line in [
        "CleanupDeadServers = false",
        "LastContactThreshold = 350ms",
        "MaxTrailingLogs = 400",
        "MinQuorum = 3",
        "ServerStabilizationTime = 30s",
        "RedundancyZoneTag = \"\"",
    ] {
        assert!(config.contains(line), "{line} in {config}");
    }
    let bad = cli(&[&["operator", "autopilot", "set-config", "-last-contact-threshold", "soon"][..], &a].concat());
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("Error setting Autopilot configuration") && err.contains("LastContactThreshold"), "{err}");
    let after = stdout(&[&["operator", "autopilot", "get-config"][..], &a].concat());
    assert_eq!(after, config, "a refused change changes nothing");
}
