//! The check types beyond TCP, HTTP and TTL, each against a real peer on
//! 127.0.0.1 port 0: script checks (and how they are gated), gRPC health,
//! HTTPS with TLSSkipVerify and TLSServerName, H2PING (h2c and TLS) and UDP.

use std::sync::Arc;
use std::sync::Mutex;

use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use cluster_tests::wait_until;
use cluster_tests::Http;
use tessera_mesh::catalog::definition::ScriptChecks;

use crate::support::TestServer;
use crate::support::SETTLE;

const REMOTE_REFUSAL: &str =
    "Scripts are disabled on this agent from remote calls; to enable, configure 'enable_script_checks' to true";

/// Waits until the agent's check `id` has `status` from a run (not the
/// critical, empty-output status a new check starts with); returns its
/// output.
async fn wait_status(http: &Http, server: &TestServer, id: &str, status: &str) -> String {
    wait_until(&format!("check {id} is {status}"), SETTLE, || async {
        let checks: Value = http.get_json(&server.http, "/v1/agent/checks").await?;
        let check = checks.get(id)?;
        let output = check["Output"].as_str().unwrap_or_default();
        let initial = check["Status"] == "critical" && output.is_empty();
        (check["Status"] == status && !initial).then(|| output.to_string())
    })
    .await
}

async fn register_check(http: &Http, server: &TestServer, body: &str) {
    let (code, text) = http.put(&server.http, "/v1/agent/check/register", body).await.unwrap();
    assert_eq!(code, 200, "{body}: {text}");
}

