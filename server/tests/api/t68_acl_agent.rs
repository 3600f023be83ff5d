//! ACLs on an agent's own surface: the agent endpoints (filtered lists,
//! node and service writes), DNS as the agent's default token, the agent
//! tokens set through `/v1/agent/token/:type`, and the default-policy
//! header on every answer.

use hickory_proto::rr::RecordType;
use serde_json::json;
use serde_json::Value;
use tessera_mesh::acl::DefaultPolicy;

use crate::support::TestServer;

async fn send(method: &str, addr: &str, path: &str, token: Option<&str>, body: &str) -> reqwest::Response {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new().request(method, format!("http://{addr}{path}")).body(body.to_string());
    if let Some(token) = token {
        request = request.header("X-Consul-Token", token);
    }
    request.send().await.expect("the server answers")
}

async fn call(method: &str, addr: &str, path: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let reply = send(method, addr, path, token, body).await;
    (reply.status().as_u16(), reply.text().await.unwrap())
}

struct Acl {
    server: TestServer,
    management: String,
}

impl Acl {
    async fn start(dir: &std::path::Path) -> Acl {
        let server = TestServer::start_with(&dir.join("data"), None, |c| {
            c.acl.enabled = true;
            c.acl.default_policy = DefaultPolicy::Deny;
        })
        .await;
        let (status, boot) = call("PUT", &server.http, "/v1/acl/bootstrap", None, "").await;
        assert_eq!(status, 200, "{boot}");
        let boot: Value = serde_json::from_str(&boot).unwrap();
        Acl { server, management: boot["SecretID"].as_str().unwrap().to_string() }
    }

    /// A token with these rules: (AccessorID, SecretID).
    async fn token(&self, name: &str, rules: &str) -> (String, String) {
        let policy = json!({"Name": name, "Rules": rules}).to_string();
        let (status, made) = call("PUT", &self.server.http, "/v1/acl/policy", Some(&self.management), &policy).await;
        assert_eq!(status, 200, "{made}");
        let body = json!({"Policies": [{"Name": name}]}).to_string();
        let (status, made) = call("PUT", &self.server.http, "/v1/acl/token", Some(&self.management), &body).await;
        assert_eq!(status, 200, "{made}");
        let made: Value = serde_json::from_str(&made).unwrap();
        (made["AccessorID"].as_str().unwrap().into(), made["SecretID"].as_str().unwrap().into())
    }

    async fn register(&self, name: &str) {
        let body = json!({"Name": name, "Port": 8080}).to_string();
        let (status, text) =
            call("PUT", &self.server.http, "/v1/agent/service/register", Some(&self.management), &body).await;
        assert_eq!(status, 200, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t68_agent_endpoints_filter_reads_and_vet_writes() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    let http = acl.server.http.clone();
    acl.register("web").await;
    acl.register("db").await;
    let (web_id, web) = acl.token("web-only", "service \"web\" {\n  policy = \"write\"\n}\n").await;

    // Listed services: only web, marked as filtered for a real token, not for anonymous.
    let reply = send("GET", &http, "/v1/agent/services", Some(&web), "").await;
    assert_eq!(reply.headers()["x-consul-results-filtered-by-acls"], "true");
    assert_eq!(reply.headers()["x-consul-default-acl-policy"], "deny");
    let services: Value = reply.json().await.unwrap();
    assert_eq!(services.as_object().unwrap().keys().collect::<Vec<_>>(), ["web"]);
    let anonymous = send("GET", &http, "/v1/agent/services", None, "").await;
    assert!(anonymous.headers().get("x-consul-results-filtered-by-acls").is_none());
    assert_eq!(anonymous.json::<Value>().await.unwrap(), json!({}));

    // Writes: web's own service yes, db's no, a node check needs node:write.
    let (status, text) = call("PUT", &http, "/v1/agent/service/deregister/db", Some(&web), "").await;
    assert_eq!(status, 403);
    assert_eq!(
        text,
        format!("Permission denied: token with AccessorID '{web_id}' lacks permission 'service:write' on \"db\"")
    );
    let check = json!({"Name": "disk", "TTL": "30s"}).to_string();
    let (status, text) = call("PUT", &http, "/v1/agent/check/register", Some(&web), &check).await;
    assert_eq!((status, text.contains("'node:write' on \"in-process\"")), (403, true), "{text}");
    let own_check = json!({"Name": "web-ttl", "TTL": "30s", "ServiceID": "web"}).to_string();
    assert_eq!(call("PUT", &http, "/v1/agent/check/register", Some(&web), &own_check).await.0, 200);
    let (_, services) = call("GET", &http, "/v1/agent/services", Some(&acl.management), "").await;
    assert!(services.contains("\"db\""), "the refused deregistration changed nothing: {services}");

    // The agent's own endpoints need agent rules; an unknown secret is not a token.
    assert_eq!(call("GET", &http, "/v1/agent/self", Some(&web), "").await.0, 403);
    assert_eq!(call("GET", &http, "/v1/agent/self", Some(&acl.management), "").await.0, 200);
    assert_eq!(call("PUT", &http, "/v1/agent/reload", None, "").await.0, 403);
    assert_eq!(call("GET", &http, "/v1/agent/services", Some("nope"), "").await, (403, "ACL not found".into()));
    acl.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t68_dns_answers_as_the_default_token_set_through_the_agent_token_api() {
    let dir = tempfile::tempdir().unwrap();
    let acl = Acl::start(dir.path()).await;
    let http = acl.server.http.clone();
    acl.register("web").await;
    let ask = || cluster_tests::dns_query(&acl.server.dns, "web.service.consul.", RecordType::A);
    let (code, _) = ask().await.unwrap();
    assert_eq!(code, "Non-Existent Domain", "anonymous sees nothing under default deny");

    let (_, reader) = acl
        .token(
            "dns-read",
            "service_prefix \"\" {\n  policy = \"read\"\n}\nnode_prefix \"\" {\n  policy = \"read\"\n}\n",
        )
        .await;
    let body = json!({"Token": reader}).to_string();
    assert_eq!(call("PUT", &http, "/v1/agent/token/default", None, &body).await.0, 403, "needs acl:write");
    assert_eq!(
        call("PUT", &http, "/v1/agent/token/nonsense", Some(&acl.management), &body).await,
        (404, "Token \"nonsense\" is unknown".into())
    );
    assert_eq!(call("PUT", &http, "/v1/agent/token/default", Some(&acl.management), &body).await.0, 200);
    let (code, answers) = ask().await.unwrap();
    assert_eq!((code.as_str(), answers), ("No Error", vec!["A 127.0.0.1".to_string()]));
    // The default token now also answers HTTP calls without a token.
    assert!(call("GET", &http, "/v1/catalog/service/web", None, "").await.1.contains("\"web\""));
    acl.server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t68_the_default_policy_header_is_sent_with_acls_off_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let reply = send("GET", &server.http, "/v1/status/leader", None, "").await;
    assert_eq!(reply.headers()["x-consul-default-acl-policy"], "allow");
    let reply = send("GET", &server.http, "/v1/agent/services", Some("anything"), "").await;
    assert_eq!(reply.status(), 200, "tokens mean nothing with ACLs off");
    server.stop().await;
}
