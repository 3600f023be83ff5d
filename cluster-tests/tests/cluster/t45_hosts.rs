use std::time::Duration;

use cluster_tests::netns::TestNet;
use cluster_tests::wait_until;
use cluster_tests::Agent;
use cluster_tests::Http;

const SETTLE: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread")]
async fn t45_servers_and_clients_on_separate_hosts_find_each_other_and_survive_a_cut_off_leader() {
    let net = TestNet::create(45, 5);
    let dir = tempfile::tempdir().unwrap();
    let mut servers = net.servers(3, None, dir.path(), &["-node-ttl", "3s"]);
    servers.iter_mut().for_each(Agent::start);
    let config_dir = dir.path().join("c1.d");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("socat.json"), r#"{"service": {"name": "socat", "port": 8181}}"#).unwrap();
    let client_args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = vec!["-retry-join".into(), net.host_ip(1)];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let mut c1 = net.agent(4, "c1", None, dir.path(), client_args(&["-config-dir", &config_dir.display().to_string()]));
    let mut c2 = net.agent(5, "c2", None, dir.path(), client_args(&[]));
    c1.start();
    c2.start();
    let http = Http::new();
    let a2 = c2.http_addr();

    eprintln!("=== socat registered on host 4 is found from host 5");
    http.wait_passing(&a2, "socat", 1, SETTLE).await;
    let rows = http.get_json(&a2, "/v1/catalog/service/socat").await.unwrap();
    assert_eq!(rows[0]["Address"], net.host_ip(4));

    for c in [&c1, &c2] {
        c.wait_log("learned servers", SETTLE).await;
    }

    eprintln!("=== the leader's host is cut off the network");
    let leader_host = net.leader_host(&http, &a2, SETTLE).await;
    net.cut(leader_host);
    let body = r#"{"Name": "web", "Port": 8080}"#;
    wait_until("a registration through c2 succeeds without the old leader", SETTLE, || {
        let (http, a2) = (&http, &a2);
        async move { http.put(a2, "/v1/agent/service/register", body).await.filter(|(code, _)| *code == 200) }
    })
    .await;
    http.wait_passing(&a2, "web", 1, SETTLE).await;
    net.restore(leader_host);
    drop(servers);
}
