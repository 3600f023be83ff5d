//! Issue 13: a follower checks tokens, and validates what a write names,
//! against the ACL state the leader has acknowledged, not the state it has
//! applied so far. Before, a token deleted through the leader still
//! worked on a follower until the follower applied the deletion, and a
//! token made through a follower could not name the policy made through
//! it a moment before ("No such ACL policy").

use std::time::Duration;

use cluster_tests::Cluster;
use cluster_tests::Http;

const SETTLE: Duration = Duration::from_secs(60);
const MANAGEMENT: &str = "0b7c4f1e-6a2d-4c3b-8e9f-1d2a3b4c5d6e";
/// Each round races the follower's apply; a few rounds make a lag that
/// was left unhandled show.
const ROUNDS: usize = 20;

fn acl_config() -> String {
    format!(
        "acl {{\n  enabled = true\n  default_policy = \"deny\"\n  tokens {{\n    initial_management = \"{MANAGEMENT}\"\n  }}\n}}\n"
    )
}

async fn made(http: &Http, addr: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
    let (status, text) = http.put(addr, path, &body.to_string()).await.expect("the ACL API answers");
    assert_eq!(status, 200, "PUT {path} at {addr}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

#[tokio::test(flavor = "multi_thread")]
async fn t64_a_follower_sees_acl_changes_the_leader_acknowledged() {
    let acl = acl_config();
    let mut cluster = Cluster::servers(64, 3, 3, &["-hcl", &acl]);
    cluster.start_all();
    let leader = cluster.wait_leader(SETTLE).await;
    let (leader_addr, follower) = (cluster.agents[leader].http_addr(), cluster.agents[(leader + 1) % 3].http_addr());
    let management = Http::with_token(MANAGEMENT);
    management.wait_json(&follower, "/v1/acl/token/self", SETTLE).await;

    for round in 0..ROUNDS {
        let policy = format!("kv-{round}");
        let rules = format!(r#"key "k{round}" {{ policy = "write" }}"#);
        made(&management, &follower, "/v1/acl/policy", serde_json::json!({ "Name": policy, "Rules": rules })).await;
        let token =
            made(&management, &follower, "/v1/acl/token", serde_json::json!({ "Policies": [{ "Name": policy }] }))
                .await;
        let (accessor, secret) = (token["AccessorID"].as_str().unwrap(), token["SecretID"].as_str().unwrap());
        let holder = Http::with_token(secret);
        let key = format!("/v1/kv/k{round}");
        let (status, body) = holder.put(&follower, &key, "v").await.expect("the follower answers");
        assert_eq!((status, body.trim()), (200, "true"), "round {round}: the new token writes through the follower");

        let (status, body) = management.delete(&leader_addr, &format!("/v1/acl/token/{accessor}")).await.unwrap();
        assert_eq!((status, body.trim()), (200, "true"), "round {round}: the leader deletes the token");
        let (status, body) = holder.put(&follower, &key, "after").await.expect("the follower answers");
        assert_eq!(status, 403, "round {round}: a token the leader deleted still wrote through the follower: {body}");
        let (status, body) = holder.get(&follower, &key).await.expect("the follower answers");
        assert_eq!(status, 403, "round {round}: a token the leader deleted still read through the follower: {body}");
        // `?stale` makes a read local; on a write it changes nothing.
        let (status, body) = holder.put(&follower, &format!("{key}?stale"), "stale").await.unwrap();
        assert_eq!(status, 403, "round {round}: a deleted token wrote with ?stale through the follower: {body}");
    }
    let (status, body) = management.get(&follower, "/v1/kv/k0").await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""Value":"dg==""#), "the refused write changed nothing: {body}");
}
