use std::time::Duration;

use cluster_tests::netns::TestNet;
use cluster_tests::wait_until;
use cluster_tests::Agent;
use cluster_tests::Http;

const SETTLE: Duration = Duration::from_secs(40);

/// A tessera agent on test host `host` of `net`.
fn on_host(net: &TestNet, host: usize, name: &str, dir: &std::path::Path, mut args: Vec<String>) -> Agent {
    let ip = net.host_ip(host);
    args.extend(["-node".into(), name.into(), "-bind".into(), ip.clone(), "-client".into(), ip.clone()]);
    args.extend(["-data-dir".into(), dir.join(name).display().to_string()]);
    let mut agent = Agent::new(name, &ip, dir, args);
    agent.netns = Some(net.ns(host));
    agent
}

#[tokio::test(flavor = "multi_thread")]
async fn t45_servers_and_clients_on_separate_hosts_find_each_other_and_survive_a_cut_off_leader() {
    let net = TestNet::create(45, 5);
    let dir = tempfile::tempdir().unwrap();
    let server_ips: Vec<String> = (1..=3).map(|h| net.host_ip(h)).collect();
    let mut servers: Vec<Agent> = (1..=3)
        .map(|h| {
            let mut args: Vec<String> =
                ["-server", "-bootstrap-expect", "3", "-node-ttl", "3s"].map(String::from).to_vec();
            for peer in server_ips.iter().filter(|p| **p != net.host_ip(h)) {
                args.extend(["-retry-join".into(), peer.clone()]);
            }
            on_host(&net, h, &format!("s{h}"), dir.path(), args)
        })
        .collect();
    servers.iter_mut().for_each(Agent::start);
    let config_dir = dir.path().join("c1.d");
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(config_dir.join("socat.json"), r#"{"service": {"name": "socat", "port": 8181}}"#).unwrap();
    let client_args = |extra: &[&str]| -> Vec<String> {
        let mut args: Vec<String> = vec!["-retry-join".into(), server_ips[0].clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let mut c1 = on_host(&net, 4, "c1", dir.path(), client_args(&["-config-dir", &config_dir.display().to_string()]));
    let mut c2 = on_host(&net, 5, "c2", dir.path(), client_args(&[]));
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
