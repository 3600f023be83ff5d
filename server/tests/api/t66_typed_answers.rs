//! Every answer the shared API types cover reads back through them: the
//! server's bytes deserialize as the CLI reads them (owned) and serialize
//! again to the very same bytes, so the types carry every field the server
//! writes, in its order, with the same omissions.

use std::collections::BTreeMap;

use cluster_tests::wait_until;
use cluster_tests::Http;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tessera_mesh::api::agent::AgentSelf;
use tessera_mesh::api::agent::AgentVersion;
use tessera_mesh::api::agent::Member;
use tessera_mesh::api::catalog::OwnedAgentService;
use tessera_mesh::api::catalog::OwnedCheck;
use tessera_mesh::api::catalog::OwnedNode;
use tessera_mesh::api::connect::CaConfiguration;
use tessera_mesh::api::connect::CaRootList;
use tessera_mesh::api::connect::Intention;
use tessera_mesh::api::connect::IntentionCheckResult;
use tessera_mesh::api::connect::IntentionCreated;
use tessera_mesh::api::connect::LeafCert;
use tessera_mesh::api::entries::OwnedAgentServiceChecks;
use tessera_mesh::api::entries::OwnedCatalogNode;
use tessera_mesh::api::entries::OwnedCatalogService;
use tessera_mesh::api::entries::OwnedHealthEntry;
use tessera_mesh::api::entries::OwnedNodeServiceList;
use tessera_mesh::api::kv::KvPair;
use tessera_mesh::api::operator::AutopilotConfiguration;
use tessera_mesh::api::operator::AutopilotState;
use tessera_mesh::api::operator::OperatorHealthReply;
use tessera_mesh::api::operator::RaftConfiguration;
use tessera_mesh::api::operator::Usage;

use crate::support::TestServer;
use crate::support::SETTLE;

/// The answer at `path`, read as `T`; panics unless `T` writes it back
/// byte for byte.
async fn same<T: Serialize + DeserializeOwned>(http: &Http, server: &TestServer, path: &str) -> T {
    let (status, text) = http.get(&server.http, path).await.unwrap_or_else(|| panic!("{path} answers"));
    assert_eq!(status, 200, "{path}: {text}");
    same_text(path, &text)
}

fn same_text<T: Serialize + DeserializeOwned>(what: &str, text: &str) -> T {
    let read: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{what} reads as its type: {e}\n{text}"));
    assert_eq!(serde_json::to_string(&read).unwrap(), text, "{what} written back");
    read
}

