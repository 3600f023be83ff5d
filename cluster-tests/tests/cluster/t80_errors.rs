use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::wait_until;
use cluster_tests::Agent;
use cluster_tests::Cluster;
use cluster_tests::Http;

const FORM: Duration = Duration::from_secs(30);

#[test]
fn t80_bad_flags_print_usage_and_exit_1() {
    let out = cli(&["agent", "-no-such-flag"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--no-such-flag") && stderr.contains("Usage"), "{stderr}");

    let out = cli(&["agent", "-server", "-bootstrap-expect", "3", "-retry-join", "127.0.80.9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("-data-dir is required"));

    let out = cli(&["kv", "get", "x", "-http-addr", "127.0.80.250:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn t81_dev_agent_serves_the_kv_cli_and_blocking_queries() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.81.1";
    let mut dev = Agent::new("dev", ip, dir.path(), ["-dev", "-bind", ip, "-client", ip].map(String::from).to_vec());
    dev.start();
    let http = Http::new();
    let addr = dev.http_addr();
    wait_until("the dev agent leads itself", FORM, || {
        let (http, addr) = (&http, &addr);
        async move { http.get(addr, "/v1/status/leader").await.filter(|(_, b)| b.contains("8300")) }
    })
    .await;

    let put = cli(&["kv", "put", "-http-addr", &addr, "app/config", "v1"]);
    assert_eq!(String::from_utf8_lossy(&put.stdout).trim(), "Success! Data written to: app/config");
    let get = cli(&["kv", "get", "-http-addr", &addr, "app/config"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "v1");
    let missing = cli(&["kv", "get", "-http-addr", &addr, "app/none"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&missing.stderr).trim(), "Error! No key exists at: app/none");

    // cas=0 only creates; a stale ModifyIndex is refused.
    let (_, created) = http.put(&addr, "/v1/kv/app/once?cas=0", "a").await.unwrap();
    let (_, again) = http.put(&addr, "/v1/kv/app/once?cas=0", "b").await.unwrap();
    assert_eq!((created.trim(), again.trim()), ("true", "false"));

    // A blocking query on X-Consul-Index returns when the key changes.
    let (index, _) = http.get_indexed(&addr, "/v1/kv/app/config").await.unwrap();
    let watcher = {
        let (http, addr) = (http.clone(), addr.clone());
        tokio::spawn(async move { http.get_json(&addr, &format!("/v1/kv/app/config?index={index}&wait=20s")).await })
    };
    assert!(!watcher.is_finished(), "a blocking query must wait for a change");
    assert!(http.kv_put(&addr, "app/config", "v2").await);
    let changed =
        tokio::time::timeout(Duration::from_secs(10), watcher).await.expect("blocking query woke").unwrap().unwrap();
    assert_eq!(changed[0]["Value"], "djI=");
    assert!(changed[0]["ModifyIndex"].as_u64().unwrap() > index);

    let delete = cli(&["kv", "delete", "-http-addr", &addr, "-recurse", "app/"]);
    assert!(delete.status.success());
    assert_eq!(http.get(&addr, "/v1/kv/app/config").await.unwrap().0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn t82_a_data_dir_from_another_cluster_is_refused_and_left_intact() {
    let mut a = Cluster::servers(82, 1, 1, &[]);
    a.start_all();
    a.wait_leader(FORM).await;
    let http = Http::new();
    assert!(http.kv_put(&a.agents[0].http_addr(), "mine", "1").await);
    wait_until("cluster A recorded its id", FORM, || {
        let log = a.agents[0].log();
        async move { log.contains("cluster id").then_some(()) }
    })
    .await;
    a.agents[0].stop();

    // B's server trusts A's CA: the refusal tested is the cluster id's, past TLS.
    let mut b = Cluster::servers_trusting(83, 1, 1, &[], a.dir.path());
    b.start_all();
    b.wait_leader(FORM).await;
    wait_until("cluster B recorded its id", FORM, || {
        let log = b.agents[0].log();
        async move { log.contains("cluster id").then_some(()) }
    })
    .await;

    // A's server, with A's data dir, pointed at B.
    let node_id_before = std::fs::read_to_string(a.agents[0].data_dir.join("node-id")).unwrap();
    let server = &mut a.agents[0];
    server.args.extend(["-retry-join".to_string(), b.agents[0].rpc_addr()]);
    server.start();
    let status = server.exit_status(FORM).await;
    assert_eq!(status.code(), Some(1), "{}", server.log());
    assert!(server.log().contains("belongs to cluster"), "{}", server.log());
    assert_eq!(std::fs::read_to_string(server.data_dir.join("node-id")).unwrap(), node_id_before);

    // Started alone again, the dir still holds A's data.
    let mut args = server.args.clone();
    args.truncate(args.len() - 2);
    server.args = args;
    server.start();
    a.wait_leader(FORM).await;
    assert_eq!(http.kv_value(&a.agents[0].http_addr(), "mine", "").await.as_deref(), Some("1"));
}
