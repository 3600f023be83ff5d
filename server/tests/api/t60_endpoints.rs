//! Endpoints real Consul clients call, on one in-process server.

use cluster_tests::wait_until;
use cluster_tests::Http;

use crate::support::TestServer;
use crate::support::SETTLE;

#[tokio::test(flavor = "multi_thread")]
async fn t60_check_update_health_by_id_version_ui_and_catalog_connect() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let web = r#"{"Name": "web", "ID": "web-1", "Port": 8080, "Check": {"CheckID": "web-ttl", "TTL": "30s"},
        "Connect": {"SidecarService": {}}}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", web).await.unwrap().0, 200);

    // TTL update with status and output, as Consul's client sends it.
    let update = r#"{"Status": "warning", "Output": "disk 91% full"}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/check/update/web-ttl", update).await.unwrap().0, 200);
    let (code, text) = http.put(&server.http, "/v1/agent/check/update/web-ttl", r#"{"Status": "bad"}"#).await.unwrap();
    assert_eq!((code, text.contains("Invalid check status")), (400, true), "{text}");
    let (code, body) = http.get(&server.http, "/v1/agent/health/service/id/web-1").await.unwrap();
    assert_eq!(code, 429, "warning is 429: {body}");
    let entry: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(entry["AggregatedStatus"], "warning");
    assert_eq!(entry["Checks"][0]["Output"], "disk 91% full");
    assert_eq!(http.get(&server.http, "/v1/agent/health/service/id/nope").await.unwrap().0, 404);

    let version = http.get_json(&server.http, "/v1/agent/version").await.unwrap();
    assert_eq!(version["SDKVersion"], "1.17.0");
    let me = http.get_json(&server.http, "/v1/agent/self").await.unwrap();
    assert_eq!(me["Config"]["Version"], "1.17.0", "the Consul API level, for version-gated clients");
    assert_eq!(me["Config"]["TesseraVersion"], env!("CARGO_PKG_VERSION"));

    // The sidecar is what Connect clients dial.
    let proxies = wait_until("the sidecar is in the catalog", SETTLE, || async {
        let rows = http.get_json(&server.http, "/v1/catalog/connect/web").await?;
        (!rows.as_array()?.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(proxies[0]["ServiceKind"], "connect-proxy");
    assert_eq!(proxies[0]["ServiceProxy"]["DestinationServiceName"], "web");
    let node = http.get_json(&server.http, "/v1/catalog/node-services/in-process").await.unwrap();
    assert_eq!(node["Node"]["Node"], "in-process");
    assert!(node["Services"].as_array().unwrap().iter().any(|s| s["ID"] == "web-1"), "{node}");
    assert_eq!(http.get_json(&server.http, "/v1/health/ingress/web").await.unwrap(), serde_json::json!([]));

    // HTTP checks aimed at the agent's address get a redirect, then a page.
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let root = no_redirects.get(format!("http://{}/", server.http)).send().await.unwrap();
    assert!(root.status().is_redirection(), "{}", root.status());
    assert_eq!(root.headers()["location"], "/ui/");
    assert_eq!(http.get(&server.http, "/ui/").await.unwrap().0, 200);
    server.stop().await;
}
