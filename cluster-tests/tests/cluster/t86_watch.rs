//! `tessera watch` against a dev agent: printing once, handlers run once per
//! change of the data (not per write) with CONSUL_INDEX set, a service
//! watch that fires when an instance turns critical, and usage errors.

use std::path::Path;
use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dev_agent;
use cluster_tests::wait_until;
use cluster_tests::Http;
use cluster_tests::Proc;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);

/// A handler script that appends its stdin, then the index it was given,
/// to `log`.
fn handler_script(dir: &Path, name: &str, log: &Path) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    let text =
        format!("#!/bin/sh\n{{ cat; echo \"index=$CONSUL_INDEX tessera=$TESSERA_INDEX\"; }} >> {}\n", log.display());
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// The handler runs logged so far: each one's JSON and CONSUL_INDEX.
fn runs(log: &Path) -> Vec<(Value, u64)> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks_exact(2)
        .map(|pair| {
            let json = serde_json::from_str(pair[0]).unwrap_or_else(|e| panic!("{}: {e}", pair[0]));
            let (consul, tessera) = pair[1].split_once(' ').unwrap();
            assert_eq!(consul.strip_prefix("index="), tessera.strip_prefix("tessera="), "{}", pair[1]);
            (json, consul.strip_prefix("index=").unwrap().parse().unwrap())
        })
        .collect()
}

async fn wait_runs(log: &Path, count: usize) -> Vec<(Value, u64)> {
    wait_until(&format!("{count} handler runs in {}", log.display()), SETTLE, || async {
        let runs = runs(log);
        (runs.len() >= count).then_some(runs)
    })
    .await
}

fn failure(args: &[&str]) -> (Option<i32>, String) {
    let out = cli(args);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn t86_watch_usage_errors_exit_1_with_consuls_messages() {
    let cases: [(&[&str], &str); 6] = [
        (&["watch"], "Watch type must be specified"),
        (&["watch", "-type", "bogus"], "Unsupported watch type: bogus"),
        (&["watch", "-type", "key"], "Must specify a single key to watch"),
        (&["watch", "-type", "key", "-key", "k", "-service", "web"], "Invalid parameters: [service]"),
        (&["watch", "-type", "checks", "-service", "web", "-state", "any"], "Cannot specify service and state"),
        (&["watch", "-type", "service", "-service", "web", "-passingonly", "yes"], "Failed to parse passingonly flag"),
    ];
    for (args, message) in cases {
        let (code, stderr) = failure(args);
        assert_eq!(code, Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
    let (code, stderr) = failure(&["watch", "-http-addr", "127.0.0.99:1", "-type", "nodes"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Error querying agent"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn t86_watch_prints_once_and_runs_handlers_once_per_change() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.0.91", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/self", SETTLE).await;
    let a = ["-http-addr", addr.as_str()];

    // Without a handler: the data, indented as Consul prints it, then exit 0.
    let missing = cli(&[&["watch", "-type", "key", "-key", "k"][..], &a].concat());
    assert_eq!((missing.status.code(), String::from_utf8_lossy(&missing.stdout).as_ref()), (Some(0), "null\n"));

    let log = dir.path().join("key-runs.log");
    let handler = handler_script(dir.path(), "key.sh", &log);
    let watch = [&["watch", "-type", "key", "-key", "k"][..], &a, &[handler.as_str()]].concat();
    let proc = Proc::tessera(None, &watch, dir.path(), dir.path().join("watch.log"));
    let first = wait_runs(&log, 1).await;
    assert_eq!(first[0].0, Value::Null, "a missing key is null: {}", proc.log());

    assert!(http.kv_put(&addr, "k", "v1").await);
    let v1 = wait_runs(&log, 2).await;
    assert_eq!(v1[1].0["Key"], "k");
    assert_eq!(v1[1].0["Value"], "djE=", "base64 of v1");
    assert_eq!(v1[1].0["Session"], "", "Go's KVPair shape");
    assert_eq!(v1[1].0["ModifyIndex"].as_u64(), Some(v1[1].1), "CONSUL_INDEX is the write's index");
    // A write elsewhere moves the index, not the data: no run for it.
    assert!(http.kv_put(&addr, "other", "x").await);
    assert!(http.kv_put(&addr, "k", "v2").await);
    let all = wait_runs(&log, 3).await;
    assert_eq!(all[2].0["Value"], "djI=", "the third run is v2, none came for other: {all:?}");

    let now = cli(&[&["watch", "-type", "key", "-key", "k"][..], &a].concat());
    let printed = String::from_utf8_lossy(&now.stdout).into_owned();
    assert!(printed.starts_with("{\n    \"Key\": \"k\",\n    \"CreateIndex\": "), "{printed}");
    assert!(printed.contains("\n    \"Value\": \"djI=\",\n"), "{printed}");

    // A failing handler ends the watch with 1; -shell=false runs it directly.
    let failing = [&["watch", "-type", "key", "-key", "k", "-shell=false"][..], &a, &["sh", "-c", "exit 3"]].concat();
    let (code, stderr) = failure(&failing);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("Error executing handler: exit status 3"), "{stderr}");
    drop(proc);
}

#[tokio::test(flavor = "multi_thread")]
async fn t86_watch_service_passing_only_fires_when_an_instance_turns_critical() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.0.92", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/self", SETTLE).await;
    let web = r#"{"Name": "web", "ID": "web-1", "Port": 80, "Check": {"CheckID": "web-ttl", "TTL": "30s"}}"#;
    assert_eq!(http.put(&addr, "/v1/agent/service/register", web).await.unwrap().0, 200);
    assert_eq!(http.put(&addr, "/v1/agent/check/pass/web-ttl", "").await.unwrap().0, 200);
    http.wait_passing(&addr, "web", 1, SETTLE).await;

    let log = dir.path().join("service-runs.log");
    let handler = handler_script(dir.path(), "service.sh", &log);
    let args = ["watch", "-http-addr", &addr, "-type", "service", "-service", "web", "-passingonly=true", &handler];
    let proc = Proc::tessera(None, &args, dir.path(), dir.path().join("watch.log"));
    let first = wait_runs(&log, 1).await;
    assert_eq!(first[0].0.as_array().map(Vec::len), Some(1), "{:?} {}", first[0].0, proc.log());
    assert_eq!(first[0].0[0]["Service"]["ID"], "web-1");

    assert_eq!(http.put(&addr, "/v1/agent/check/fail/web-ttl", "").await.unwrap().0, 200);
    let turned = wait_until("a run without web-1", SETTLE, || async {
        let runs = runs(&log);
        runs.last().is_some_and(|(v, _)| v == &Value::Array(vec![])).then_some(runs)
    })
    .await;
    assert!(turned.windows(2).all(|w| w[0].0 != w[1].0), "every run is a change: {turned:?}");
    drop(proc);
}
