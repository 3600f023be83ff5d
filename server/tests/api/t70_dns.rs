//! DNS record types beyond A and SRV, on one in-process server.

use cluster_tests::dns_query;
use cluster_tests::Http;
use hickory_proto::rr::RecordType;

use crate::support::TestServer;
use crate::support::SETTLE;

#[tokio::test(flavor = "multi_thread")]
async fn t70_aaaa_ptr_and_node_meta_txt() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    for (node, address, service) in [("v6host", "fd00::7", "api6"), ("v4host", "10.9.8.7", "api4")] {
        let body = serde_json::json!({
            "Node": node, "Address": address, "NodeMeta": {"rack": "r1"},
            "Service": {"ID": service, "Service": service, "Port": 80},
        });
        assert_eq!(http.put(&server.http, "/v1/catalog/register", &body.to_string()).await.unwrap().0, 200);
    }
    let ask = |name: &'static str, kind| dns_query(&server.dns, name, kind);

    let (code, answers) = ask("api6.service.consul.", RecordType::AAAA).await.unwrap();
    assert_eq!((code.as_str(), answers), ("No Error", vec!["AAAA fd00::7".to_string()]));
    let (_, answers) = ask("api6.service.consul.", RecordType::A).await.unwrap();
    assert!(answers.is_empty(), "no IPv4 address for an IPv6-only instance: {answers:?}");
    let (_, answers) = ask("v4host.node.consul.", RecordType::A).await.unwrap();
    assert_eq!(answers, vec!["A 10.9.8.7".to_string()]);

    let (_, answers) = ask("7.8.9.10.in-addr.arpa.", RecordType::PTR).await.unwrap();
    assert_eq!(answers, vec!["PTR v4host.node.dc1.consul.".to_string()]);
    let reverse6 = "7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa.";
    let (_, answers) = ask(reverse6, RecordType::PTR).await.unwrap();
    assert_eq!(answers, vec!["PTR v6host.node.dc1.consul.".to_string()]);

    let (_, answers) = ask("v4host.node.consul.", RecordType::TXT).await.unwrap();
    assert_eq!(answers, vec!["TXT rack=r1".to_string()]);
    let (code, _) = ask("nobody.node.consul.", RecordType::TXT).await.unwrap();
    assert_eq!(code, "Non-Existent Domain");
    server.stop().await;
}
