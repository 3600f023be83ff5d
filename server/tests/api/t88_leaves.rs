//! The agent's leaf managers: released when nobody uses them, refusals
//! remembered only briefly, and a bound on the names held. Time is driven
//! by small limits in the configuration; waits are conditions with deadlines.

use std::time::Duration;

use cluster_tests::wait_until;
use cluster_tests::Http;
use serde_json::Value;

use crate::support::TestClient;
use crate::support::TestServer;
use crate::support::SETTLE;

const MANAGERS: &str = "tessera_agent_connect_leaf_managers";
const SIGNED: &str = r#"tessera_connect_leaf_sign_total{errored="false"}"#;
const REFUSED: &str = r#"tessera_connect_leaf_sign_total{errored="true"}"#;

/// The value of one sample (`name{labels}` as exposed) on `addr`; 0 if absent.
async fn sample(http: &Http, addr: &str, series: &str) -> f64 {
    let (code, text) = http.get(addr, "/v1/agent/metrics?format=prometheus").await.expect("metrics answer");
    assert_eq!(code, 200, "{text}");
    text.lines()
        .filter_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .find_map(|value| value.trim().parse().ok())
        .unwrap_or(0.0)
}

async fn wait_sample(http: &Http, addr: &str, series: &str, wanted: f64) {
    wait_until(&format!("{series} = {wanted}"), SETTLE, || async {
        (sample(http, addr, series).await == wanted).then_some(())
    })
    .await
}

async fn leaf(http: &Http, addr: &str, service: &str) -> Value {
    let (code, body) = http.get(addr, &format!("/v1/agent/connect/ca/leaf/{service}")).await.expect("leaf answer");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn t88_an_unused_leaf_is_released_and_a_watched_one_kept() {
    let dir = tempfile::tempdir().unwrap();
    let idle = Duration::from_secs(1);
    let server = TestServer::start_with(dir.path(), None, |c| c.leaf_cache.idle = idle).await;
    let (http, addr) = (Http::new(), server.http.as_str());

    let once = leaf(&http, addr, "once").await;
    let watched = leaf(&http, addr, "watched").await;
    assert_eq!(sample(&http, addr, MANAGERS).await, 2.0);
    // A blocking query on `watched` holds a receiver far longer than the idle period.
    let path = format!("/v1/agent/connect/ca/leaf/watched?index={}&wait=6s", watched["ModifyIndex"]);
    let watcher = {
        let http = Http::new();
        let addr = addr.to_string();
        tokio::spawn(async move { http.get(&addr, &path).await })
    };

    // `once` goes after its idle period; `watched`, asked at the same moment, stays.
    wait_sample(&http, addr, MANAGERS, 1.0).await;
    assert!(!watcher.is_finished(), "the watcher was answered early");
    let signed = sample(&http, addr, SIGNED).await;
    let again = leaf(&http, addr, "watched").await;
    assert_eq!(again["SerialNumber"], watched["SerialNumber"], "the watched leaf is the same one");
    assert_eq!(sample(&http, addr, SIGNED).await, signed, "nothing signed for a held leaf");

    // Asked again, `once` gets a fresh manager: one more signing, a new leaf.
    let fresh = leaf(&http, addr, "once").await;
    assert_ne!(fresh["SerialNumber"], once["SerialNumber"]);
    assert_eq!(sample(&http, addr, SIGNED).await, signed + 1.0);

    // Once the watcher is answered and nobody asks, both go; nothing is signed after.
    let (code, body) = watcher.await.unwrap().expect("the blocking query answers");
    assert_eq!(code, 200, "{body}");
    wait_sample(&http, addr, MANAGERS, 0.0).await;
    assert_eq!(sample(&http, addr, SIGNED).await, signed + 1.0, "no renewal after release");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t88_a_refusal_is_answered_from_memory_then_expires() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"), None).await;
    let client = TestClient::start_with("leafy", &dir.path().join("client"), &server, |c| {
        c.leaf_cache.refusal_grace = Duration::from_millis(200);
        c.leaf_cache.refusal_ttl = Duration::from_secs(2);
    })
    .await;
    let http = Http::new();
    let path = "/v1/agent/connect/ca/leaf/ghost";

    // Not registered on the client's node: the CA refuses it.
    let (code, body) = http.get(&client.http, path).await.unwrap();
    assert_eq!(code, 403, "{body}");
    assert!(body.contains("not registered"), "{body}");
    let refused = sample(&http, &server.http, REFUSED).await;
    assert!(refused >= 1.0);
    // Asked again at once: the same answer, without asking the CA.
    for _ in 0..5 {
        let (code, again) = http.get(&client.http, path).await.unwrap();
        assert_eq!((code, again.as_str()), (403, body.as_str()));
    }
    assert_eq!(sample(&http, &server.http, REFUSED).await, refused, "a remembered refusal asks no CA");
    assert_eq!(sample(&http, &client.http, MANAGERS).await, 0.0, "a refused name runs no manager");

    // Registered, the service gets its leaf once the refusal has expired,
    // without an agent restart.
    let (code, body) = http.put(&client.http, "/v1/agent/service/register", r#"{"Name": "ghost"}"#).await.unwrap();
    assert_eq!(code, 200, "{body}");
    let leaf = wait_until("ghost gets its leaf", SETTLE, || async {
        let (code, body) = http.get(&client.http, path).await?;
        (code == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
    })
    .await;
    assert_eq!(leaf["Service"], "ghost");
    client.stop().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t88_names_over_the_cap_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(dir.path(), None, |c| c.leaf_cache.max_services = 3).await;
    let (http, addr) = (Http::new(), server.http.as_str());
    for name in ["a", "b", "c"] {
        leaf(&http, addr, name).await;
    }
    let (code, body) = http.get(addr, "/v1/agent/connect/ca/leaf/d").await.unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("3 services, its limit"), "{body}");
    // Names already held are still served.
    leaf(&http, addr, "a").await;
    assert_eq!(sample(&http, addr, MANAGERS).await, 3.0);
    server.stop().await;
}
