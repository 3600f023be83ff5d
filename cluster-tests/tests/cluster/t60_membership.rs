use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::wait_until;
use cluster_tests::Cluster;
use cluster_tests::Http;

const FORM: Duration = Duration::from_secs(40);

async fn voter_count(http: &Http, addr: &str) -> Option<usize> {
    let config = http.get_json(addr, "/v1/operator/raft/configuration").await?;
    Some(config["Servers"].as_array()?.iter().filter(|s| s["Voter"] == true).count())
}

#[tokio::test(flavor = "multi_thread")]
async fn t60_five_servers_survive_two_failures_and_remove_peer_shrinks_the_configuration() {
    let mut cluster = Cluster::servers(60, 5, 5, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let first = cluster.agents[leader].http_addr();
    wait_until("five voters", FORM, || {
        let (http, first) = (&http, &first);
        async move { (voter_count(http, first).await? == 5).then_some(()) }
    })
    .await;

    // Two of five may fail: the leader and one more.
    let other = (leader + 1) % 5;
    let dead_id = {
        let config = http.get_json(&first, "/v1/operator/raft/configuration").await.unwrap();
        let addr = cluster.agents[other].rpc_addr();
        let servers = config["Servers"].as_array().unwrap().clone();
        servers.iter().find(|s| s["Address"] == addr.as_str()).unwrap()["ID"].as_str().unwrap().to_string()
    };
    cluster.agents[leader].kill9();
    cluster.agents[other].kill9();
    let new_leader = cluster.wait_leader(FORM).await;
    let addr = cluster.agents[new_leader].http_addr();
    assert!(http.kv_put(&addr, "after-two-failures", "ok").await);

    // remove-peer by id (Consul's flag style) through a follower's agent.
    let via = cluster.running().map(|a| a.http_addr()).find(|a| *a != addr).unwrap();
    let out = cli(&["operator", "raft", "remove-peer", &format!("-id={dead_id}"), "-http-addr", &via]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("Removed peer with id \"{dead_id}\"")), "{stdout}");
    wait_until("four voters after remove-peer", FORM, || {
        let (http, addr) = (&http, &addr);
        async move { (voter_count(http, addr).await? == 4).then_some(()) }
    })
    .await;
    let peers = cli(&["operator", "raft", "list-peers", "-http-addr", &via]);
    assert!(!String::from_utf8_lossy(&peers.stdout).contains(&dead_id));

    // Removing an unknown server is an error that names it.
    let out = cli(&["operator", "raft", "remove-peer", "-id=00000000-0000-0000-0000-000000000000", "-http-addr", &via]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("00000000-0000-0000-0000-000000000000"));
    assert!(http.kv_put(&addr, "after-remove", "ok").await);
}

