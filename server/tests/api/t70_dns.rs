//! DNS record types beyond A and SRV, on one in-process server.

use std::time::Duration;

use cluster_tests::dns_query;
use cluster_tests::Http;
use hickory_proto::op::Message;
use hickory_proto::op::OpCode;
use hickory_proto::op::Query;
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::Name;
use hickory_proto::rr::RData;
use hickory_proto::rr::Record;
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

/// A stand-in upstream DNS server on loopback: answers every question with
/// `rcode` and, for NOERROR, one A record (192.0.2.1, TTL 42). It stops
/// when dropped.
struct Upstream {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Upstream {
    async fn start(rcode: ResponseCode) -> Upstream {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
                let Ok(request) = Message::from_vec(&buf[..len]) else { continue };
                let mut reply = Message::response(request.metadata.id, OpCode::Query);
                reply.metadata.response_code = rcode;
                reply.metadata.recursion_available = true;
                if let Some(query) = request.queries.first() {
                    reply.add_query(query.clone());
                    if rcode == ResponseCode::NoError {
                        let a = RData::A(A::new(192, 0, 2, 1));
                        reply.add_answer(Record::from_rdata(query.name().clone(), 42, a));
                    }
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer).await;
            }
        });
        Upstream { addr, task }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One query, the whole reply (flags and TTLs included).
async fn ask(server: &str, name: &str, kind: RecordType) -> Message {
    let mut request = Message::query();
    request.metadata.id = 4242;
    request.metadata.recursion_desired = true;
    request.add_query(Query::query(Name::from_ascii(name).unwrap(), kind));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    socket.send_to(&request.to_vec().unwrap(), server).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(SETTLE, socket.recv_from(&mut buf)).await.expect("an answer").unwrap();
    Message::from_vec(&buf[..len]).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn t71_names_outside_the_domain_go_to_the_recursors_in_turn() {
    let failing = Upstream::start(ResponseCode::ServFail).await;
    let upstream = Upstream::start(ResponseCode::NoError).await;
    let dir = tempfile::tempdir().unwrap();
    let recursors = vec![failing.addr, upstream.addr];
    let server = TestServer::start_with(&dir.path().join("data"), None, |config| {
        config.dns.recursors = recursors;
        config.dns.recursor_timeout = Duration::from_millis(500);
    })
    .await;

    let reply = ask(&server.dns, "www.example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    let answers: Vec<String> =
        reply.answers.iter().map(|r| format!("{} {} {}", r.ttl, r.record_type(), r.data)).collect();
    assert_eq!(answers, vec!["42 A 192.0.2.1"], "the second recursor's answer, as it gave it");
    assert_eq!(reply.metadata.id, 4242);

    // In the zone, the catalog answers and says it would recurse.
    let reply = ask(&server.dns, "consul.service.consul.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(reply.metadata.recursion_available);
    // A reverse name the catalog does not know goes upstream.
    let reply = ask(&server.dns, "9.9.9.10.in-addr.arpa.", RecordType::PTR).await;
    assert_eq!(reply.answers.len(), 1, "answered by the upstream: {reply:?}");
    server.stop().await;

    // Only failing recursors, then one that does not answer: SERVFAIL.
    let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let recursors = vec![failing.addr, silent.local_addr().unwrap()];
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(&dir.path().join("data"), None, |config| {
        config.dns.recursors = recursors;
        config.dns.recursor_timeout = Duration::from_millis(200);
    })
    .await;
    let reply = ask(&server.dns, "www.example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::ServFail);
    assert!(reply.metadata.recursion_available);
    assert_eq!(reply.queries.len(), 1, "the question comes back");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t72_without_recursors_outside_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let reply = ask(&server.dns, "www.example.com.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::Refused);
    assert!(!reply.metadata.recursion_available);
    let reply = ask(&server.dns, "consul.service.consul.", RecordType::A).await;
    assert_eq!(reply.metadata.response_code, ResponseCode::NoError);
    assert!(!reply.metadata.recursion_available, "no recursors: RA is clear");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t73_ttls_and_only_passing_from_dns_config() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(&dir.path().join("data"), None, |config| {
        config.dns.node_ttl = Duration::from_secs(20);
        config.dns.service_ttl = [("web*", 10), ("*", 5), ("db", 30), ("web-exact", 7)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), Duration::from_secs(v)))
            .collect();
        config.dns.only_passing = true;
    })
    .await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    for (service, status) in [
        ("web-api", "passing"),
        ("web-exact", "passing"),
        ("db", "passing"),
        ("cache", "passing"),
        ("flaky", "warning"),
    ] {
        let body = serde_json::json!({
            "Node": "n1", "Address": "10.1.1.1",
            "Service": {"ID": service, "Service": service, "Port": 80},
            "Check": {"CheckID": format!("{service}-check"), "ServiceID": service, "Status": status},
        });
        assert_eq!(http.put(&server.http, "/v1/catalog/register", &body.to_string()).await.unwrap().0, 200);
    }
    let ttl = |reply: &Message| reply.answers.iter().map(|r| r.ttl).collect::<Vec<_>>();
    for (name, expected) in [
        ("web-api.service.consul.", 10),
        ("web-exact.service.consul.", 7),
        ("db.service.consul.", 30),
        ("cache.service.consul.", 5),
        ("n1.node.consul.", 20),
    ] {
        let reply = ask(&server.dns, name, RecordType::A).await;
        assert_eq!(ttl(&reply), vec![expected], "{name}");
    }
    let reply = ask(&server.dns, "web-api.service.consul.", RecordType::SRV).await;
    assert_eq!(ttl(&reply), vec![10]);
    assert!(reply.additionals.iter().all(|r| r.ttl == 10), "{reply:?}");
    let reply = ask(&server.dns, "flaky.service.consul.", RecordType::A).await;
    assert!(reply.answers.is_empty(), "only_passing leaves warning instances out: {reply:?}");
    server.stop().await;
}
