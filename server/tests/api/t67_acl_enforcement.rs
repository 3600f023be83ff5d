//! ACLs enforced on the data and operator endpoints, with
//! `default_policy = "deny"`: KV by key rules, catalog and health lists
//! filtered by node and service read, catalog writes vetted before
//! anything is proposed, intentions by the destination's intentions
//! rules, the CA configuration and the raft, autopilot and usage
//! endpoints by operator rules. Every refusal is checked against the
//! state afterwards.

use reqwest::Method;
use serde_json::json;
use serde_json::Value;
use tessera_mesh::acl::DefaultPolicy;

use crate::support::TestServer;

const ANONYMOUS_ID: &str = "00000000-0000-0000-0000-000000000002";
const FILTERED: &str = "x-consul-results-filtered-by-acls";

/// A server with ACLs on and `default_policy = "deny"`, bootstrapped.
struct Acl {
    server: TestServer,
    client: reqwest::Client,
    management: String,
}

/// A token made for a test: its accessor (named in denials) and secret.
struct Token {
    accessor: String,
    secret: String,
}

struct Answer {
    status: u16,
    body: String,
    filtered: bool,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {} {}", self.status, self.body))
    }
}

fn denied(token: &Token, permission: &str, name: &str) -> String {
    format!(
        "Permission denied: token with AccessorID '{}' lacks permission '{permission}' on \"{name}\"",
        token.accessor
    )
}

fn anonymous_denied(permission: &str, name: &str) -> String {
    let on = if name.is_empty() { String::new() } else { format!(" on \"{name}\"") };
    format!(
        "Permission denied: anonymous token lacks permission '{permission}'{on}. The anonymous token is used implicitly when a request does not specify a token."
    )
}

impl Acl {
    async fn start(dir: &std::path::Path) -> Acl {
        let server = TestServer::start_with(&dir.join("data"), None, |c| {
            c.acl.enabled = true;
            c.acl.default_policy = DefaultPolicy::Deny;
        })
        .await;
        let client = reqwest::Client::new();
        let mut acl = Acl { server, client, management: String::new() };
        let boot = acl.call(Method::PUT, "/v1/acl/bootstrap", None, "").await;
        assert_eq!(boot.status, 200, "{}", boot.body);
        acl.management = boot.json()["SecretID"].as_str().unwrap().to_string();
        acl
    }

