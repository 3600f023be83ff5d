//! Request bodies as real Consul clients send them (written from the
//! clients' sources: Go's `hashicorp/consul/api`, python-consul, and the
//! Java client Spring Cloud Consul uses), each decoding as Consul's would.

use cluster_tests::wait_until;
use cluster_tests::Http;
use serde_json::Value;

use crate::support::TestServer;
use crate::support::SETTLE;

async fn started() -> (tempfile::TempDir, TestServer, Http) {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    (dir, server, http)
}

async fn put_ok(http: &Http, server: &TestServer, path: &str, body: &str) {
    let (code, text) = http.put(&server.http, path, body).await.unwrap();
    assert_eq!(code, 200, "{path} refused {body}: {text}");
}

/// Go's `AgentServiceRegistration`: `Check` and `Checks` are always there,
/// `null` when unset; a proxy always carries `MeshGateway: {}` and
/// `Expose: {}`, and each upstream `MeshGateway: {}`.
const GO_SERVICE: &str = r#"{"ID":"web-1","Name":"web","Tags":["v1"],"Port":8080,"Meta":{"team":"a"},
    "Check":{"CheckID":"web-ttl","TTL":"30s","DeregisterCriticalServiceAfter":"90m"},"Checks":null}"#;
const GO_PROXY: &str = r#"{"Kind":"connect-proxy","ID":"web-proxy","Name":"web-sidecar-proxy","Port":21000,
    "Check":null,"Checks":null,"Proxy":{"DestinationServiceName":"web","DestinationServiceID":"web-1",
    "LocalServiceAddress":"127.0.0.1","LocalServicePort":8080,"MeshGateway":{},"Expose":{},
    "Upstreams":[{"DestinationType":"service","DestinationName":"db","LocalBindPort":9191,"MeshGateway":{}}]}}"#;
/// python-consul: lower-case keys throughout.
const PYTHON_SERVICE: &str = r#"{"name":"api","id":"api-1","address":"127.0.0.1","port":9000,"tags":["py"],
    "enabletagoverride":true,"check":{"tcp":"127.0.0.1:9000","interval":"10s","timeout":"1s"}}"#;
/// The Java client Spring Cloud Consul uses (Gson: nulls omitted).
const JAVA_SERVICE: &str = r#"{"ID":"shop-8080","Name":"shop","Tags":["spring"],"Address":"127.0.0.1","Meta":{},
    "Port":8080,"EnableTagOverride":false,"Check":{"HTTP":"http://127.0.0.1:8080/actuator/health",
    "Interval":"10s","Timeout":"5s","Header":{},"TLSSkipVerify":false,"DeregisterCriticalServiceAfter":"30m"}}"#;

#[tokio::test(flavor = "multi_thread")]
async fn t40_agent_registrations_from_go_python_and_java_clients_are_taken() {
    let (_dir, server, http) = started().await;
    for body in [GO_SERVICE, GO_PROXY, PYTHON_SERVICE, JAVA_SERVICE] {
        put_ok(&http, &server, "/v1/agent/service/register", body).await;
    }
    let services = http.get_json(&server.http, "/v1/agent/services").await.unwrap();
    assert_eq!(services["web-1"]["Meta"]["team"], "a");
    assert_eq!(services["web-proxy"]["Proxy"]["Upstreams"][0]["DestinationName"], "db");
    assert_eq!(services["api-1"]["Port"], 9000);
    assert_eq!(services["api-1"]["EnableTagOverride"], true, "python's lower-case key took effect");
    assert_eq!(services["shop-8080"]["Tags"][0], "spring");
    let checks = http.get_json(&server.http, "/v1/agent/checks").await.unwrap();
    assert!(checks.get("web-ttl").is_some(), "{checks}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t41_unknown_and_enterprise_fields_are_refused_as_consul_refuses_them() {
    let (_dir, server, http) = started().await;
    let refused = [
        (r#"{"Name":"x","Prot":1}"#, r#"Request decode failed: json: unknown field "Prot""#),
        (r#"{"name":"x","check":{"ttl":"5s","bogus":true}}"#, r#"Request decode failed: json: unknown field "bogus""#),
        (r#"{"Name":"x","Namespace":"team-a"}"#, "namespace"),
        (r#"{"Name":"x","Check":{"OSService":"nginx","Interval":"10s"}}"#, "os_service checks are not supported"),
    ];
    for (body, message) in refused {
        let (code, text) = http.put(&server.http, "/v1/agent/service/register", body).await.unwrap();
        assert_eq!(code, 400, "{body}");
        assert!(text.contains(message), "{body}: {text}");
    }
    let services = http.get_json(&server.http, "/v1/agent/services").await.unwrap();
    assert_eq!(services, serde_json::json!({}), "nothing refused was registered");
    put_ok(&http, &server, "/v1/agent/service/register", r#"{"Name":"y","Namespace":"default"}"#).await;
    server.stop().await;
}

/// Go's `CatalogRegistration`: the service is an `AgentService` (its name is
/// `Service`), with `Weights` zeroed and null lists and maps.
const GO_CATALOG_REGISTER: &str = r#"{"ID":"","Node":"ext","Address":"10.0.0.9","TaggedAddresses":null,
    "NodeMeta":null,"Datacenter":"","Service":{"ID":"ext-web","Service":"web","Tags":null,"Meta":null,
    "Port":80,"Address":"","Weights":{"Passing":0,"Warning":0},"EnableTagOverride":false},
    "Check":null,"Checks":null,"SkipNodeUpdate":false}"#;
/// Go's `CatalogDeregistration` of the whole node: `ServiceID` and
/// `CheckID` are sent empty.
const GO_CATALOG_DEREGISTER: &str = r#"{"Node":"ext","Datacenter":"","ServiceID":"","CheckID":""}"#;

#[tokio::test(flavor = "multi_thread")]
async fn t42_go_catalog_register_and_deregister_bodies_work() {
    let (_dir, server, http) = started().await;
    put_ok(&http, &server, "/v1/catalog/register", GO_CATALOG_REGISTER).await;
    let instances = http.get_json(&server.http, "/v1/catalog/service/web").await.unwrap();
    assert_eq!(instances[0]["ServiceID"], "ext-web");
    assert_eq!(instances[0]["Node"], "ext");
    assert_eq!(instances[0]["ServiceWeights"]["Passing"], 1, "zeroed weights are Consul's defaults");

    let (code, text) =
        http.put(&server.http, "/v1/catalog/register", r#"{"Node":"n","Address":"a","Extra":1}"#).await.unwrap();
    assert_eq!((code, text.as_str()), (400, r#"Request decode failed: json: unknown field "Extra""#));

    put_ok(&http, &server, "/v1/catalog/deregister", GO_CATALOG_DEREGISTER).await;
    wait_until("the node is gone", SETTLE, || async {
        let nodes: Value = http.get_json(&server.http, "/v1/catalog/nodes").await?;
        nodes.as_array()?.iter().all(|n| n["Node"] != "ext").then_some(())
    })
    .await;
    server.stop().await;
}