async fn voters(http: &Http, addr: &str) -> Option<Vec<String>> {
    let config = http.get_json(addr, "/v1/operator/raft/configuration").await?;
    let servers = config["Servers"].as_array()?.iter().filter(|s| s["Voter"] == true);
    Some(servers.map(|s| s["Address"].as_str().unwrap_or_default().to_string()).collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn t61_a_server_that_leaves_gives_up_its_vote_and_stops_even_the_leader() {
    let mut cluster = Cluster::servers(61, 4, 4, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let observer = cluster.agents[(leader + 2) % 4].http_addr();
    wait_until("four voters", FORM, || async { (voters(&http, &observer).await?.len() == 4).then_some(()) }).await;

    // A follower, then the leader itself, as `tessera leave` asks them.
    for leaving in [(leader + 1) % 4, leader] {
        let out = cli(&["leave", "-http-addr", &cluster.agents[leaving].http_addr()]);
        assert!(out.status.success(), "leave: {}", String::from_utf8_lossy(&out.stderr));
        let gone = cluster.agents[leaving].rpc_addr();
        wait_until("the leaver is out of the configuration", FORM, || async {
            (!voters(&http, &observer).await?.contains(&gone)).then_some(())
        })
        .await;
        let agent = &mut cluster.agents[leaving];
        wait_until("the leaver has stopped", FORM, || std::future::ready(agent.has_exited().then_some(()))).await;
    }
    // Two voters left, with a leader, and writes still commit.
    assert_eq!(voters(&http, &observer).await.unwrap().len(), 2);
    assert!(http.kv_put(&observer, "after-leaves", "ok").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn t62_autopilot_reports_each_server_health_and_the_failure_tolerance() {
    let mut cluster = Cluster::servers(62, 3, 3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let addr = cluster.agents[leader].http_addr();
    let health = wait_until("three healthy servers", FORM, || async {
        let health = http.get_json(&addr, "/v1/operator/autopilot/health").await?;
        (health["Healthy"] == true && health["Servers"].as_array()?.len() == 3).then_some(health)
    })
    .await;
    assert_eq!(health["FailureTolerance"], 1);
    let leaders = health["Servers"].as_array().unwrap().iter().filter(|s| s["Leader"] == true).count();
    assert_eq!(leaders, 1);
    let config = http.get_json(&addr, "/v1/operator/autopilot/configuration").await.unwrap();
    assert_eq!(config["MaxTrailingLogs"], 250);

    let follower = (leader + 1) % 3;
    let gone = cluster.agents[follower].rpc_addr();
    cluster.agents[follower].kill9();
    let health = wait_until("the killed server reads unhealthy", FORM, || async {
        let health = http.get_json(&addr, "/v1/operator/autopilot/health").await?;
        (health["Healthy"] == false).then_some(health)
    })
    .await;
    assert_eq!(health["FailureTolerance"], 0, "{health}");
    let dead = health["Servers"].as_array().unwrap().iter().find(|s| s["Address"] == gone.as_str()).cloned().unwrap();
    assert_eq!((dead["Healthy"].as_bool(), dead["LastContact"].as_str()), (Some(false), Some("never")));
    let state = http.get_json(&addr, "/v1/operator/autopilot/state").await.unwrap();
    assert_eq!(state["Voters"].as_array().unwrap().len(), 3);
    assert!(!state["Leader"].as_str().unwrap().is_empty());
}

/// The node id and HTTP address of the server the raft configuration says leads.
async fn leader_of(http: &Http, addr: &str) -> Option<String> {
    let config = http.get_json(addr, "/v1/operator/raft/configuration").await?;
    let leader = config["Servers"].as_array()?.iter().find(|s| s["Leader"] == true)?;
    Some(leader["ID"].as_str()?.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn t63_transfer_leader_hands_leadership_to_the_server_named() {
    let mut cluster = Cluster::servers(63, 3, 3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let addr = cluster.agents[leader].http_addr();
    wait_until("three voters", FORM, || {
        let (http, addr) = (&http, &addr);
        async move { (voter_count(http, addr).await? == 3).then_some(()) }
    })
    .await;
    let config = http.get_json(&addr, "/v1/operator/raft/configuration").await.unwrap();
    let servers = config["Servers"].as_array().unwrap().clone();
    let old_id = leader_of(&http, &addr).await.unwrap();
    let target = servers.iter().find(|s| s["ID"] != old_id.as_str()).unwrap();
    let target_id = target["ID"].as_str().unwrap().to_string();
    // Asked through a follower that is not the target: forwarded to the leader.
    let via = cluster
        .running()
        .find(|a| a.rpc_addr() != target["Address"].as_str().unwrap() && a.http_addr() != addr)
        .unwrap()
        .http_addr();

    let out = cli(&["operator", "raft", "transfer-leader", &format!("-id={target_id}"), "-http-addr", &via]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Success\n");
    assert_eq!(leader_of(&http, &via).await.as_deref(), Some(target_id.as_str()), "the one named leads");
    assert!(http.kv_put(&via, "after-transfer", "ok").await);

    // Without -id: any other server.
    let out = cli(&["operator", "raft", "transfer-leader", "-http-addr", &via]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let now = leader_of(&http, &via).await.unwrap();
    assert_ne!(now, target_id);

    let out = cli(&["operator", "raft", "transfer-leader", "-id=no-such-server", "-http-addr", &via]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot find peer no-such-server"));
    let body = http.post(&via, "/v1/operator/raft/transfer-leader", "").await.unwrap();
    assert_eq!((body.0, body.1.trim()), (200, r#"{"Success":true}"#));
}