fn config_dir(root: &std::path::Path, text: &str) -> std::path::PathBuf {
    let dir = root.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("checks.json"), text).unwrap();
    dir
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
fn ended(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_script_checks_from_files_map_exit_codes_capture_output_and_time_out() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let checks = serde_json::json!({"checks": [
        {"id": "ok", "name": "ok", "args": ["sh", "-c", "echo out; echo err >&2"], "interval": "200ms"},
        {"id": "warn", "name": "warn", "args": ["sh", "-c", "exit 1"], "interval": "200ms"},
        {"id": "crit", "name": "crit", "args": ["sh", "-c", "echo broken; exit 2"], "interval": "200ms"},
        {"id": "missing", "name": "missing", "args": ["/no/such/program"], "interval": "200ms"},
        // A child in the script's group holds the output pipe: the timeout
        // kills the whole group, and the check still reports in time.
        {"id": "slow", "name": "slow", "interval": "1s", "timeout": "300ms", "args": ["sh", "-c",
            format!("echo started; sleep 30 & echo $! > {}; wait", pid_file.display())]},
    ]});
    let config = config_dir(dir.path(), &checks.to_string());
    let local_only = |c: &mut tessera_server::config::AgentConfig| {
        c.script_checks = ScriptChecks { enable_local_script_checks: true, ..Default::default() }
    };
    let server = TestServer::start_with(&dir.path().join("data"), Some(&config), local_only).await;
    let http = Http::new();

    assert_eq!(wait_status(&http, &server, "ok", "passing").await, "out\nerr\n", "stdout and stderr, in order");
    wait_status(&http, &server, "warn", "warning").await;
    assert_eq!(wait_status(&http, &server, "crit", "critical").await, "broken\n");
    let missing = wait_status(&http, &server, "missing", "critical").await;
    assert!(missing.contains("/no/such/program"), "{missing}");
    let slow = wait_status(&http, &server, "slow", "critical").await;
    assert_eq!(slow, "Timed out (300ms) running check\n\nstarted\n");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    wait_until("the script's own child was killed with it", SETTLE, || async { ended(pid.trim()).then_some(()) }).await;

    // Local scripts only: the same check over the API is refused, by name.
    let body = r#"{"ID": "api", "Name": "api", "Args": ["true"], "Interval": "1s"}"#;
    let (code, text) = http.put(&server.http, "/v1/agent/check/register", body).await.unwrap();
    assert_eq!((code, text.as_str()), (400, format!("check.args: {REMOTE_REFUSAL}").as_str()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_script_checks_over_the_api_need_enable_script_checks() {
    let dir = tempfile::tempdir().unwrap();
    let http = Http::new();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let service = r#"{"Name": "web", "Check": {"Args": ["true"], "Interval": "1s"}}"#;
    let (code, text) = http.put(&server.http, "/v1/agent/service/register", service).await.unwrap();
    assert_eq!(code, 400);
    assert!(text.ends_with(REMOTE_REFUSAL), "{text}");
    server.stop().await;

    let enabled = |c: &mut tessera_server::config::AgentConfig| c.script_checks.enable_script_checks = true;
    let server = TestServer::start_with(&dir.path().join("data2"), None, enabled).await;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", service).await.unwrap().0, 200);
    wait_status(&http, &server, "service:web", "passing").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_grpc_checks_follow_the_health_service() {
    use tonic_health::ServingStatus;
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter.set_service_status("shop.Cart", ServingStatus::Serving).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let app = listener.local_addr().unwrap();
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
    tokio::spawn(tonic::transport::Server::builder().add_service(health).serve_with_incoming(incoming));

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    register_check(
        &http,
        &server,
        &format!(r#"{{"ID": "cart", "Name": "cart", "GRPC": "{app}/shop.Cart", "Interval": "200ms"}}"#),
    )
    .await;
    register_check(
        &http,
        &server,
        &format!(r#"{{"ID": "other", "Name": "other", "GRPC": "{app}/shop.Other", "Interval": "200ms"}}"#),
    )
    .await;
    assert_eq!(wait_status(&http, &server, "cart", "passing").await, format!("gRPC check {app}/shop.Cart: success"));
    let unknown = wait_status(&http, &server, "other", "critical").await;
    assert!(
        unknown.contains("NotFound") || unknown.contains("not found"),
        "a service the server does not know: {unknown}"
    );

    reporter.set_service_status("shop.Cart", ServingStatus::NotServing).await;
    assert_eq!(
        wait_status(&http, &server, "cart", "critical").await,
        format!("gRPC {app}/shop.Cart serving status: NOT_SERVING")
    );
    reporter.set_service_status("shop.Cart", ServingStatus::Serving).await;
    wait_status(&http, &server, "cart", "passing").await;
    server.stop().await;
}

/// A self-signed certificate for `web.internal` (and its key), as rustls
/// takes them.
fn self_signed() -> (rustls_pki_types::CertificateDer<'static>, rustls_pki_types::PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["web.internal".to_string()]).unwrap().self_signed(&key).unwrap();
    (cert.der().clone(), rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

/// A listener on port 0 and a TLS acceptor with the self-signed
/// certificate, offering `alpn`.
async fn tls_listener(alpn: &[u8]) -> (TcpListener, tokio_rustls::TlsAcceptor) {
    let (cert, key) = self_signed();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![alpn.to_vec()];
    (TcpListener::bind("127.0.0.1:0").await.unwrap(), tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// An HTTPS server answering 200 to every request; records each client's SNI.
async fn https_app() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let (listener, acceptor) = tls_listener(b"http/1.1").await;
    let addr = listener.local_addr().unwrap();
    let names = Arc::new(Mutex::new(Vec::new()));
    let seen = names.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, seen) = (acceptor.clone(), seen.clone());
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else { return };
                let sni = stream.get_ref().1.server_name().unwrap_or("").to_string();
                seen.lock().unwrap().push(sni);
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok").await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, names)
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_https_checks_verify_unless_told_not_to_and_send_tls_server_name() {
    let (app, names) = https_app().await;
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    let check = |id: &str, extra: &str| {
        format!(r#"{{"ID": "{id}", "Name": "{id}", "HTTP": "https://{app}/health", "Interval": "200ms"{extra}}}"#)
    };
    register_check(&http, &server, &check("verified", "")).await;
    let refused = wait_status(&http, &server, "verified", "critical").await;
    assert!(refused.contains("certificate"), "a self-signed certificate is not trusted: {refused}");

    register_check(&http, &server, &check("skip", r#", "TLSSkipVerify": true"#)).await;
    let passed = wait_status(&http, &server, "skip", "passing").await;
    assert_eq!(passed, format!("HTTP GET https://{app}/health: 200 OK Output: ok"));

    register_check(&http, &server, &check("named", r#", "TLSSkipVerify": true, "TLSServerName": "web.internal""#))
        .await;
    wait_status(&http, &server, "named", "passing").await;
    assert!(names.lock().unwrap().iter().any(|n| n == "web.internal"), "SNI was TLSServerName: {names:?}");
    server.stop().await;
}

/// An HTTP/2 server (h2c, or TLS when `tls` is given) that only answers
/// PINGs, as h2 does while its connection is polled.
async fn h2_app(tls: Option<tokio_rustls::TlsAcceptor>, listener: TcpListener) {
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve_h2(tcp).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve_h2(stream).await
                        }
                    }
                }
            });
        }
    });
}

async fn serve_h2<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(stream: S) {
    let Ok(mut connection) = h2::server::handshake(stream).await else { return };
    while let Some(Ok(_request)) = connection.accept().await {}
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_h2ping_checks_over_h2c_and_tls_and_against_a_closed_port() {
    let h2c = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let h2c_addr = h2c.local_addr().unwrap();
    h2_app(None, h2c).await;
    let (tls, acceptor) = tls_listener(b"h2").await;
    let tls_addr = tls.local_addr().unwrap();
    h2_app(Some(acceptor), tls).await;
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    let body = |id: &str, addr: std::net::SocketAddr, extra: &str| {
        format!(r#"{{"ID": "{id}", "Name": "{id}", "H2PING": "{addr}", "Interval": "200ms"{extra}}}"#)
    };
    register_check(&http, &server, &body("h2c", h2c_addr, r#", "H2PingUseTLS": false"#)).await;
    register_check(&http, &server, &body("tls", tls_addr, r#", "TLSSkipVerify": true"#)).await;
    register_check(&http, &server, &body("verified", tls_addr, "")).await;
    register_check(&http, &server, &body("closed", closed, r#", "H2PingUseTLS": false"#)).await;
    assert_eq!(wait_status(&http, &server, "h2c", "passing").await, "HTTP2 ping was successful");
    assert_eq!(wait_status(&http, &server, "tls", "passing").await, "HTTP2 ping was successful");
    let untrusted = wait_status(&http, &server, "verified", "critical").await;
    assert!(untrusted.starts_with(&format!("Failed to dial to {tls_addr}")), "{untrusted}");
    let refused = wait_status(&http, &server, "closed", "critical").await;
    assert!(refused.starts_with(&format!("Failed to dial to {closed}")), "{refused}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_udp_checks_pass_on_an_open_port_and_fail_on_a_closed_one() {
    let open = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let open_addr = open.local_addr().unwrap();
    let closed = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    let body = |id: &str, addr: std::net::SocketAddr| {
        format!(r#"{{"ID": "{id}", "Name": "{id}", "UDP": "{addr}", "Interval": "500ms", "Timeout": "200ms"}}"#)
    };
    register_check(&http, &server, &body("open", open_addr)).await;
    register_check(&http, &server, &body("closed", closed)).await;
    // The open port answers nothing: silence until the timeout passes.
    assert_eq!(wait_status(&http, &server, "open", "passing").await, format!("UDP connect {open_addr}: Success"));
    let refused = wait_status(&http, &server, "closed", "critical").await;
    assert!(refused.contains("refused"), "the ICMP port unreachable comes back as a refused read: {refused}");
    let mut datagram = [0u8; 16];
    let (n, _) = open.recv_from(&mut datagram).await.unwrap();
    assert_eq!(n, 0, "Consul's probe is an empty datagram");
    server.stop().await;
}