    async fn call(&self, method: Method, path: &str, token: Option<&str>, body: &str) -> Answer {
        let mut request = self.client.request(method, format!("http://{}{path}", self.server.http));
        if let Some(token) = token {
            request = request.header("X-Consul-Token", token);
        }
        let response = request.body(body.to_string()).send().await.expect("the server answers");
        let status = response.status().as_u16();
        let filtered = match response.headers().get(FILTERED) {
            None => false,
            Some(v) => {
                assert_eq!(v, "true");
                true
            }
        };
        Answer { status, body: response.text().await.unwrap(), filtered }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, "").await
    }

    async fn put(&self, path: &str, token: Option<&str>, body: &str) -> Answer {
        self.call(Method::PUT, path, token, body).await
    }

    /// As the management token, which must succeed.
    async fn admin(&self, method: Method, path: &str, body: &str) -> Value {
        let answer = self.call(method, path, Some(&self.management.clone()), body).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
        serde_json::from_str(&answer.body).unwrap_or(Value::String(answer.body))
    }

    /// A policy with `rules` and a token holding it.
    async fn token(&self, name: &str, rules: &str) -> Token {
        let policy =
            self.admin(Method::PUT, "/v1/acl/policy", &json!({"Name": name, "Rules": rules}).to_string()).await;
        let token = json!({"Description": name, "Policies": [{"ID": policy["ID"]}]});
        let made = self.admin(Method::PUT, "/v1/acl/token", &token.to_string()).await;
        Token {
            accessor: made["AccessorID"].as_str().unwrap().to_string(),
            secret: made["SecretID"].as_str().unwrap().to_string(),
        }
    }

    /// Gives the anonymous token the rules `rules`.
    async fn anonymous_may(&self, rules: &str) {
        let policy = json!({"Name": "anonymous-rules", "Rules": rules});
        let policy = self.admin(Method::PUT, "/v1/acl/policy", &policy.to_string()).await;
        let update = json!({"Policies": [{"ID": policy["ID"]}]});
        self.admin(Method::PUT, &format!("/v1/acl/token/{ANONYMOUS_ID}"), &update.to_string()).await;
    }

    async fn kv(&self, key: &str) -> Option<String> {
        let answer = self.get(&format!("/v1/kv/{key}?raw"), Some(&self.management.clone())).await;
        (answer.status == 200).then_some(answer.body)
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

fn keys(answer: &Answer, field: &str) -> Vec<String> {
    let mut out: Vec<String> =
        answer.json().as_array().unwrap().iter().map(|v| v[field].as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn t67_kv_reads_writes_and_recursive_deletes_follow_key_rules() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    for (key, value) in [("app/a", "1"), ("app/b", "2"), ("app/keep", "3"), ("secret/x", "4")] {
        assert_eq!(acl.admin(Method::PUT, &format!("/v1/kv/{key}"), value).await, json!(true));
    }
    let reader = acl.token("app-read", r#"key_prefix "app/" { policy = "read" }"#).await;
    let writer = acl
        .token(
            "app-write",
            r#"key_prefix "app/" { policy = "write" }
key "app/keep" { policy = "deny" }"#,
        )
        .await;
    let r = Some(reader.secret.as_str());
    let w = Some(writer.secret.as_str());

    // One key: key:read, else Consul's denial naming the token and key.
    let answer = acl.get("/v1/kv/app/a?raw", r).await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "1"));
    let answer = acl.get("/v1/kv/secret/x", r).await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "key:read", "secret/x")));
    let answer = acl.get("/v1/kv/app/a", None).await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("key:read", "app/a")));
    let answer = acl.get("/v1/kv/app/a", Some("not-a-secret")).await;
    assert_eq!((answer.status, answer.body.as_str()), (403, "ACL not found"));

    // Lists keep what the token may read, and say so.
    let answer = acl.get("/v1/kv/?recurse", r).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(keys(&answer, "Key"), ["app/a", "app/b", "app/keep"]);
    assert!(answer.filtered);
    let answer = acl.get("/v1/kv/?keys&separator=/", r).await;
    assert_eq!(answer.json(), json!(["app/"]), "secret/ is a folder the token may not read");
    assert!(answer.filtered);
    let answer = acl.get("/v1/kv/app/?recurse", r).await;
    assert_eq!(keys(&answer, "Key").len(), 3);
    assert!(!answer.filtered, "nothing was hidden");
    let answer = acl.get("/v1/kv/secret/?recurse", r).await;
    assert_eq!((answer.status, answer.filtered), (404, true), "all hidden: not found, marked");

    // Writes: key:write, and a refused one changes nothing.
    let answer = acl.put("/v1/kv/app/a", r, "changed").await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "key:write", "app/a")));
    let answer = acl.put("/v1/kv/app/a?cas=0", r, "changed").await;
    assert_eq!(answer.status, 403);
    let answer = acl.put("/v1/kv/app/new", None, "x").await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("key:write", "app/new")));
    assert_eq!(acl.kv("app/a").await.as_deref(), Some("1"));
    assert_eq!(acl.kv("app/new").await, None);
    let answer = acl.call(Method::DELETE, "/v1/kv/app/b", r, "").await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "key:write", "app/b")));
    assert_eq!(acl.kv("app/b").await.as_deref(), Some("2"));
    let answer = acl.put("/v1/kv/app/a", w, "changed").await;
    assert_eq!((answer.status, answer.body.as_str()), (200, "true"));
    assert_eq!(acl.kv("app/a").await.as_deref(), Some("changed"));

    // A recursive delete needs write on everything under the prefix: the
    // deny on app/keep refuses all of it, and nothing goes.
    let answer = acl.call(Method::DELETE, "/v1/kv/app/?recurse", w, "").await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "key:write", "app/")));
    for key in ["app/a", "app/b", "app/keep"] {
        assert!(acl.kv(key).await.is_some(), "{key} is still there");
    }
    let answer = acl.call(Method::DELETE, "/v1/kv/app/b", w, "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(acl.kv("app/b").await, None);

    // The anonymous token's lists are filtered without saying so.
    acl.anonymous_may(r#"key_prefix "app/" { policy = "read" }"#).await;
    let answer = acl.get("/v1/kv/?recurse", None).await;
    assert_eq!(keys(&answer, "Key"), ["app/a", "app/keep"]);
    assert!(!answer.filtered, "anonymous callers are not told");
    acl.stop().await;
}

/// Registers `node` at `address` with `service` (an ID and name) and a
/// check on it, as the management token.
async fn register(acl: &Acl, node: &str, service: &str) {
    let body = json!({
        "Node": node, "Address": "10.0.0.1",
        "Service": {"ID": service, "Service": service, "Port": 80},
        "Checks": [{"CheckID": format!("{service}-check"), "Name": "alive", "Status": "passing", "ServiceID": service},
                   {"CheckID": format!("{node}-serf"), "Name": "node", "Status": "passing"}],
    });
    assert_eq!(acl.admin(Method::PUT, "/v1/catalog/register", &body.to_string()).await, json!(true));
}

#[tokio::test(flavor = "multi_thread")]
async fn t67_catalog_and_health_reads_are_filtered_by_node_and_service_read() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    register(&acl, "n1", "web").await;
    register(&acl, "n2", "db").await;
    let proxy = json!({"Node": "n1", "Address": "10.0.0.1",
                       "Service": {"ID": "db-sidecar-proxy", "Service": "db-sidecar-proxy", "Kind": "connect-proxy",
                                   "Port": 21000, "Proxy": {"DestinationServiceName": "db"}}});
    assert_eq!(acl.admin(Method::PUT, "/v1/catalog/register", &proxy.to_string()).await, json!(true));
    let proxy_only = "node_prefix \"\" { policy = \"read\" }\nservice \"db-sidecar-proxy\" { policy = \"read\" }";
    let proxy_only = acl.token("proxy-only", proxy_only).await;
    let p = Some(proxy_only.secret.as_str());
    let n1 = acl
        .token(
            "n1",
            r#"node "n1" { policy = "read" }
service_prefix "" { policy = "read" }"#,
        )
        .await;
    let web = acl
        .token(
            "web",
            r#"node_prefix "" { policy = "read" }
service "web" { policy = "read" }"#,
        )
        .await;
    let (t, w) = (Some(n1.secret.as_str()), Some(web.secret.as_str()));

    // Service names need service:read only.
    let answer = acl.get("/v1/catalog/services", w).await;
    let names: Vec<String> = answer.json().as_object().unwrap().keys().cloned().collect();
    assert_eq!((names, answer.filtered), (vec!["web".to_string()], true));
    let answer = acl.get("/v1/catalog/services", t).await;
    assert!(answer.json().get("db").is_some() && answer.json().get("web").is_some(), "{}", answer.body);
    let answer = acl.get("/v1/catalog/services?filter=ServiceName==\"db\"", w).await;
    assert_eq!((answer.json(), answer.filtered), (json!({}), true), "the filter and the ACLs both apply");

    // Instances need node:read on the node and service:read on the service.
    let answer = acl.get("/v1/catalog/service/db", t).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), true));
    let answer = acl.get("/v1/catalog/service/web", t).await;
    assert_eq!((keys(&answer, "Node"), answer.filtered), (vec!["n1".to_string()], false));
    let answer = acl.get("/v1/catalog/nodes", t).await;
    assert_eq!((keys(&answer, "Node"), answer.filtered), (vec!["n1".to_string()], true));
    let answer = acl.get("/v1/catalog/node/n2", t).await;
    assert_eq!((answer.json(), answer.filtered), (Value::Null, true));
    let answer = acl.get("/v1/catalog/node-services/n2", t).await;
    assert_eq!((answer.json(), answer.filtered), (Value::Null, true));
    let answer = acl.get("/v1/catalog/node/n1", t).await;
    assert!(answer.json()["Services"].get("web").is_some(), "{}", answer.body);
    let answer = acl.get("/v1/catalog/node/n2", w).await;
    assert_eq!(answer.json()["Node"]["Node"], "n2");
    assert_eq!((answer.json()["Services"].clone(), answer.filtered), (json!({}), true));
    let answer = acl.get("/v1/catalog/node-services/n2", w).await;
    assert_eq!((answer.json()["Services"].clone(), answer.filtered), (json!([]), true));

    // Connect answers need service:read on the service proxied for too.
    let answer = acl.get("/v1/catalog/connect/db", t).await;
    assert_eq!((keys(&answer, "ServiceID"), answer.filtered), (vec!["db-sidecar-proxy".to_string()], false));
    let answer = acl.get("/v1/catalog/connect/db", p).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), true));
    let answer = acl.get("/v1/health/connect/db", t).await;
    assert_eq!((answer.json().as_array().unwrap().len(), answer.filtered), (1, false));
    let answer = acl.get("/v1/health/connect/db", p).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), true));

    // Health answers the same way.
    let answer = acl.get("/v1/health/service/db", t).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), true));
    let answer = acl.get("/v1/health/service/web", t).await;
    assert_eq!((answer.json().as_array().unwrap().len(), answer.filtered), (1, false));
    let answer = acl.get("/v1/health/checks/db", w).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), true));
    let answer = acl.get("/v1/health/checks/web", w).await;
    assert_eq!((keys(&answer, "CheckID"), answer.filtered), (vec!["web-check".to_string()], false));
    let answer = acl.get("/v1/health/node/n2", t).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), true));
    let answer = acl.get("/v1/health/node/n2", w).await;
    assert_eq!((keys(&answer, "CheckID"), answer.filtered), (vec!["n2-serf".to_string()], true));
    let answer = acl.get("/v1/health/state/any", t).await;
    assert_eq!((keys(&answer, "CheckID"), answer.filtered), (vec!["n1-serf".to_string(), "web-check".into()], true));
    let answer = acl.get("/v1/health/state/any?filter=CheckID==\"db-check\"", t).await;
    assert_eq!(answer.json(), json!([]), "ACLs apply with ?filter=");
    let everything = acl.admin(Method::GET, "/v1/health/state/any?filter=CheckID==\"db-check\"", "").await;
    assert_eq!(everything.as_array().unwrap().len(), 1, "management sees it: {everything}");
    let answer = acl.get("/v1/health/connect/web", w).await;
    assert_eq!(answer.status, 200);
    let answer = acl.get("/v1/health/ingress/web", Some("not-a-secret")).await;
    assert_eq!((answer.status, answer.body.as_str()), (403, "ACL not found"));

    // Anonymous: the same filtering, never marked.
    let answer = acl.get("/v1/catalog/nodes", None).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), false), "default deny: no node");
    acl.anonymous_may(
        r#"node "n1" { policy = "read" }
service_prefix "" { policy = "read" }"#,
    )
    .await;
    let answer = acl.get("/v1/catalog/nodes", None).await;
    assert_eq!((keys(&answer, "Node"), answer.filtered), (vec!["n1".to_string()], false));
    let answer = acl.get("/v1/health/service/db", None).await;
    assert_eq!((answer.json(), answer.filtered), (json!([]), false));
    acl.stop().await;
}

