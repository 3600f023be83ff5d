//! `/v1/operator/usage` counts, and `?near=` accepted where Consul takes
//! it (Tessera keeps no coordinates, so the order is the one without it).

use cluster_tests::wait_until;
use cluster_tests::Http;
use serde_json::Value;

use crate::support::TestServer;
use crate::support::SETTLE;

#[tokio::test(flavor = "multi_thread")]
async fn t65_usage_counts_nodes_services_and_connect_instances_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    let web = r#"{"Name": "web", "ID": "web-1", "Port": 8080, "Connect": {"SidecarService": {}}}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", web).await.unwrap().0, 200);
    let native = r#"{"Name": "api", "ID": "api-1", "Port": 9090, "Connect": {"Native": true}}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", native).await.unwrap().0, 200);
    let gateway = r#"{"Node": "edge", "Address": "10.0.0.9",
        "Service": {"ID": "gw", "Service": "gateway", "Kind": "mesh-gateway", "Port": 8443}}"#;
    assert_eq!(http.put(&server.http, "/v1/catalog/register", gateway).await.unwrap().0, 200);

    // consul (the server's own), web, web-sidecar-proxy, api, gateway.
    let usage = wait_until("the agent's services reach the catalog", SETTLE, || async {
        let usage = http.get_json(&server.http, "/v1/operator/usage").await?;
        (usage["Usage"]["dc1"]["ServiceInstances"] == 5).then_some(usage)
    })
    .await;
    let dc1 = &usage["Usage"]["dc1"];
    assert_eq!(dc1["Services"], 5, "{usage}");
    assert_eq!(dc1["Nodes"], 2, "in-process and edge: {usage}");
    let connect = &dc1["ConnectServiceInstances"];
    assert_eq!(connect["connect-proxy"], 1, "{usage}");
    assert_eq!(connect["connect-native"], 1, "{usage}");
    assert_eq!(connect["mesh-gateway"], 1, "{usage}");
    for kind in ["api-gateway", "ingress-gateway", "terminating-gateway"] {
        assert_eq!(connect[kind], 0, "{kind}: {usage}");
    }
    // Typical instances (native included) except the servers' `consul`: web and api.
    assert_eq!(dc1["BillableServiceInstances"], 2, "{usage}");
    assert_eq!(usage["KnownLeader"], true);
    assert_eq!(usage["ConsistencyLevel"], "leader");
    assert_eq!(usage["Backend"], 0);
    let (index, _) = http.get_indexed(&server.http, "/v1/operator/usage").await.unwrap();
    assert_eq!(usage["Index"].as_u64(), Some(index), "the body's Index is the header's");

    let stale = http.get_json(&server.http, "/v1/operator/usage?stale").await.unwrap();
    assert_eq!(stale["ConsistencyLevel"], "stale");
    assert_eq!(stale["Usage"], usage["Usage"]);
    assert_eq!(http.get_json(&server.http, "/v1/operator/usage?global").await.unwrap()["Usage"], usage["Usage"]);
    server.stop().await;
}

/// The answer's JSON, which must not change with `?near=`.
async fn body(http: &Http, server: &TestServer, path: &str) -> Value {
    let (status, text) = http.get(&server.http, path).await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn t66_near_is_accepted_and_changes_no_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    for (node, address) in [("zeta", "10.0.0.3"), ("alpha", "10.0.0.1"), ("mid", "10.0.0.2")] {
        let body = format!(
            r#"{{"Node": "{node}", "Address": "{address}",
                "Service": {{"ID": "web", "Service": "web", "Port": 80}}}}"#
        );
        assert_eq!(http.put(&server.http, "/v1/catalog/register", &body).await.unwrap().0, 200);
        let proxy = format!(
            r#"{{"Node": "{node}", "Address": "{address}", "Service": {{"ID": "web-proxy", "Service": "web-proxy",
                "Kind": "connect-proxy", "Port": 21000, "Proxy": {{"DestinationServiceName": "web"}}}}}}"#
        );
        assert_eq!(http.put(&server.http, "/v1/catalog/register", &proxy).await.unwrap().0, 200);
    }
    let paths = [
        "/v1/catalog/service/web",
        "/v1/catalog/nodes",
        "/v1/catalog/connect/web",
        "/v1/health/service/web",
        "/v1/health/connect/web",
    ];
    for path in paths {
        let plain = body(&http, &server, path).await;
        assert!(plain.as_array().is_some_and(|a| a.len() >= 3), "{path}: {plain}");
        for near in ["_agent", "alpha", "zeta", "no-such-node"] {
            let with = body(&http, &server, &format!("{path}?near={near}")).await;
            assert_eq!(with, plain, "{path}?near={near}");
        }
    }
    server.stop().await;
}
