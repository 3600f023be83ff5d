//! TLS on the server port: who may call what, refused with a clear error
//! and no state change; agents without TLS material refuse to start.

use std::time::Duration;

use cluster_tests::auto_encrypt_client;
use cluster_tests::cli;
use cluster_tests::client_agent;
use cluster_tests::dev_agent;
use cluster_tests::rpc_channel;
use cluster_tests::tls::pem_der;
use cluster_tests::tls::presented_cert;
use cluster_tests::tls::rotate_cert;
use cluster_tests::tls_args;
use cluster_tests::tls_files;
use cluster_tests::wait_until;
use cluster_tests::Agent;
use cluster_tests::Http;
use tessera_proto::v1::agent_api_client::AgentApiClient;
use tessera_proto::v1::cluster_client::ClusterClient;
use tessera_proto::v1::raft_client::RaftClient;
use tessera_proto::v1::AgentWrite;
use tessera_proto::v1::ApplyRequest;
use tessera_proto::v1::HeartbeatRequest;
use tessera_proto::v1::JoinRequest;
use tessera_proto::v1::RaftPayload;
use tessera_proto::v1::ServerInfo;
use tessera_proto::v1::StatusRequest;

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn t97_only_servers_of_the_cluster_may_make_server_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.97.1", dir.path(), &[]);
    agent.args.extend(tls_args(dir.path(), "dc1", true));
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/self", SETTLE).await;
    assert!(http.kv_put(&addr, "before", "1").await);
    let rpc = agent.rpc_addr();
    let [ca, server_cert, server_key] = tls_files(dir.path(), "dc1", true);
    let [_, client_cert, client_key] = tls_files(dir.path(), "dc1", false);

    // Plaintext to the server port: no answer at all.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{rpc}")).unwrap().connect_lazy();
    let status = ClusterClient::new(plain).status(StatusRequest {}).await;
    assert!(status.is_err(), "plaintext must not be answered");

    // A server certificate of the CA: a server, answered.
    let as_server = rpc_channel(&rpc, "dc1", &ca, Some((&server_cert, &server_key)));
    let reply = ClusterClient::new(as_server).status(StatusRequest {}).await.expect("a server is answered");
    assert!(!reply.into_inner().cluster_id.is_empty());

    // Even a server's command is held to the HTTP API's bounds.
    let big = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, vec![b'x'; 600 * 1024]);
    let oversized = format!(r#"{{"op":"KvSet","key":"planted","value":"{big}"}}"#).into_bytes();
    let as_server = rpc_channel(&rpc, "dc1", &ca, Some((&server_cert, &server_key)));
    let refused = ClusterClient::new(as_server).apply(ApplyRequest { command: oversized }).await;
    let status = refused.expect_err("a value over 512 KiB");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("over the 524288-byte limit"), "{}", status.message());

    // A client agent's certificate calling server-only RPCs: refused by name.
    let as_client = rpc_channel(&rpc, "dc1", &ca, Some((&client_cert, &client_key)));
    let command = br#"{"KvSet":{"key":"planted","value":[]}}"#.to_vec();
    let refused = ClusterClient::new(as_client.clone()).apply(ApplyRequest { command: command.clone() }).await;
    let status = refused.expect_err("a client may not Apply");
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(status.message().contains("Cluster.Apply is for servers"), "{}", status.message());
    let joiner = ServerInfo {
        node_id: "00000000-0000-0000-0000-000000000001".into(),
        name: "rogue".into(),
        rpc_addr: "127.0.97.9:8300".into(),
        datacenter: "dc1".into(),
    };
    let join = ClusterClient::new(as_client.clone()).join(JoinRequest { server: Some(joiner) }).await;
    assert_eq!(join.expect_err("a client may not Join").code(), tonic::Code::PermissionDenied);
    let vote = RaftClient::new(as_client.clone()).vote(RaftPayload { data: vec![], cluster_id: String::new() }).await;
    assert_eq!(vote.expect_err("a client may not vote").code(), tonic::Code::PermissionDenied);
    // A client certificate made for one node (-client -node) acts for it alone.
    let tls_dir = dir.path().join("tls");
    let out = std::process::Command::new(cluster_tests::tessera_bin())
        .args(["tls", "cert", "create", "-client", "-node", "c7"])
        .current_dir(&tls_dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (c7_cert, c7_key) = (tls_dir.join("dc1-client-consul-1.pem"), tls_dir.join("dc1-client-consul-1-key.pem"));
    let (c7_cert, c7_key) = (c7_cert.display().to_string(), c7_key.display().to_string());
    let as_c7 = AgentApiClient::new(rpc_channel(&rpc, "dc1", &ca, Some((&c7_cert, &c7_key))));
    let write = as_c7.clone().sync(AgentWrite { node: "dev".into(), command: vec![] }).await;
    assert_eq!(write.expect_err("c7 may not write for dev").code(), tonic::Code::PermissionDenied);
    as_c7.clone().heartbeat(HeartbeatRequest { node: "c7".into() }).await.expect("its own node");

    // Without any certificate: the same.
    let anonymous = rpc_channel(&rpc, "dc1", &ca, None);
    let apply = ClusterClient::new(anonymous).apply(ApplyRequest { command }).await;
    assert_eq!(apply.expect_err("anonymous may not Apply").code(), tonic::Code::PermissionDenied);

    // A server certificate for another datacenter names no server of this one.
    let [_, dc2_cert, dc2_key] = tls_files(dir.path(), "dc2", true);
    let other_dc = rpc_channel(&rpc, "dc1", &ca, Some((&dc2_cert, &dc2_key)));
    let vote = RaftClient::new(other_dc).vote(RaftPayload { data: vec![], cluster_id: String::new() }).await;
    assert_eq!(vote.expect_err("a dc2 server may not vote in dc1").code(), tonic::Code::PermissionDenied);

    // A certificate from another CA: the handshake itself is refused.
    let other = tempfile::tempdir().unwrap();
    let [_, foreign_cert, foreign_key] = tls_files(other.path(), "dc1", true);
    let foreign = rpc_channel(&rpc, "dc1", &ca, Some((&foreign_cert, &foreign_key)));
    assert!(ClusterClient::new(foreign).status(StatusRequest {}).await.is_err(), "another CA's certificate");
    // Dialing with another CA's trust: this server is not believed.
    let [other_ca, ..] = tls_files(other.path(), "dc1", true);
    let doubting = rpc_channel(&rpc, "dc1", &other_ca, Some((&server_cert, &server_key)));
    assert!(ClusterClient::new(doubting).status(StatusRequest {}).await.is_err(), "a server of another CA");

    // This server does not allow auto_encrypt: no certificate for anyone.
    let key = tessera_mesh::connect::csr::agent_request("c1").unwrap();
    let ask =
        tessera_proto::v1::AutoEncryptRequest { node: "c1".into(), datacenter: "dc1".into(), csr_pem: key.csr_pem };
    let anonymous = rpc_channel(&rpc, "dc1", &ca, None);
    let refused = tessera_proto::v1::agent_api_client::AgentApiClient::new(anonymous).auto_encrypt(ask).await;
    let status = refused.expect_err("allow_tls is off");
    assert!(status.message().contains("auto_encrypt is not allowed"), "{}", status.message());

    // Nothing changed.
    let keys = http.get_json(&addr, "/v1/kv/?keys").await.unwrap();
    assert_eq!(keys, serde_json::json!(["before"]), "no refused call wrote anything");
    agent.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn t98_without_tls_material_agents_refuse_to_start_unless_told_to_go_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data").display().to_string();
    let out = cli(&[
        "agent",
        "-server",
        "-bootstrap-expect",
        "1",
        "-data-dir",
        &data,
        "-bind",
        "127.0.98.1",
        "-client",
        "127.0.98.1",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the server port needs TLS") && stderr.contains("tessera tls ca create"), "{stderr}");
    assert!(!dir.path().join("data").exists(), "nothing was started");

    let args = [
        "-server",
        "-bootstrap-expect",
        "1",
        "-data-dir",
        &data,
        "-bind",
        "127.0.98.1",
        "-client",
        "127.0.98.1",
        "-insecure-plaintext-rpc",
    ];
    let mut agent = Agent::new("plain", "127.0.98.1", dir.path(), args.map(String::from).to_vec());
    agent.start();
    agent.wait_log("WITHOUT TLS (-insecure-plaintext-rpc)", SETTLE).await;
    Http::new().wait_json(&agent.http_addr(), "/v1/status/leader", SETTLE).await;
    agent.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn t99_a_client_agent_does_not_believe_a_server_of_another_ca() {
    // Cluster A (one dev server) and a rogue server with a CA of its own.
    let a = tempfile::tempdir().unwrap();
    let mut server = dev_agent("127.0.99.1", a.path(), &[]);
    server.args.extend(tls_args(a.path(), "dc1", true));
    server.start();
    let rogue_dir = tempfile::tempdir().unwrap();
    let mut rogue = dev_agent("127.0.99.2", rogue_dir.path(), &[]);
    rogue.args.extend(tls_args(rogue_dir.path(), "dc1", true));
    rogue.start();
    let http = Http::new();
    http.wait_json(&server.http_addr(), "/v1/connect/ca/roots", SETTLE).await;
    http.wait_json(&rogue.http_addr(), "/v1/connect/ca/roots", SETTLE).await;

    // A client of A told only about the rogue: it hears nothing from it.
    let mut client = client_agent("c1", "127.0.99.11", &rogue.rpc_addr(), a.path(), &[]);
    client.start();
    wait_until("the client refuses the rogue's certificate", SETTLE, || {
        let log = client.log();
        async move { (log.contains("certificate") || log.contains("UnknownIssuer")).then_some(()) }
    })
    .await;
    let roots = http.get(&client.http_addr(), "/v1/agent/connect/ca/roots").await;
    let rogue_roots = http.get_json(&rogue.http_addr(), "/v1/connect/ca/roots").await.unwrap();
    let rogue_id = rogue_roots["ActiveRootID"].as_str().unwrap().to_string();
    assert!(roots.is_none_or(|(_, body)| !body.contains(&rogue_id)), "the rogue's roots were adopted");
    let nodes = http.get_json(&rogue.http_addr(), "/v1/catalog/nodes").await.unwrap();
    assert!(nodes.as_array().unwrap().iter().all(|n| n["Node"] != "c1"), "the client synced to the rogue");
    client.stop();
    rogue.stop();
    server.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn t96_auto_encrypt_gives_a_client_agent_a_certificate_for_its_node_only() {
    use tessera_proto::v1::AutoEncryptRequest;

    let tmp = tempfile::tempdir().unwrap();
    let allow = tmp.path().join("server.hcl");
    std::fs::write(&allow, "auto_encrypt {\n  allow_tls = true\n}\n").unwrap();
    let allow_arg = allow.display().to_string();
    let mut cluster = cluster_tests::Cluster::servers(46, 1, 1, &["-config-file", &allow_arg]);
    cluster.start_all();
    cluster.wait_leader(SETTLE).await;
    let server = &cluster.agents[0];
    let http = Http::new();
    http.wait_json(&server.http_addr(), "/v1/connect/ca/roots", SETTLE).await;

    // A client agent with the CA alone, and auto_encrypt.
    let [ca, ..] = tls_files(cluster.dir.path(), "dc1", true);
    let files = [
        ("tls.hcl", "auto_encrypt {\n  tls = true\n}\n"),
        ("web.json", r#"{"service": {"name": "web", "port": 8080}}"#),
    ];
    let mut client = auto_encrypt_client("c1", "127.0.46.11", &server.rpc_addr(), &ca, tmp.path(), &files);
    client.start();
    client.wait_log("auto_encrypt: got this agent's certificate", SETTLE).await;
    http.wait_passing(&server.http_addr(), "web", 1, SETTLE).await;

    // What auto_encrypt hands out binds its holder to one node.
    let rpc = server.rpc_addr();
    let anonymous = AgentApiClient::new(rpc_channel(&rpc, "dc1", &ca, None));
    let key = tessera_mesh::connect::csr::agent_request("c9").unwrap();
    let signed = anonymous
        .clone()
        .auto_encrypt(AutoEncryptRequest { node: "c9".into(), datacenter: "dc1".into(), csr_pem: key.csr_pem })
        .await
        .expect("anyone with the CA may ask, until ACLs")
        .into_inner();
    let (cert_path, key_path) = (tmp.path().join("c9.pem"), tmp.path().join("c9-key.pem"));
    std::fs::write(&cert_path, &signed.cert_pem).unwrap();
    std::fs::write(&key_path, &key.key_pem).unwrap();
    let (cert_path, key_path) = (cert_path.display().to_string(), key_path.display().to_string());
    let as_c9 = AgentApiClient::new(rpc_channel(&rpc, "dc1", &ca, Some((&cert_path, &key_path))));
    let other = as_c9.clone().sync(AgentWrite { node: "c1".into(), command: vec![] }).await;
    let status = other.expect_err("c9's certificate may not write for c1");
    assert_eq!(status.code(), tonic::Code::PermissionDenied);
    assert!(status.message().contains("may not act for node \"c1\""), "{}", status.message());
    let beat = as_c9.clone().heartbeat(HeartbeatRequest { node: "c1".into() }).await;
    assert_eq!(beat.expect_err("nor heartbeat for it").code(), tonic::Code::PermissionDenied);
    as_c9.clone().heartbeat(HeartbeatRequest { node: "c9".into() }).await.expect("its own node, yes");
    // Without a certificate, the agent calls are refused.
    let anon_sync = anonymous.clone().sync(AgentWrite { node: "c1".into(), command: vec![] }).await;
    assert_eq!(anon_sync.expect_err("anonymous sync").code(), tonic::Code::PermissionDenied);
    client.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn t94_server_certificates_rotate_on_sighup_under_traffic_and_no_write_is_dropped() {
    let mut cluster = cluster_tests::Cluster::servers(47, 3, 3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(SETTLE).await;
    let http = Http::new();
    // Writes through a follower cross the server port to the leader.
    let follower = (leader + 1) % 3;
    let via = cluster.agents[follower].http_addr();
    http.wait_json(&via, "/v1/agent/self", SETTLE).await;
    let [ca, cert, _] = tls_files(cluster.dir.path(), "dc1", true);
    let before = pem_der(std::path::Path::new(&cert));

    // A steady writer: every write must be acknowledged.
    let writer = {
        let (http, via) = (http.clone(), via.clone());
        tokio::spawn(async move {
            let mut done = 0u32;
            for i in 0..400u32 {
                assert!(http.kv_put(&via, &format!("rotation/{i}"), "v").await, "write {i} was dropped");
                done += 1;
            }
            done
        })
    };

    // A new certificate from the same CA, moved into place, then SIGHUP.
    let after = rotate_cert(cluster.dir.path(), "dc1", true);
    assert_ne!(before, after);
    cluster.agents.iter().for_each(|agent| agent.reload());
    for agent in &cluster.agents {
        agent.wait_log("reloaded on SIGHUP", SETTLE).await;
        assert_eq!(
            presented_cert(&agent.rpc_addr(), &ca, "dc1").await,
            after,
            "{} serves the new certificate",
            agent.name
        );
    }
    let written = tokio::time::timeout(SETTLE * 2, writer).await.expect("the writer finishes").unwrap();
    assert_eq!(written, 400);
    // Raft still runs over the connections and new ones alike.
    let leader = cluster.wait_leader(SETTLE).await;
    assert!(http.kv_put(&cluster.agents[leader].http_addr(), "after-rotation", "ok").await);
}

#[tokio::test(flavor = "multi_thread")]
async fn t95_a_client_agent_keeps_the_trust_domain_of_the_cluster_it_joined() {
    // Two single-server clusters whose servers share one agent CA.
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = dev_agent("127.0.48.1", &a_dir, &[]);
    a.args.extend(tls_args(tmp.path(), "dc1", true));
    a.start();
    let mut b = dev_agent("127.0.48.2", &b_dir, &[]);
    b.args.extend(tls_args(tmp.path(), "dc1", true));
    b.start();
    let http = Http::new();
    let a_roots = http.wait_json(&a.http_addr(), "/v1/connect/ca/roots", SETTLE).await;
    let b_roots = http.wait_json(&b.http_addr(), "/v1/connect/ca/roots", SETTLE).await;
    let a_domain = a_roots["TrustDomain"].as_str().unwrap().to_string();
    assert_ne!(a_domain, b_roots["TrustDomain"].as_str().unwrap());

    let mut client = client_agent("c1", "127.0.48.11", &a.rpc_addr(), tmp.path(), &[]);
    client.start();
    let roots_of = |http: &Http, addr: String| {
        let http = http.clone();
        async move { http.get_json(&addr, "/v1/agent/connect/ca/roots").await }
    };
    wait_until("the client holds A's roots", SETTLE, || {
        let (roots, a_domain) = (roots_of(&http, client.http_addr()), &a_domain);
        async move { (roots.await?["TrustDomain"].as_str()? == a_domain.as_str()).then_some(()) }
    })
    .await;
    // It learns B as a server, then A goes away: only B answers.
    let joined = cli(&["join", "-http-addr", &client.http_addr(), &b.rpc_addr()]);
    assert!(joined.status.success(), "{}", String::from_utf8_lossy(&joined.stderr));
    a.stop();
    client.wait_log("roots of another trust domain: ignored", SETTLE).await;
    let roots = http.get_json(&client.http_addr(), "/v1/agent/connect/ca/roots").await.unwrap();
    assert_eq!(roots["TrustDomain"].as_str(), Some(a_domain.as_str()), "B's roots were not adopted");
    client.stop();
    b.stop();
}
