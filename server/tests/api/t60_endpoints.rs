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
    assert_self_shape(&me, true);
    assert_eq!(me["Stats"]["raft"]["state"], "Leader");
    assert_eq!(me["Stats"]["raft"]["num_peers"], "0");
    assert_eq!(me["Stats"]["consul"]["leader"], "true");
    assert!(me["Stats"]["agent"]["check_ttls"].as_str().unwrap().parse::<u32>().unwrap() >= 1, "{me}");
    assert_eq!(me["Member"]["Tags"]["role"], "consul");
    assert_eq!(me["Member"]["Tags"]["build"].as_str().unwrap().split(':').next(), Some("1.17.0"));
    assert_eq!(me["DebugConfig"]["NodeName"], "in-process");
    assert_eq!(me["DebugConfig"]["ServerMode"], true);

    let host = http.get_json(&server.http, "/v1/agent/host").await.unwrap();
    assert!(host["Memory"]["total"].as_u64().unwrap() > 0, "{host}");
    assert!(!host["CPU"].as_array().unwrap().is_empty());
    assert!(!host["Host"]["kernelVersion"].as_str().unwrap().is_empty());
    assert!(host["Disk"]["total"].as_u64().unwrap() > 0 && !host["Disk"]["fstype"].as_str().unwrap().is_empty());
    assert!(host["Errors"].is_null() && host["CollectionTime"].as_u64().unwrap() > 0, "{host}");

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

#[tokio::test(flavor = "multi_thread")]
async fn t61_maintenance_mode_fails_a_service_or_the_whole_node_until_taken_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let web = r#"{"Name": "web", "ID": "web-1", "Port": 8080}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", web).await.unwrap().0, 200);
    let passing = |count: usize| {
        let (http, server) = (&http, &server);
        move || async move {
            let entries = http.get_json(&server.http, "/v1/health/service/web?passing").await?;
            (entries.as_array()?.len() == count).then_some(())
        }
    };
    wait_until("web passes", SETTLE, passing(1)).await;

    let put = |path: &'static str| http.put(&server.http, path, "");
    assert_eq!(put("/v1/agent/service/maintenance/web-1?enable=true&reason=deploying").await.unwrap().0, 200);
    wait_until("web is out of rotation", SETTLE, passing(0)).await;
    let checks = http.get_json(&server.http, "/v1/health/checks/web").await.unwrap();
    let check = checks.as_array().unwrap().iter().find(|c| c["CheckID"] == "_service_maintenance:web-1").cloned();
    let check = check.expect("the maintenance check is in the catalog");
    assert_eq!((check["Status"].as_str(), check["Notes"].as_str()), (Some("critical"), Some("deploying")));
    assert_eq!(put("/v1/agent/service/maintenance/web-1?enable=false").await.unwrap().0, 200);
    wait_until("web is back", SETTLE, passing(1)).await;

    assert_eq!(put("/v1/agent/maintenance?enable=true").await.unwrap().0, 200);
    wait_until("the node's maintenance fails web too", SETTLE, passing(0)).await;
    let node = http.get_json(&server.http, "/v1/health/node/in-process").await.unwrap();
    let check = node.as_array().unwrap().iter().find(|c| c["CheckID"] == "_node_maintenance").cloned().unwrap();
    assert!(check["Notes"].as_str().unwrap().contains("no reason was provided"), "{check}");
    assert_eq!(put("/v1/agent/maintenance?enable=0").await.unwrap().0, 200);
    wait_until("web is back again", SETTLE, passing(1)).await;

    let (code, text) = put("/v1/agent/maintenance").await.unwrap();
    assert_eq!((code, text.as_str()), (400, "Missing value for enable"));
    assert_eq!(put("/v1/agent/maintenance?enable=perhaps").await.unwrap().0, 400);
    assert_eq!(put("/v1/agent/service/maintenance/nope?enable=true").await.unwrap().0, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t62_force_leave_takes_a_node_out_of_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let body = r#"{"Node": "gone-host", "Address": "10.0.0.5", "Service": {"Service": "old", "Port": 1}}"#;
    assert_eq!(http.put(&server.http, "/v1/catalog/register", body).await.unwrap().0, 200);
    assert_eq!(http.put(&server.http, "/v1/agent/force-leave/gone-host?prune", "").await.unwrap().0, 200);
    let nodes = http.get_json(&server.http, "/v1/catalog/nodes").await.unwrap();
    assert!(nodes.as_array().unwrap().iter().all(|n| n["Node"] != "gone-host"), "{nodes}");
    let (code, text) = http.put(&server.http, "/v1/agent/force-leave/nobody", "").await.unwrap();
    assert_eq!(code, 404, "{text}");
    server.stop().await;
}

/// The keys Consul's `/v1/agent/self` always has, as Go's and Python's
/// clients read them (Stats values are strings).
pub fn assert_self_shape(me: &serde_json::Value, server: bool) {
    for key in ["Config", "DebugConfig", "Coord", "Member", "Stats", "Meta", "xDS"] {
        assert!(me.get(key).is_some(), "agent/self lacks {key}: {me}");
    }
    for key in ["Datacenter", "PrimaryDatacenter", "NodeName", "NodeID", "Revision", "Server", "Version", "BuildDate"] {
        assert!(me["Config"].get(key).is_some(), "Config lacks {key}");
    }
    assert_eq!(me["Config"]["Server"], server);
    assert_eq!(me["Coord"]["Vec"].as_array().map(Vec::len), Some(8));
    for key in ["ProtocolMin", "ProtocolMax", "ProtocolCur", "DelegateMin", "DelegateMax", "DelegateCur", "Status"] {
        assert!(me["Member"][key].is_u64(), "Member.{key}: {}", me["Member"]);
    }
    for group in ["agent", "build", "consul", "runtime"] {
        let stats = me["Stats"][group].as_object().unwrap_or_else(|| panic!("Stats.{group}: {me}"));
        assert!(stats.values().all(|v| v.is_string()), "Stats.{group} values are strings: {stats:?}");
    }
    assert_eq!(me["Stats"]["raft"].is_object(), server);
    assert_eq!(me["Meta"]["consul-version"], "1.17.0");
    assert!(me["xDS"]["Ports"]["Plaintext"].is_i64());
}