async fn node_json(acl: &Acl, node: &str) -> Value {
    acl.admin(Method::GET, &format!("/v1/catalog/node/{node}"), "").await
}

#[tokio::test(flavor = "multi_thread")]
async fn t67_catalog_writes_are_vetted_before_anything_changes() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    register(&acl, "n1", "api").await;
    let writer = acl.token("web-writer", r#"service_prefix "web" { policy = "write" }"#).await;
    let w = Some(writer.secret.as_str());
    let with = |node: &str, address: &str, service: Value| {
        json!({"Node": node, "Address": address, "Service": service}).to_string()
    };
    let web = json!({"ID": "web", "Service": "web", "Port": 80});

    // A new node needs node:write; nothing is registered.
    let answer = acl.put("/v1/catalog/register", w, &with("n3", "10.0.0.3", web.clone())).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "node:write", "n3")));
    assert_eq!(node_json(&acl, "n3").await, Value::Null);
    let answer = acl.put("/v1/catalog/register", None, &with("n3", "10.0.0.3", web.clone())).await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("service:write", "web")));

    // The same node record again: service:write is enough.
    let answer = acl.put("/v1/catalog/register", w, &with("n1", "10.0.0.1", web.clone())).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(node_json(&acl, "n1").await["Services"].get("web").is_some());
    // A changed address is a node write.
    let answer = acl.put("/v1/catalog/register", w, &with("n1", "10.9.9.9", web.clone())).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "node:write", "n1")));
    assert_eq!(node_json(&acl, "n1").await["Node"]["Address"], "10.0.0.1");
    let meta = json!({"Node": "n1", "Address": "10.0.0.1", "NodeMeta": {"rack": "r2"}, "Service": web.clone()});
    let answer = acl.put("/v1/catalog/register", w, &meta.to_string()).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "node:write", "n1")));
    assert_eq!(node_json(&acl, "n1").await["Node"]["Meta"], json!({}));

    // Another service, a proxy for one, a node check, a service taken over by ID.
    let db = json!({"ID": "db", "Service": "db"});
    let answer = acl.put("/v1/catalog/register", w, &with("n1", "10.0.0.1", db)).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "service:write", "db")));
    let proxy = json!({"ID": "web-proxy", "Service": "web-proxy", "Kind": "connect-proxy", "Port": 21000,
                       "Proxy": {"DestinationServiceName": "db"}});
    let answer = acl.put("/v1/catalog/register", w, &with("n1", "10.0.0.1", proxy)).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "service:write", "db")));
    let node_check = json!({"Node": "n1", "Address": "10.0.0.1", "Check": {"CheckID": "mine", "Name": "mine"}});
    let answer = acl.put("/v1/catalog/register", w, &node_check.to_string()).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "node:write", "n1")));
    let takeover = json!({"ID": "api", "Service": "web-api"});
    let answer = acl.put("/v1/catalog/register", w, &with("n1", "10.0.0.1", takeover)).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "service:write", "api")));
    let api_check = json!({"Node": "n1", "Address": "10.0.0.1",
                           "Check": {"CheckID": "api-2", "Name": "api", "ServiceID": "api"}});
    let answer = acl.put("/v1/catalog/register", w, &api_check.to_string()).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "service:write", "api")));
    let services = node_json(&acl, "n1").await["Services"].clone();
    let mut ids: Vec<&String> = services.as_object().unwrap().keys().collect();
    ids.sort();
    assert_eq!(ids, ["api", "web"], "{services}");
    assert_eq!(services["api"]["Service"], "api");
    let checks = acl.admin(Method::GET, "/v1/health/node/n1", "").await;
    let check_ids: Vec<&str> = checks.as_array().unwrap().iter().map(|c| c["CheckID"].as_str().unwrap()).collect();
    assert_eq!(check_ids.len(), 2, "api-check and n1-serf only: {checks}");

    // Deregistration: a whole node or another's service is refused.
    let answer = acl.put("/v1/catalog/deregister", w, r#"{"Node": "n1"}"#).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "node:write", "n1")));
    let answer = acl.put("/v1/catalog/deregister", w, r#"{"Node": "n1", "ServiceID": "api"}"#).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "service:write", "api")));
    let answer = acl.put("/v1/catalog/deregister", w, r#"{"Node": "n1", "CheckID": "api-check"}"#).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "service:write", "api")));
    let answer = acl.put("/v1/catalog/deregister", w, r#"{"Node": "n1", "CheckID": "n1-serf"}"#).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "node:write", "n1")));
    let after = node_json(&acl, "n1").await;
    assert!(after["Services"].get("api").is_some(), "{after}");
    assert_eq!(acl.admin(Method::GET, "/v1/health/node/n1", "").await.as_array().unwrap().len(), 2);
    let answer = acl.put("/v1/catalog/deregister", w, r#"{"Node": "n1", "ServiceID": "web"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert!(node_json(&acl, "n1").await["Services"].get("web").is_none());
    // node:write on the node may remove any of its services (Consul's rule).
    let node_writer = acl.token("n1-writer", r#"node "n1" { policy = "write" }"#).await;
    let answer =
        acl.put("/v1/catalog/deregister", Some(&node_writer.secret), r#"{"Node": "n1", "ServiceID": "api"}"#).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(node_json(&acl, "n1").await["Services"], json!({}));

    // A check added later to a stored service carries that service's name,
    // so reads filter it by that service.
    register(&acl, "n4", "cache").await;
    let later = json!({"Node": "n4", "Address": "10.0.0.1",
                       "Check": {"CheckID": "cache-2", "Name": "c", "ServiceID": "cache", "Status": "passing"}});
    assert_eq!(acl.admin(Method::PUT, "/v1/catalog/register", &later.to_string()).await, json!(true));
    let checks = acl.admin(Method::GET, "/v1/health/node/n4", "").await;
    let added = checks.as_array().unwrap().iter().find(|c| c["CheckID"] == "cache-2").expect("registered");
    assert_eq!(added["ServiceName"], "cache");
    let nodes = acl.token("nodes", r#"node_prefix "" { policy = "read" }"#).await;
    let answer = acl.get("/v1/health/node/n4", Some(&nodes.secret)).await;
    assert_eq!((keys(&answer, "CheckID"), answer.filtered), (vec!["n4-serf".to_string()], true));
    acl.stop().await;
}

async fn intentions(acl: &Acl) -> Vec<(String, String)> {
    let list = acl.admin(Method::GET, "/v1/connect/intentions", "").await;
    let mut pairs: Vec<(String, String)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["SourceName"].as_str().unwrap().into(), i["DestinationName"].as_str().unwrap().into()))
        .collect();
    pairs.sort();
    pairs
}

#[tokio::test(flavor = "multi_thread")]
async fn t67_intentions_need_intention_rules_on_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    let reader = acl.token("db-read", r#"service "db" { policy = "read" }"#).await;
    let writer = acl.token("db-intentions", "service \"db\" {\n  policy = \"read\"\n  intentions = \"write\"\n}").await;
    let (r, w) = (Some(reader.secret.as_str()), Some(writer.secret.as_str()));
    let web_db = json!({"SourceName": "web", "DestinationName": "db", "Action": "allow"}).to_string();

    let answer = acl.call(Method::POST, "/v1/connect/intentions", r, &web_db).await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "intention:write", "db")));
    let answer = acl.call(Method::POST, "/v1/connect/intentions", None, &web_db).await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("intention:write", "db")));
    assert_eq!(intentions(&acl).await, vec![]);
    let answer = acl.call(Method::POST, "/v1/connect/intentions", w, &web_db).await;
    assert_eq!(answer.status, 200, "{}", answer.body);

    // Deny everything, by a token that may write db's only: refused.
    let deny_all = json!({"Action": "deny"}).to_string();
    let path = "/v1/connect/intentions/exact?source=*&destination=*";
    let answer = acl.put(path, w, &deny_all).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "intention:write", "*")));
    let answer = acl.put("/v1/connect/intentions/exact?source=web&destination=api", w, &deny_all).await;
    assert_eq!((answer.status, answer.body), (403, denied(&writer, "intention:write", "api")));
    assert_eq!(intentions(&acl).await, vec![("web".to_string(), "db".to_string())]);
    let answer = acl.get("/v1/connect/intentions/check?source=web&destination=db", None).await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("service:read", "db")));

    // Reads: lists filtered, exact reads and checks refused.
    acl.admin(Method::PUT, "/v1/connect/intentions/exact?source=web&destination=api", &deny_all).await;
    let answer = acl.get("/v1/connect/intentions", r).await;
    assert_eq!(keys(&answer, "DestinationName"), ["db"]);
    assert!(answer.filtered);
    let answer = acl.get("/v1/connect/intentions/exact?source=web&destination=db", r).await;
    assert_eq!((answer.status, answer.json()["Action"].clone()), (200, json!("allow")));
    let answer = acl.get("/v1/connect/intentions/exact?source=web&destination=api", r).await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "intention:read", "api")));
    let answer = acl.get("/v1/connect/intentions/check?source=web&destination=db", r).await;
    assert_eq!((answer.status, answer.json()), (200, json!({"Allowed": true})));
    let answer = acl.get("/v1/connect/intentions/check?source=web&destination=api", r).await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "service:read", "api")));
    let answer = acl.get("/v1/connect/intentions/match?by=destination&name=db", r).await;
    assert_eq!(answer.json()["db"].as_array().unwrap().len(), 1, "{}", answer.body);
    let answer = acl.get("/v1/connect/intentions/match?by=destination&name=api", r).await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "intention:read", "api")));

    // Deletes: intention:write on the destination.
    let exact = "/v1/connect/intentions/exact?source=web&destination=db";
    let answer = acl.call(Method::DELETE, exact, r, "").await;
    assert_eq!((answer.status, answer.body), (403, denied(&reader, "intention:write", "db")));
    assert_eq!(intentions(&acl).await.len(), 2);
    let answer = acl.call(Method::DELETE, exact, w, "").await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(intentions(&acl).await, vec![("web".to_string(), "api".to_string())]);
    acl.stop().await;
}

