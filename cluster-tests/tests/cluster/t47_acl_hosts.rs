//! Issue 12 across hosts: 3 servers and 3 client agents in network
//! namespaces with `default_policy = "deny"`. Client agents sync with
//! their agent token; the issue's attacks through a client agent are
//! refused with no state change; a deleted token stops working on a client
//! agent within a second (pushed, not waiting out token_ttl); with the
//! servers cut off, `down_policy` decides: extend-cache keeps what was
//! resolved and refuses the rest, deny refuses everything, async-cache
//! serves what it had at once (but never a token the push may have
//! deleted while a server answers). The push of
//! the deletion comes just before the cut, so extend-cache must still hold
//! the tokens resolved before it (a push supersedes, it does not forget).

use std::time::Duration;
use std::time::Instant;

use cluster_tests::netns::TestNet;
use cluster_tests::wait_until;
use cluster_tests::Agent;

const SETTLE: Duration = Duration::from_secs(60);
const MANAGEMENT: &str = "4b4c1e1a-8b4e-4f8e-9a53-2f1c0d9e7a11";

fn acl_block(extra: &str) -> String {
    format!(
        "acl {{\n  enabled = true\n  default_policy = \"deny\"\n  token_ttl = \"1s\"\n{extra}  tokens {{\n    \
         initial_management = \"{MANAGEMENT}\"\n    agent = \"{MANAGEMENT}\"\n  }}\n}}\n"
    )
}

/// One HTTP call with an optional `X-Consul-Token`: status and body (0 when
/// nothing answered within the bound).
async fn call(method: &str, addr: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = client.request(method, format!("http://{addr}{path}")).body(body.to_string());
    if let Some(token) = token {
        request = request.header("X-Consul-Token", token);
    }
    match request.send().await {
        Ok(reply) => (reply.status().as_u16(), reply.text().await.unwrap_or_default()),
        Err(_) => (0, String::new()),
    }
}

