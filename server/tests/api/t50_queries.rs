//! Query parameters with Consul's meaning, on one in-process server.

use cluster_tests::Http;
use serde_json::Value;

use crate::support::TestServer;
use crate::support::SETTLE;

fn register(node: &str, env: &str, id: &str, tags: &[&str], status: &str) -> String {
    serde_json::json!({
        "Node": node, "Address": "10.0.0.1", "NodeMeta": {"env": env},
        "Service": {"ID": id, "Service": "web", "Tags": tags, "Port": 80},
        "Check": {"CheckID": format!("{id}-check"), "Name": "up", "Status": status, "ServiceID": id},
    })
    .to_string()
}

async fn ids(http: &Http, server: &TestServer, path: &str) -> Vec<String> {
    let answer = http.get_json(&server.http, path).await.unwrap_or_else(|| panic!("{path} answers"));
    let id = |entry: &Value| entry["ServiceID"].as_str().or(entry["Service"]["ID"].as_str()).unwrap().to_string();
    let mut ids: Vec<String> = answer.as_array().unwrap().iter().map(id).collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn t50_tags_passing_node_meta_dc_and_namespaces_mean_what_they_mean_in_consul() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    for body in [
        register("n1", "prod", "web-a", &["Primary", "v2"], "passing"),
        register("n2", "prod", "web-b", &["primary"], "critical"),
        register("n3", "dev", "web-c", &["v2"], "warning"),
    ] {
        assert_eq!(http.put(&server.http, "/v1/catalog/register", &body).await.unwrap().0, 200, "{body}");
    }

    let catalog = "/v1/catalog/service/web";
    assert_eq!(ids(&http, &server, &format!("{catalog}?tag=primary")).await, ["web-a", "web-b"], "any case");
    assert_eq!(ids(&http, &server, &format!("{catalog}?tag=primary&tag=v2")).await, ["web-a"], "tags ANDed");
    assert_eq!(ids(&http, &server, &format!("{catalog}?node-meta=env:prod")).await, ["web-a", "web-b"]);
    assert_eq!(ids(&http, &server, &format!("{catalog}?node-meta=env:prod&tag=v2")).await, ["web-a"]);

    let health = "/v1/health/service/web";
    assert_eq!(ids(&http, &server, &format!("{health}?passing")).await, ["web-a"], "warning is not passing");
    assert_eq!(ids(&http, &server, &format!("{health}?passing=true")).await, ["web-a"]);
    assert_eq!(ids(&http, &server, &format!("{health}?passing=false")).await, ["web-a", "web-b", "web-c"]);
    assert_eq!(ids(&http, &server, &format!("{health}?tag=V2&passing=0")).await, ["web-a", "web-c"]);
    let nodes = http.get_json(&server.http, "/v1/catalog/nodes?node-meta=env:dev").await.unwrap();
    assert_eq!(nodes.as_array().unwrap().len(), 1);
    assert_eq!(nodes[0]["Node"], "n3");

    let refused = [
        (format!("{health}?passing=yes"), 400, "Invalid value for ?passing"),
        (format!("{catalog}?dc=dc2"), 500, "No path to datacenter"),
        (format!("{catalog}?ns=team"), 400, "Namespaces are a Consul Enterprise feature"),
        ("/v1/kv/x?partition=p".to_string(), 400, "Partitions are a Consul Enterprise feature"),
        (format!("{catalog}?stale&consistent"), 400, "Cannot specify ?stale with ?consistent"),
        ("/v1/agent/services?dc=elsewhere".to_string(), 500, "No path to datacenter"),
        ("/v1/connect/ca/roots?pem=maybe".to_string(), 400, "Invalid value for ?pem"),
    ];
    for (path, code, message) in refused {
        let (got, text) = http.get(&server.http, &path).await.unwrap();
        assert_eq!(got, code, "{path}: {text}");
        assert!(text.contains(message), "{path}: {text}");
    }
    for path in [format!("{catalog}?dc=dc1"), format!("{catalog}?ns=default&partition=default")] {
        assert_eq!(ids(&http, &server, &path).await.len(), 3, "{path}");
    }
    let roots = http.get_json(&server.http, "/v1/connect/ca/roots?pem=false").await.unwrap();
    assert!(roots["Roots"].is_array(), "pem=false answers JSON: {roots}");
    server.stop().await;
}

fn filtered(path: &str, expr: &str) -> String {
    format!("{path}?{}", serde_urlencoded::to_string([("filter", expr)]).unwrap())
}

