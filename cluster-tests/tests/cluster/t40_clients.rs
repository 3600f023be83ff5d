use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::client_agent as client;
use cluster_tests::dns_query;
use cluster_tests::wait_until;
use cluster_tests::Cluster;
use cluster_tests::Http;
use hickory_proto::rr::RecordType;

const SETTLE: Duration = Duration::from_secs(40);

/// Blocking queries on web's health from `index` on, each from the index the
/// last one returned, until an answer shows a critical check. Every wake-up
/// must come with a higher index: a blocking query never answers unchanged.
async fn watch_until_critical(http: &Http, addr: &str, mut index: u64) -> String {
    for _ in 0..20 {
        let query = format!("/v1/health/service/web?index={index}&wait=30s");
        let (woke_at, body) = http.get_indexed(addr, &query).await.expect("answered");
        assert!(woke_at > index, "a watcher answered without a change: {woke_at} after {index}");
        if body.contains("critical") {
            return body;
        }
        index = woke_at;
    }
    panic!("20 wake-ups from {index} on and web never went critical");
}

#[tokio::test(flavor = "multi_thread")]
async fn t40_client_agents_share_the_catalog_survive_the_leader_and_go_critical_when_gone() {
    let mut cluster = Cluster::servers(40, 3, 3, &["-node-ttl", "2s", "-reconnect-timeout", "3s"]);
    cluster.start_all();
    let leader = cluster.wait_leader(SETTLE).await;
    // The clients know only the leader: losing it tests that they learned the others.
    let first_server = cluster.agents[leader].rpc_addr();
    let web = r#"{"service": {"name": "web", "port": 8080}}"#;
    // The clients' TLS is made beside the servers' (one CA).
    let mut c1 = client("c1", "127.0.40.11", &first_server, cluster.dir.path(), &[("web.json", web)]);
    let mut c2 = client("c2", "127.0.40.12", &first_server, cluster.dir.path(), &[]);
    c1.start();
    c2.start();
    let http = Http::new();
    let (a1, a2) = (c1.http_addr(), c2.http_addr());

    eprintln!("=== a service on one client host is found from the other");
    http.wait_passing(&a2, "web", 1, SETTLE).await;
    let rows = http.get_json(&a2, "/v1/catalog/service/web").await.unwrap();
    assert_eq!((rows[0]["Node"].as_str(), rows[0]["Address"].as_str()), (Some("c1"), Some("127.0.40.11")));
    let (_, answers) =
        dns_query("127.0.40.12:8600", "web.service.consul.", RecordType::A).await.expect("client DNS answers");
    assert_eq!(answers, vec!["A 127.0.40.11".to_string()]);
    // c2's own node entry comes with its first sync, which may land after c1's.
    wait_until("members through c2 lists 3 servers and 2 clients alive", SETTLE, || {
        let a2 = &a2;
        async move {
            let text = String::from_utf8_lossy(&cli(&["members", "-http-addr", a2]).stdout).into_owned();
            let alive = text.lines().filter(|l| l.contains("alive")).count();
            (alive == 5 && text.lines().any(|l| l.starts_with("c1") && l.contains("client"))).then_some(())
        }
    })
    .await;

    let detailed = cli(&["members", "-detailed", "-http-addr", &a2]);
    let text = String::from_utf8_lossy(&detailed.stdout).into_owned();
    assert!(text.starts_with("Node") && text.lines().next().unwrap().contains("Tags"), "{text}");
    let line = |name: &str| text.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_string();
    assert!(line("c1").contains("role=node") && line("c1").contains("dc=dc1"), "{text}");
    assert!(text.lines().filter(|l| l.contains("role=consul,") && l.contains("raft_vsn=3")).count() == 3, "{text}");
    assert!(line("c1").contains("build=1.17.0:tessera-"), "{text}");

    let me = http.get_json(&a2, "/v1/agent/self").await.unwrap();
    assert_eq!((me["Config"]["Server"].as_bool(), me["Config"]["NodeName"].as_str()), (Some(false), Some("c2")));
    assert_eq!(me["Member"]["Tags"]["role"], "node");
    assert!(me["Stats"]["raft"].is_null() && me["Stats"]["consul"]["known_servers"].is_string(), "{me}");

    eprintln!("=== the leader dies; registrations through clients still work");
    for c in [&c1, &c2] {
        c.wait_log("learned servers", SETTLE).await;
    }
    cluster.agents[leader].kill9();
    cluster.wait_leader(SETTLE).await;
    let body = r#"{"Name": "api", "Port": 7000}"#;
    wait_until("c1 registers api after the failover", SETTLE, || {
        let (http, a1) = (&http, &a1);
        async move { http.put(a1, "/v1/agent/service/register", body).await.filter(|(code, _)| *code == 200) }
    })
    .await;
    http.wait_passing(&a2, "api", 1, SETTLE).await;

    for c in [&c1, &c2] {
        assert!(!c.log().contains("may only write"), "a client's own catalog writes were refused:\n{}", c.log());
    }

    eprintln!("=== a client host dies: its services turn critical");
    // Watchers parked on c2 at the same index share one call to a server;
    // every one of them must wake with the change.
    let (index, _) = http.get_indexed(&a2, "/v1/health/service/web").await.unwrap();
    // Nodes, services and checks share one index, so another catalog write
    // (a client's health flapping) may wake them first: each follows the
    // index it got until the answer shows web critical.
    let watchers: Vec<_> = (0..3)
        .map(|_| {
            let (http, a2) = (http.clone(), a2.clone());
            tokio::spawn(async move { watch_until_critical(&http, &a2, index).await })
        })
        .collect();
    c1.kill9();
    for watcher in watchers {
        let body = tokio::time::timeout(SETTLE, watcher).await.expect("woke").unwrap();
        assert!(body.contains("critical"), "{body}");
    }
    http.wait_passing(&a2, "web", 0, SETTLE).await;
    let (code, _) = dns_query("127.0.40.12:8600", "web.service.consul.", RecordType::A).await.unwrap();
    assert_eq!(code, "Non-Existent Domain");

    eprintln!("=== reconnect_timeout after it failed, the dead client is reaped from the catalog");
    wait_until("c1 is reaped", SETTLE, || {
        let (http, a2) = (&http, &a2);
        async move {
            let nodes = http.get_json(a2, "/v1/catalog/nodes").await?;
            nodes.as_array()?.iter().all(|n| n["Node"] != "c1").then_some(())
        }
    })
    .await;
    let services = http.get_json(&a2, "/v1/catalog/service/web").await.unwrap();
    assert_eq!(services, serde_json::json!([]), "its services go with it");

    eprintln!("=== leave deregisters cleanly and stops the agent");
    let out = cli(&["leave", "-http-addr", &a2]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(c2.exit_status(SETTLE).await.code(), Some(0));
    let server = cluster.running().next().unwrap().http_addr();
    let nodes = http.get_json(&server, "/v1/catalog/nodes").await.unwrap();
    assert!(nodes.as_array().unwrap().iter().all(|n| n["Node"] != "c2"), "{nodes}");
}