async fn active_root(acl: &Acl) -> String {
    let roots = acl.get("/v1/connect/ca/roots", None).await;
    assert_eq!(roots.status, 200, "the roots need no token: {}", roots.body);
    roots.json()["ActiveRootID"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn t67_the_ca_configuration_and_operator_endpoints_need_operator_rules() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    let reader = acl.token("operator-read", r#"operator = "read""#).await;
    let nobody = acl.token("nothing", r#"service "x" { policy = "read" }"#).await;
    let (r, n) = (Some(reader.secret.as_str()), Some(nobody.secret.as_str()));
    let denied_op = |t: &Token, level: &str| {
        format!("Permission denied: token with AccessorID '{}' lacks permission 'operator:{level}'", t.accessor)
    };

    // The CA configuration: operator:write to read it, and to change it.
    let root = active_root(&acl).await;
    let answer = acl.get("/v1/connect/ca/configuration", r).await;
    assert_eq!((answer.status, answer.body), (403, denied_op(&reader, "write")));
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let body = json!({"Provider": "consul", "Config": {"PrivateKey": key}}).to_string();
    let answer = acl.put("/v1/connect/ca/configuration", r, &body).await;
    assert_eq!((answer.status, answer.body), (403, denied_op(&reader, "write")));
    let answer = acl.put("/v1/connect/ca/configuration", None, &body).await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("operator:write", "")));
    assert_eq!(active_root(&acl).await, root, "the refused key changed nothing");
    acl.admin(Method::PUT, "/v1/connect/ca/configuration", &body).await;
    assert_ne!(active_root(&acl).await, root, "the same request by management rotates the root");

    // Raft: reading needs operator:read, changing operator:write.
    let answer = acl.get("/v1/operator/raft/configuration", n).await;
    assert_eq!((answer.status, answer.body), (403, denied_op(&nobody, "read")));
    let answer = acl.get("/v1/operator/raft/configuration", r).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let id = answer.json()["Servers"][0]["ID"].as_str().unwrap().to_string();
    let answer = acl.call(Method::DELETE, &format!("/v1/operator/raft/peer?id={id}"), r, "").await;
    assert_eq!((answer.status, answer.body), (403, denied_op(&reader, "write")));
    let answer = acl.call(Method::POST, "/v1/operator/raft/transfer-leader", r, "").await;
    assert_eq!((answer.status, answer.body), (403, denied_op(&reader, "write")));
    let after = acl.get("/v1/operator/raft/configuration", r).await.json();
    assert_eq!(after["Servers"].as_array().unwrap().len(), 1);
    assert_eq!((after["Servers"][0]["ID"].as_str(), after["Servers"][0]["Voter"].as_bool()), (Some(&*id), Some(true)));

    // Autopilot and usage.
    for path in ["/v1/operator/autopilot/configuration", "/v1/operator/autopilot/health", "/v1/operator/usage"] {
        let answer = acl.get(path, n).await;
        assert_eq!((answer.status, answer.body), (403, denied_op(&nobody, "read")), "{path}");
        assert_eq!(acl.get(path, r).await.status, 200, "{path}");
    }
    let answer = acl.get("/v1/operator/autopilot/state", None).await;
    assert_eq!((answer.status, answer.body), (403, anonymous_denied("operator:read", "")));
    let config = acl.get("/v1/operator/autopilot/configuration", r).await.json();
    let mut changed = config.clone();
    changed["MaxTrailingLogs"] = json!(config["MaxTrailingLogs"].as_u64().unwrap() + 7);
    let answer = acl.put("/v1/operator/autopilot/configuration", r, &changed.to_string()).await;
    assert_eq!((answer.status, answer.body), (403, denied_op(&reader, "write")));
    assert_eq!(acl.get("/v1/operator/autopilot/configuration", r).await.json(), config);
    let answer = acl.get("/v1/operator/usage", Some("not-a-secret")).await;
    assert_eq!((answer.status, answer.body.as_str()), (403, "ACL not found"));

    // /v1/status/* stays open, whatever the token.
    assert_eq!(acl.get("/v1/status/leader", Some("not-a-secret")).await.status, 200);
    assert_eq!(acl.get("/v1/status/peers", None).await.status, 200);
    acl.stop().await;
}