async fn made_token(addr: &str, identity: &str) -> (String, String) {
    let body = format!(r#"{{"Description":"{identity}","ServiceIdentities":[{{"ServiceName":"{identity}"}}]}}"#);
    let (status, made) = call("PUT", addr, "/v1/acl/token", Some(MANAGEMENT), &body).await;
    assert_eq!(status, 200, "{made}");
    let made: serde_json::Value = serde_json::from_str(&made).unwrap();
    (made["AccessorID"].as_str().unwrap().to_string(), made["SecretID"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn t47_acls_on_servers_and_client_agents_across_hosts() {
    let net = TestNet::create(47, 6);
    let dir = tempfile::tempdir().unwrap();
    let server_acl = acl_block("");
    let mut servers = net.servers(3, None, dir.path(), &["-hcl", &server_acl]);
    servers.iter_mut().for_each(Agent::start);
    let client = |host: usize, name: &str, down: &str| {
        let block = acl_block(&format!("  down_policy = \"{down}\"\n"));
        let args = ["-retry-join", &net.host_ip(1), "-hcl", &block].map(String::from).to_vec();
        net.agent(host, name, None, dir.path(), args)
    };
    let (mut c1, mut c2) = (client(4, "c1", "extend-cache"), client(5, "c2", "deny"));
    let mut c3 = client(6, "c3", "async-cache");
    [&mut c1, &mut c2, &mut c3].into_iter().for_each(Agent::start);
    let (s1, a1, a2, a3) = (servers[0].http_addr(), c1.http_addr(), c2.http_addr(), c3.http_addr());

    eprintln!("=== the client agents' nodes are in the catalog: their agent token may write them");
    wait_until("c1, c2 and c3 synced", SETTLE, || {
        let s1 = &s1;
        async move {
            let (status, nodes) = call("GET", s1, "/v1/catalog/nodes", Some(MANAGEMENT), "").await;
            let synced = ["\"c1\"", "\"c2\"", "\"c3\""].iter().all(|node| nodes.contains(node));
            (status == 200 && synced).then_some(())
        }
    })
    .await;

    let (web_accessor, web) = made_token(&s1, "web").await;
    let (_, never_used) = made_token(&s1, "api").await;
    attacks_through_a_client_agent_are_refused(&a1, &s1, &web).await;

    eprintln!("=== a deleted token stops working on a client agent within a second");
    // agent:read on the agent's node: management has it, a refusal is a 403.
    for addr in [&a1, &a2, &a3] {
        let (status, body) = call("GET", addr, "/v1/agent/self", Some(MANAGEMENT), "").await;
        assert_eq!(status, 200, "cached on {addr}: {body}");
    }
    for addr in [&a1, &a3] {
        let (status, body) = call("GET", addr, "/v1/agent/services", Some(&web), "").await;
        assert_eq!(status, 200, "cached on {addr} first: {body}");
    }
    let (status, _) = call("DELETE", &s1, &format!("/v1/acl/token/{web_accessor}"), Some(MANAGEMENT), "").await;
    assert_eq!(status, 200);
    let deleted_at = Instant::now();
    wait_until("c1 and c3 refuse the deleted token", Duration::from_secs(1), || {
        let (a1, a3, web) = (&a1, &a3, &web);
        async move {
            let (c1_status, c1_body) = call("GET", a1, "/v1/agent/services", Some(web), "").await;
            let (c3_status, c3_body) = call("GET", a3, "/v1/agent/services", Some(web), "").await;
            let refused = |status, body: &str| status == 403 && body == "ACL not found";
            (refused(c1_status, &c1_body) && refused(c3_status, &c3_body)).then_some(())
        }
    })
    .await;
    eprintln!("refused {:?} after the delete returned", deleted_at.elapsed());

    down_policy_decides_while_the_servers_are_away(&net, [&a1, &a2, &a3], &never_used).await;
    drop(servers);
}

/// Through c1 (its own endpoints and those it forwards), with no token and
/// with web's: none of the issue's attacks changes anything.
async fn attacks_through_a_client_agent_are_refused(a1: &str, s1: &str, web: &str) {
    let state = || async {
        let intentions = call("GET", s1, "/v1/connect/intentions", Some(MANAGEMENT), "").await;
        let roots = call("GET", s1, "/v1/connect/ca/roots", None, "").await;
        let peers = call("GET", s1, "/v1/status/peers", None, "").await;
        let services = call("GET", a1, "/v1/agent/services", Some(MANAGEMENT), "").await;
        (intentions, roots, peers, services)
    };
    let before = state().await;
    for token in [None, Some(web)] {
        let (status, body) = call("GET", a1, "/v1/agent/connect/ca/leaf/db", token, "").await;
        assert_eq!(status, 403, "{body}");
        let ca = r#"{"Provider":"consul","Config":{"PrivateKey":"x"}}"#;
        let (status, body) = call("PUT", a1, "/v1/connect/ca/configuration", token, ca).await;
        assert_eq!(status, 403, "{body}");
        let deny_all = r#"{"SourceName":"*","DestinationName":"*","Action":"deny"}"#;
        let (status, body) = call("POST", a1, "/v1/connect/intentions", token, deny_all).await;
        assert_eq!(status, 403, "{body}");
        let fake = r#"{"Name":"db-sidecar-proxy","Kind":"connect-proxy","Port":21999,"Proxy":{"DestinationServiceName":"db"}}"#;
        let (status, body) = call("PUT", a1, "/v1/agent/service/register", token, fake).await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = call("DELETE", a1, "/v1/operator/raft/peer?id=s1", token, "").await;
        assert_eq!(status, 403, "{body}");
        let (status, body) = call("PUT", a1, "/v1/kv/config", token, "x").await;
        assert_eq!(status, 403, "{body}");
    }
    assert_eq!(state().await, before, "nothing changed");
    // What web may read comes through c1 filtered: its own catalog rights
    // (service_prefix "" read) but no KV.
    let (status, _) = call("GET", a1, "/v1/catalog/services", Some(web), "").await;
    assert_eq!(status, 200);
    let (status, body) = call("GET", a1, "/v1/kv/config", Some(web), "").await;
    assert_eq!(status, 403, "{body}");
}

/// The management token was resolved on both client agents before the
/// last ACL change was pushed; `never_used` never was.
async fn down_policy_decides_while_the_servers_are_away(net: &TestNet, [a1, a2, a3]: [&str; 3], never_used: &str) {
    eprintln!("=== servers cut off: extend-cache keeps the resolved, deny refuses all");
    (1..=3).for_each(|host| net.cut(host));
    // Past token_ttl (1 s) the entries are stale: c1 still serves its
    // cached management token; c2 (down_policy deny) refuses it.
    wait_until("c2 refuses once its cache is stale", SETTLE, || async move {
        let (status, _) = call("GET", a2, "/v1/agent/self", Some(MANAGEMENT), "").await;
        (status == 403).then_some(())
    })
    .await;
    let (status, body) = call("GET", a1, "/v1/agent/self", Some(MANAGEMENT), "").await;
    assert_eq!(status, 200, "extend-cache serves the stale entry: {body}");
    let (status, body) = call("GET", a3, "/v1/agent/self", Some(MANAGEMENT), "").await;
    assert_eq!(status, 200, "async-cache serves the stale entry: {body}");
    let register = r#"{"Name":"api","Port":9000}"#;
    let (status, _) = call("PUT", a1, "/v1/agent/service/register", Some(never_used), register).await;
    assert_eq!(status, 403, "an uncached token is refused while the servers are away");
    (1..=3).for_each(|host| net.restore(host));
    wait_until("the uncached token works once the servers are back", SETTLE, || async move {
        let (status, _) = call("PUT", a1, "/v1/agent/service/register", Some(never_used), register).await;
        (status == 200).then_some(())
    })
    .await;
}
