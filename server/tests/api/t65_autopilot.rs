//! Autopilot's configuration through `PUT /v1/operator/autopilot/configuration`
//! (Raft-stored, `?cas`, bad input refused) and its use by the health report.

use cluster_tests::Http;
use serde_json::json;
use serde_json::Value;

use crate::support::TestServer;
use crate::support::SETTLE;

const CONFIG: &str = "/v1/operator/autopilot/configuration";

async fn config(http: &Http, server: &TestServer) -> Value {
    http.get_json(&server.http, CONFIG).await.expect("the configuration answers")
}

#[tokio::test(flavor = "multi_thread")]
async fn t65_the_configuration_is_set_read_back_and_checked_and_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;

    let defaults = config(&http, &server).await;
    assert_eq!(defaults["LastContactThreshold"], "200ms");
    assert_eq!(defaults["MaxTrailingLogs"], 250);
    assert_eq!((defaults["CreateIndex"].as_u64(), defaults["ModifyIndex"].as_u64()), (Some(0), Some(0)));

    // Any key case, as Go decodes; a duration as text or nanoseconds.
    let body = json!({"cleanupdeadservers": false, "LastContactThreshold": "1.5s", "MaxTrailingLogs": 500,
                      "MinQuorum": 3, "ServerStabilizationTime": 20_000_000_000u64, "RedundancyZoneTag": "zone",
                      "DisableUpgradeMigration": true, "UpgradeVersionTag": "build", "ModifyIndex": 99});
    assert_eq!(http.put(&server.http, CONFIG, &body.to_string()).await.unwrap(), (200, "true".into()));
    let set = config(&http, &server).await;
    let expected = json!({"CleanupDeadServers": false, "LastContactThreshold": "1.5s", "MaxTrailingLogs": 500,
                          "MinQuorum": 3, "ServerStabilizationTime": "20s", "RedundancyZoneTag": "zone",
                          "DisableUpgradeMigration": true, "UpgradeVersionTag": "build"});
    for (key, value) in expected.as_object().unwrap() {
        assert_eq!(&set[key], value, "{key}");
    }
    let (created, modified) = (set["CreateIndex"].as_u64().unwrap(), set["ModifyIndex"].as_u64().unwrap());
    assert!(created > 0 && created == modified, "{set}");

    // ?cas: a stale index changes nothing and answers false; the current one applies.
    let change = json!({"MaxTrailingLogs": 7, "LastContactThreshold": "300ms"}).to_string();
    let stale = format!("{CONFIG}?cas={}", modified - 1);
    assert_eq!(http.put(&server.http, &stale, &change).await.unwrap(), (200, "false".into()));
    assert_eq!(config(&http, &server).await, set);
    let current = format!("{CONFIG}?cas={modified}");
    assert_eq!(http.put(&server.http, &current, &change).await.unwrap(), (200, "true".into()));
    let after = config(&http, &server).await;
    assert_eq!((after["MaxTrailingLogs"].as_u64(), after["LastContactThreshold"].as_str()), (Some(7), Some("300ms")));
    // A body replaces the whole configuration, as in Consul: what it leaves out is Go's zero value.
    assert_eq!(after["CleanupDeadServers"], false);
    assert_eq!(after["MinQuorum"], 0);
    assert_eq!(after["CreateIndex"].as_u64(), Some(created));
    assert!(after["ModifyIndex"].as_u64().unwrap() > modified);
    assert_eq!(http.put(&server.http, &current, &change).await.unwrap(), (200, "false".into()), "used up");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t66_bad_values_are_refused_naming_the_field_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let before = config(&http, &server).await;
    for (body, field) in [
        (r#"{"LastContactThreshold": "-1s"}"#, "LastContactThreshold"),
        (r#"{"LastContactThreshold": "soon"}"#, "LastContactThreshold"),
        (r#"{"ServerStabilizationTime": -5}"#, "ServerStabilizationTime"),
        (r#"{"MaxTrailingLogs": -1}"#, "MaxTrailingLogs"),
        (r#"{"MinQuorum": 1.5}"#, "MinQuorum"),
        (r#"{"MinQuorum": "3"}"#, "MinQuorum"),
        (r#"{"CleanupDeadServers": "yes"}"#, "CleanupDeadServers"),
        (r#"{"UpgradeVersionTag": 5}"#, "UpgradeVersionTag"),
        ("not json", "expected ident"),
    ] {
        let (code, text) = http.put(&server.http, CONFIG, body).await.unwrap();
        assert_eq!(code, 400, "{body}: {text}");
        assert!(text.starts_with("Error parsing autopilot config: ") && text.contains(field), "{body}: {text}");
    }
    let (code, text) = http.put(&server.http, &format!("{CONFIG}?cas=x"), "{}").await.unwrap();
    assert_eq!(code, 400);
    assert!(text.starts_with("Error parsing cas value"), "{text}");
    assert_eq!(config(&http, &server).await, before, "nothing changed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t67_the_health_report_uses_the_stored_last_contact_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let health = |http: &Http| {
        let addr = server.http.clone();
        let http = http.clone();
        async move { http.get_json(&addr, "/v1/operator/autopilot/health").await.expect("health answers") }
    };
    assert_eq!(health(&http).await["Healthy"], true);
    // No probe answers within a nanosecond: the one server turns unhealthy.
    let strict = json!({"CleanupDeadServers": true, "LastContactThreshold": "1ns", "MaxTrailingLogs": 250});
    assert_eq!(http.put(&server.http, CONFIG, &strict.to_string()).await.unwrap().0, 200);
    let report = health(&http).await;
    assert_eq!((report["Healthy"].as_bool(), report["Servers"][0]["Healthy"].as_bool()), (Some(false), Some(false)));
    let state = http.get_json(&server.http, "/v1/operator/autopilot/state").await.unwrap();
    assert_eq!(state["Healthy"], false);
    let relaxed = json!({"LastContactThreshold": "10s", "MaxTrailingLogs": 250});
    assert_eq!(http.put(&server.http, CONFIG, &relaxed.to_string()).await.unwrap().0, 200);
    assert_eq!(health(&http).await["Healthy"], true);
    server.stop().await;
}
