use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::wait_until;
use cluster_tests::Cluster;
use cluster_tests::Http;
use serde_json::Value;

const FORM: Duration = Duration::from_secs(30);

/// Every running server reports the same three voters and the same leader.
async fn assert_one_cluster_of(cluster: &Cluster, n: usize) {
    let http = Http::new();
    for agent in cluster.running() {
        let config = wait_until("the raft configuration lists every server", FORM, || {
            let http = &http;
            let addr = agent.http_addr();
            async move {
                let config = http.get_json(&addr, "/v1/operator/raft/configuration").await?;
                (config["Servers"].as_array()?.len() == n).then_some(config)
            }
        })
        .await;
        let voters = config["Servers"].as_array().unwrap().iter().filter(|s| s["Voter"] == Value::Bool(true)).count();
        assert_eq!(voters, n, "{}: {config}", agent.name);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t10_three_servers_started_at_once_form_one_cluster_and_replicate() {
    let mut cluster = Cluster::servers(10, 3, 3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    assert_one_cluster_of(&cluster, 3).await;

    let http = Http::new();
    let follower = if leader == 0 { 1 } else { 0 };
    {
        // A write through a follower is forwarded to the leader; a default
        // read anywhere afterwards must see it (linearizable reads).
        let writer = cluster.agents[follower].http_addr();
        assert!(http.kv_put(&writer, "greeting", "hello").await, "write through follower");
        for agent in &cluster.agents {
            assert_eq!(
                http.kv_value(&agent.http_addr(), "greeting", "").await.as_deref(),
                Some("hello"),
                "{}",
                agent.name
            );
        }
    }
    {
        // The status endpoints speak Consul's shapes.
        let peers = http.get_json(&cluster.agents[0].http_addr(), "/v1/status/peers").await.unwrap();
        assert_eq!(peers.as_array().unwrap().len(), 3);
        let (status, headers_body) = http.get(&cluster.agents[2].http_addr(), "/v1/kv/greeting?stale").await.unwrap();
        assert_eq!(status, 200, "{headers_body}");
    }
    {
        // The CLI reads the same through -http-addr.
        let addr = cluster.agents[2].http_addr();
        // Polled: an election under load briefly shows no leader.
        let count = |text: &str, word: &str| text.lines().filter(|l| l.contains(word)).count();
        wait_until("list-peers shows one leader and two followers", FORM, || {
            let addr = &addr;
            async move {
                let peers = cli(&["operator", "raft", "list-peers", "-http-addr", addr]);
                let text = String::from_utf8_lossy(&peers.stdout);
                (peers.status.success() && count(&text, "leader") == 1 && count(&text, "follower") == 2).then_some(())
            }
        })
        .await;
        wait_until("members shows three alive", FORM, || {
            let addr = &addr;
            async move {
                let members = cli(&["members", "-http-addr", addr]);
                (count(&String::from_utf8_lossy(&members.stdout), "alive") == 3).then_some(())
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t11_servers_started_one_by_one_in_any_order_form_exactly_one_cluster() {
    let mut cluster = Cluster::servers(11, 3, 3, &[]);
    let http = Http::new();
    // s3 first, then s1: two servers of three expected must not bootstrap.
    for i in [2, 0] {
        cluster.agents[i].start();
    }
    wait_until("the first two servers see each other", FORM, || {
        let log = cluster.agents[2].log();
        async move { log.contains("waiting for servers to bootstrap").then_some(()) }
    })
    .await;
    for i in [2, 0] {
        // s3 may log its wait before s1's HTTP API is up: wait for an answer.
        let addr = cluster.agents[i].http_addr();
        let (status, body) = wait_until("the server's HTTP API answers", FORM, || {
            let (http, addr) = (&http, &addr);
            async move { http.get(addr, "/v1/status/leader").await }
        })
        .await;
        assert_eq!((status, body.trim()), (200, "\"\""), "no leader before the third server");
    }
    cluster.agents[1].start();
    cluster.wait_leader(FORM).await;
    assert_one_cluster_of(&cluster, 3).await;
    let bootstraps: usize = cluster.agents.iter().map(|a| a.log().matches("bootstrapped the cluster").count()).sum();
    assert_eq!(bootstraps, 1, "exactly one server bootstraps");
}