async fn keys(http: &Http, server: &TestServer, path: &str) -> Vec<String> {
    let answer = http.get_json(&server.http, path).await.unwrap_or_else(|| panic!("{path} answers"));
    answer.as_object().unwrap().keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn t51_filter_selects_on_every_listing_endpoint_and_bad_expressions_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    for body in [
        register("n1", "prod", "web-a", &["primary", "v2"], "passing"),
        register("n2", "prod", "web-b", &["primary"], "critical"),
        register("n3", "dev", "web-c", &["v2"], "warning"),
    ] {
        assert_eq!(http.put(&server.http, "/v1/catalog/register", &body).await.unwrap().0, 200);
    }
    let local =
        r#"{"Name": "api", "ID": "api-1", "Port": 9000, "Tags": ["x"], "Check": {"CheckID": "api-ttl", "TTL": "30s"}}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", local).await.unwrap().0, 200);

    let health = filtered("/v1/health/service/web", r#"Service.Tags contains "v2" and Checks.Status == passing"#);
    assert_eq!(ids(&http, &server, &health).await, ["web-a"]);
    let catalog = filtered("/v1/catalog/service/web", "NodeMeta.env == dev");
    assert_eq!(ids(&http, &server, &catalog).await, ["web-c"]);
    let nodes = http.get_json(&server.http, &filtered("/v1/catalog/nodes", "Meta.env == prod")).await.unwrap();
    let names: Vec<&str> = nodes.as_array().unwrap().iter().map(|n| n["Node"].as_str().unwrap()).collect();
    assert_eq!(names, ["n1", "n2"]);
    let services = filtered("/v1/catalog/services", "primary in ServiceTags");
    assert_eq!(keys(&http, &server, &services).await, ["web"]);
    let checks = http.get_json(&server.http, &filtered("/v1/health/checks/web", "Status == critical")).await.unwrap();
    assert_eq!(checks.as_array().unwrap().len(), 1);
    assert_eq!(checks[0]["CheckID"], "web-b-check");
    let state = filtered("/v1/health/state/any", "ServiceName == web and Status != passing");
    let state = http.get_json(&server.http, &state).await.unwrap();
    assert_eq!(state.as_array().unwrap().len(), 2);
    assert_eq!(keys(&http, &server, &filtered("/v1/agent/services", "Port == 9000")).await, ["api-1"]);
    assert!(keys(&http, &server, &filtered("/v1/agent/services", "Port == 1")).await.is_empty());
    assert_eq!(keys(&http, &server, &filtered("/v1/agent/checks", r#"ServiceID == "api-1""#)).await, ["api-ttl"]);

    for (expr, message) in [
        ("Service.Tags contains", "Failed to create boolean expression evaluator"),
        ("Bogus == 1", r#"Selector "Bogus" is not valid"#),
        ("(Service.Port == 80", "Failed to create boolean expression evaluator"),
    ] {
        let path = filtered("/v1/health/service/web", expr);
        let (code, text) = http.get(&server.http, &path).await.unwrap();
        assert_eq!(code, 400, "{expr}: {text}");
        assert!(text.contains(message), "{expr}: {text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t52_pretty_indents_as_consul_and_cached_answers_say_miss() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let (code, body) = http.get(&server.http, "/v1/agent/self?pretty").await.unwrap();
    assert_eq!(code, 200);
    assert!(body.starts_with("{\n    \""), "four-space indent: {body}");
    assert!(body.ends_with("}\n"), "a trailing newline");
    let compact = http.get(&server.http, "/v1/agent/self").await.unwrap().1;
    assert!(!compact.contains('\n'));
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["Config"],
        serde_json::from_str::<Value>(&compact).unwrap()["Config"]
    );
    let cached = reqwest::get(format!("http://{}/v1/catalog/services?cached", server.http)).await.unwrap();
    assert_eq!(cached.headers()["x-cache"], "MISS");
    server.stop().await;
}

/// Typed answers are written in the order of Consul's Go structs (what
/// Go's encoder writes), and `?pretty` keeps that order.
#[tokio::test(flavor = "multi_thread")]
async fn t53_answers_list_fields_in_consuls_order_compact_and_pretty() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    let body = register("n1", "prod", "web-1", &["v1"], "passing");
    assert_eq!(http.put(&server.http, "/v1/catalog/register", &body).await.unwrap().0, 200);
    let in_order = |text: &str, keys: &[&str]| {
        let at: Vec<usize> = keys.iter().map(|k| text.find(&format!("\"{k}\"")).unwrap_or(usize::MAX)).collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{keys:?} in order in {text}");
    };
    for pretty in ["", "&pretty"] {
        let (_, health) = http.get(&server.http, &format!("/v1/health/service/web?stale{pretty}")).await.unwrap();
        in_order(&health, &["Node", "ID", "Address", "Datacenter", "TaggedAddresses", "Meta", "CreateIndex"]);
        in_order(&health, &["Service", "Tags", "Port", "Weights", "Checks", "CheckID", "Status", "ServiceTags"]);
        let (_, rows) = http.get(&server.http, &format!("/v1/catalog/service/web?stale{pretty}")).await.unwrap();
        in_order(&rows, &["ID", "Node", "Address", "NodeMeta", "ServiceKind", "ServiceID", "ServiceProxy"]);
        assert_eq!(pretty.is_empty(), !health.contains('\n'));
    }
    let (_, pretty) = http.get(&server.http, "/v1/catalog/service/web?pretty").await.unwrap();
    assert!(pretty.starts_with("[\n    {\n        \"ID\": "), "{pretty}");
    assert!(pretty.contains("\"ServiceConnect\": {},") && pretty.ends_with("]\n"), "{pretty}");
    server.stop().await;
}
