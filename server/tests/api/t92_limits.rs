//! The listeners' limits on real sockets: connections per client address
//! (HTTP, the server port, DNS over TCP), the header, handshake and DNS
//! idle timeouts closing silent clients, and the open-file limit raised at
//! start. Clients bind their own loopback addresses (127.0.0.101-109) so
//! each test's counts are its own.

use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use cluster_tests::wait_until;
use cluster_tests::Http;
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::ServerName;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::net::TcpStream;

use crate::support::TestServer;
use crate::support::TestTls;

/// How long a refused or timed-out connection may take to be seen closed.
const PROMPTLY: Duration = Duration::from_secs(5);

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: [u8; 4], to: &str) -> TcpStream {
    let to: SocketAddr = to.parse().unwrap();
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// What the peer sent until it closed the connection (a reset counts as
/// closed); panics if it is still open after [`PROMPTLY`].
async fn read_until_closed(conn: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(PROMPTLY, read).await.expect("the connection is closed promptly");
    got
}

/// One plain request on a fresh connection from `from`; the status line.
async fn status_from(from: [u8; 4], http: &str) -> String {
    let mut conn = connect_from(from, http).await;
    let request = format!("GET /v1/status/leader HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await.unwrap();
    let answer = read_until_closed(&mut conn).await;
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_per_address_limit_are_closed_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_with(&data, None, |c| {
        c.limits.http_max_conns_per_client = 3;
        c.limits.rpc_max_conns_per_client = 2;
        c.limits.dns_max_conns_per_client = 2;
        // Held connections must stay open for as long as the test needs them.
        c.limits.http_header_timeout = Duration::ZERO;
        c.limits.rpc_handshake_timeout = Duration::ZERO;
        c.limits.dns_tcp_idle_timeout = Duration::ZERO;
    })
    .await;

    {
        tracing::info!("--- HTTP: three idle connections from .101 hold its slots; a fourth reads 429 and is closed");
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(connect_from([127, 0, 0, 101], &server.http).await);
        }
        // The three are accepted in order; the fourth comes behind them.
        let mut extra = connect_from([127, 0, 0, 101], &server.http).await;
        let answer = String::from_utf8_lossy(&read_until_closed(&mut extra).await).to_string();
        assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests"), "{answer}");
        assert!(answer.contains("too many concurrent connections"), "{answer}");

        tracing::info!("--- another address is served meanwhile");
        assert_eq!(status_from([127, 0, 0, 102], &server.http).await, "HTTP/1.1 200 OK");
        Http::new().get_json(&server.http, "/v1/status/leader").await.expect("the harness's own client is served");

        tracing::info!("--- once one idle connection closes, .101 is served again");
        drop(held.pop());
        wait_until(".101 is served again", PROMPTLY, || async {
            (status_from([127, 0, 0, 101], &server.http).await == "HTTP/1.1 200 OK").then_some(())
        })
        .await;
    }

    {
        tracing::info!("--- server port: two raw TCP connections that never handshake hold .103's slots");
        let _held =
            [connect_from([127, 0, 0, 103], &server.rpc).await, connect_from([127, 0, 0, 103], &server.rpc).await];
        let mut extra = connect_from([127, 0, 0, 103], &server.rpc).await;
        assert!(read_until_closed(&mut extra).await.is_empty(), "closed without a word (no TLS was spoken)");

        tracing::info!("--- a TLS client from another address completes its handshake");
        let tcp = connect_from([127, 0, 0, 104], &server.rpc).await;
        let name = ServerName::try_from("server.dc1.consul").unwrap();
        let tls = tokio_rustls::TlsConnector::from(client_config(&server.tls)).connect(name, tcp);
        tokio::time::timeout(PROMPTLY, tls).await.expect("handshake in time").expect("handshake completes");
    }

    {
        tracing::info!("--- DNS over TCP: the same for .105");
        let _held =
            [connect_from([127, 0, 0, 105], &server.dns).await, connect_from([127, 0, 0, 105], &server.dns).await];
        let mut extra = connect_from([127, 0, 0, 105], &server.dns).await;
        assert!(read_until_closed(&mut extra).await.is_empty());
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_by_the_timeouts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start_with(&data, None, |c| {
        c.limits.http_header_timeout = Duration::from_millis(300);
        c.limits.rpc_handshake_timeout = Duration::from_millis(300);
        c.limits.dns_tcp_idle_timeout = Duration::from_millis(300);
    })
    .await;

    tracing::info!("--- HTTP: a connection that sends nothing, and one that stops inside its headers");
    let mut silent = connect_from([127, 0, 0, 106], &server.http).await;
    let mut partial = connect_from([127, 0, 0, 106], &server.http).await;
    partial.write_all(b"GET /v1/status/leader HTTP/1.1\r\nHost: t\r\n").await.unwrap();
    read_until_closed(&mut silent).await;
    let answer = read_until_closed(&mut partial).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"), "no answer to half a request");

    tracing::info!("--- server port: a connection that never starts its TLS handshake");
    let mut silent = connect_from([127, 0, 0, 106], &server.rpc).await;
    assert!(read_until_closed(&mut silent).await.is_empty());

    tracing::info!("--- DNS over TCP: a connection with no query, and one that answered once then went quiet");
    let mut silent = connect_from([127, 0, 0, 106], &server.dns).await;
    read_until_closed(&mut silent).await;
    let mut used = connect_from([127, 0, 0, 106], &server.dns).await;
    let query = dns_query("consul.service.consul.");
    used.write_u16(query.len() as u16).await.unwrap();
    used.write_all(&query).await.unwrap();
    let len = used.read_u16().await.unwrap() as usize;
    let mut reply = vec![0u8; len];
    used.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply[..2], query[..2], "the answer to our query (same id)");
    read_until_closed(&mut used).await;

    tracing::info!("--- a query longer than the size bound closes the connection");
    let mut big = connect_from([127, 0, 0, 106], &server.dns).await;
    big.write_u16(60_000).await.unwrap();
    assert!(read_until_closed(&mut big).await.is_empty());

    tracing::info!("--- the agent raised the open-file limit to its hard limit");
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap().to_string();
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "Max open files <soft> <hard> files"
    let (soft, hard) = (fields[3], fields[4]);
    assert!(hard == "unlimited" || soft == hard, "{line}");
    server.stop().await;
}

/// A client trusting the test CA, without a certificate of its own.
fn client_config(tls: &TestTls) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(tls.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// An A query for `name`, id 0x4242.
fn dns_query(name: &str) -> Vec<u8> {
    use hickory_proto::op::Message;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    use hickory_proto::rr::RecordType;
    let mut message = Message::query();
    message.metadata.id = 0x4242;
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
    message.to_vec().unwrap()
}