#[tokio::test]
async fn t66_every_typed_answer_reads_back_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    let (addr, http) = (&server.http, &http);
    let web = r#"{"Name": "web", "ID": "web-1", "Port": 8080, "Tags": ["v1"], "Meta": {"team": "a"},
        "Check": {"TTL": "30s"},
        "Connect": {"SidecarService": {"Proxy": {"Upstreams": [{"DestinationName": "db", "LocalBindPort": 9191}]}}}}"#;
    assert_eq!(http.put(addr, "/v1/agent/service/register", web).await.unwrap().0, 200);
    // Passing, so /v1/agent/health answers 200 (critical is 503).
    assert_eq!(http.put(addr, "/v1/agent/check/pass/service:web-1", "").await.unwrap().0, 200);
    assert_eq!(http.put(addr, "/v1/kv/app/color?flags=3", "blue").await.unwrap().0, 200);
    assert_eq!(http.put(addr, "/v1/kv/app/empty", "").await.unwrap().0, 200);
    let intention = r#"{"SourceName": "web", "DestinationName": "db", "Action": "deny", "Meta": {"by": "t66"}}"#;
    let (status, created) = http.post(addr, "/v1/connect/intentions", intention).await.unwrap();
    assert_eq!(status, 200, "{created}");
    let created: IntentionCreated = same_text("intention create", &created);
    // The agent's registrations reach the catalog by anti-entropy.
    wait_until("the sidecar in the catalog", SETTLE, || async {
        let rows = http.get_json(addr, "/v1/catalog/service/web-sidecar-proxy").await?;
        (rows.as_array()?.len() == 1).then_some(())
    })
    .await;

    let services: BTreeMap<String, OwnedAgentService> = same(http, &server, "/v1/agent/services").await;
    assert_eq!(services["web-1"].meta["team"], "a");
    let sidecar: OwnedAgentService = same(http, &server, "/v1/agent/service/web-1-sidecar-proxy").await;
    assert_eq!(sidecar.proxy.unwrap().upstreams[0].local_bind_port, 9191);
    assert!(sidecar.content_hash.is_some());
    let checks: BTreeMap<String, OwnedCheck> = same(http, &server, "/v1/agent/checks").await;
    assert!(checks.values().any(|c| c.service_id == "web-1"));
    let local: Vec<OwnedAgentServiceChecks> = same(http, &server, "/v1/agent/health/service/name/web").await;
    assert_eq!(local[0].service.id, "web-1");
    let members: Vec<Member> = same(http, &server, "/v1/agent/members").await;
    assert_eq!(members[0].tag("role"), "consul");
    let me: AgentSelf = same(http, &server, "/v1/agent/self").await;
    assert_eq!(me.member, members[0]);
    let version: AgentVersion = same(http, &server, "/v1/agent/version").await;
    assert_eq!(version.sdk_version, me.config.version);

    let node = me.config.node_name.clone();
    let nodes: Vec<OwnedNode> = same(http, &server, "/v1/catalog/nodes").await;
    assert!(nodes.iter().any(|n| n.node == node));
    let by_id: OwnedCatalogNode = same(http, &server, &format!("/v1/catalog/node/{node}")).await;
    assert!(by_id.services.contains_key("web-1"));
    let listed: OwnedNodeServiceList = same(http, &server, &format!("/v1/catalog/node-services/{node}")).await;
    assert_eq!(listed.node.node, node);
    let rows: Vec<OwnedCatalogService> = same(http, &server, "/v1/catalog/service/web").await;
    assert!(rows[0].service_proxy.is_none(), "a typical service's ServiceProxy is {{}}");
    let rows: Vec<OwnedCatalogService> = same(http, &server, "/v1/catalog/service/web-sidecar-proxy").await;
    assert_eq!(rows[0].service_proxy.as_ref().unwrap().destination_service_id, "web-1");
    let entries: Vec<OwnedHealthEntry> = same(http, &server, "/v1/health/service/web").await;
    assert_eq!(entries[0].checks.len(), 2, "the service's check and the node's serfHealth");
    let checks: Vec<OwnedCheck> = same(http, &server, "/v1/health/checks/web").await;
    assert!(checks.iter().all(|c| c.create_index.is_some()));

    let pairs: Vec<KvPair> = same(http, &server, "/v1/kv/app?recurse").await;
    assert_eq!((pairs[0].flags, pairs[0].value.as_deref()), (3, Some("Ymx1ZQ==")));
    assert_eq!(pairs[1].value, None, "an empty value is null");

    let raft: RaftConfiguration = same(http, &server, "/v1/operator/raft/configuration").await;
    assert!(raft.servers[0].leader);
    let config: AutopilotConfiguration = same(http, &server, "/v1/operator/autopilot/configuration").await;
    assert_eq!(config.last_contact_threshold, "200ms");
    let health: OperatorHealthReply = same(http, &server, "/v1/operator/autopilot/health").await;
    assert!(health.servers[0].leader);
    let state: AutopilotState = same(http, &server, "/v1/operator/autopilot/state").await;
    assert_eq!(state.voters, vec![state.leader.clone()]);
    let usage: Usage = same(http, &server, "/v1/operator/usage").await;
    assert_eq!(usage.usage["dc1"].connect_service_instances["connect-proxy"], 1);

    let roots: CaRootList = same(http, &server, "/v1/connect/ca/roots").await;
    assert!(roots.roots.iter().any(|r| r.active && r.id == roots.active_root_id));
    let agent_roots: CaRootList = same(http, &server, "/v1/agent/connect/ca/roots").await;
    assert_eq!(agent_roots.active_root_id, roots.active_root_id);
    let ca: CaConfiguration = same(http, &server, "/v1/connect/ca/configuration").await;
    assert_eq!((ca.provider.as_str(), ca.state.is_none()), ("consul", true));
    let leaf: LeafCert = same(http, &server, "/v1/agent/connect/ca/leaf/web").await;
    assert_eq!(leaf.service, "web");

    let all: Vec<Intention> = same(http, &server, "/v1/connect/intentions").await;
    assert_eq!((all[0].id.as_str(), all[0].action.as_str()), (created.id.as_str(), "deny"));
    let exact: Intention = same(http, &server, "/v1/connect/intentions/exact?source=web&destination=db").await;
    assert_eq!(exact, all[0]);
    let check: IntentionCheckResult =
        same(http, &server, "/v1/connect/intentions/check?source=web&destination=db").await;
    assert!(!check.allowed);
    let matched: BTreeMap<String, Vec<Intention>> =
        same(http, &server, "/v1/connect/intentions/match?by=source&name=web").await;
    assert_eq!(matched["web"], all);
    server.stop().await;
}
