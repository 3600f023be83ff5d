//! Issue 12: with ACLs on, auto_encrypt needs an agent token holding
//! node:write on the node the certificate is for (Consul's rule), and a
//! client agent given one gets its certificate and syncs.

use std::time::Duration;

use cluster_tests::auto_encrypt_client;
use cluster_tests::rpc_channel;
use cluster_tests::tls_files;
use cluster_tests::Http;
use tessera_proto::v1::agent_api_client::AgentApiClient;
use tessera_proto::v1::AutoEncryptRequest;

const SETTLE: Duration = Duration::from_secs(60);
const MANAGEMENT: &str = "0c6f2b9e-3d1a-4c8e-b7f5-9a2e4d6c8b10";

fn ask(node: &str, token: Option<&str>) -> tonic::Request<AutoEncryptRequest> {
    let key = tessera_mesh::connect::csr::agent_request(node).unwrap();
    let message = AutoEncryptRequest { node: node.into(), datacenter: "dc1".into(), csr_pem: key.csr_pem };
    tessera_proto::transport::with_token(tonic::Request::new(message), token)
}

#[tokio::test(flavor = "multi_thread")]
async fn t89_auto_encrypt_needs_an_agent_token_for_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let server_hcl = tmp.path().join("server.hcl");
    let acl = format!(
        "auto_encrypt {{\n  allow_tls = true\n}}\nacl {{\n  enabled = true\n  default_policy = \"deny\"\n  \
         tokens {{\n    initial_management = \"{MANAGEMENT}\"\n  }}\n}}\n"
    );
    std::fs::write(&server_hcl, acl).unwrap();
    let server_arg = server_hcl.display().to_string();
    let mut cluster = cluster_tests::Cluster::servers(38, 1, 1, &["-config-file", &server_arg]);
    cluster.start_all();
    cluster.wait_leader(SETTLE).await;
    let server = &cluster.agents[0];
    let http = Http::new();
    http.wait_json(&server.http_addr(), "/v1/connect/ca/roots", SETTLE).await;

    // A node identity token for c9 (node:write on c9 only).
    let body = r#"{"NodeIdentities":[{"NodeName":"c9","Datacenter":"dc1"}]}"#;
    let made = reqwest::Client::new()
        .put(format!("http://{}/v1/acl/token", server.http_addr()))
        .header("X-Consul-Token", MANAGEMENT)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 200);
    let made: serde_json::Value = made.json().await.unwrap();
    let c9_token = made["SecretID"].as_str().unwrap().to_string();

    let [ca, ..] = tls_files(cluster.dir.path(), "dc1", true);
    let anonymous = AgentApiClient::new(rpc_channel(&server.rpc_addr(), "dc1", &ca, None));
    let refused = anonymous.clone().auto_encrypt(ask("c9", None)).await.expect_err("no token, no certificate");
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    assert!(refused.message().contains("lacks permission 'node:write' on \"c9\""), "{}", refused.message());
    let other = anonymous.clone().auto_encrypt(ask("c8", Some(&c9_token))).await.expect_err("c9's token for c8");
    assert_eq!(other.code(), tonic::Code::PermissionDenied);
    let unknown = anonymous.clone().auto_encrypt(ask("c9", Some("nope"))).await.expect_err("an unknown secret");
    assert_eq!(unknown.message(), "ACL not found");
    anonymous.clone().auto_encrypt(ask("c9", Some(&c9_token))).await.expect("its own node, with its token");

    // A client agent with the CA alone, auto_encrypt and an agent token.
    let client_hcl = format!("auto_encrypt {{\n  tls = true\n}}\nacl {{\n  enabled = true\n  default_policy = \"deny\"\n  tokens {{\n    agent = \"{MANAGEMENT}\"\n  }}\n}}\n");
    let files = [("client.hcl", client_hcl.as_str()), ("web.json", r#"{"service": {"name": "web", "port": 8080}}"#)];
    let mut client = auto_encrypt_client("c1", "127.0.38.11", &server.rpc_addr(), &ca, tmp.path(), &files);
    client.start();
    client.wait_log("auto_encrypt: got this agent's certificate", SETTLE).await;
    cluster_tests::wait_until("web synced from c1", SETTLE, || async {
        let reply = reqwest::Client::new()
            .get(format!("http://{}/v1/catalog/service/web", server.http_addr()))
            .header("X-Consul-Token", MANAGEMENT)
            .send()
            .await
            .ok()?;
        reply.text().await.ok()?.contains("\"c1\"").then_some(())
    })
    .await;
    client.stop();
}
