//! Agent endpoints, checks and blocking queries on one in-process server.

use std::sync::atomic::AtomicU16;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;

use cluster_tests::wait_until;
use cluster_tests::Http;

use tessera_mesh::api::catalog::OwnedAgentService;
use tessera_mesh::api::catalog::OwnedCheck;

use crate::support::Parked;
use crate::support::TestServer;
use crate::support::SETTLE;

/// The status of the first check of `service` in the catalog.
async fn check_status(http: &Http, server: &TestServer, service: &str) -> Option<String> {
    let checks = http.get_json(&server.http, &format!("/v1/health/checks/{service}")).await?;
    let checks: Vec<OwnedCheck> = serde_json::from_value(checks).ok()?;
    Some(checks.first()?.status.to_string())
}

fn config_dir(root: &std::path::Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join("config");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn t33_api_registrations_persist_and_ttl_checks_follow_pass_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(&data, None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;

    // CamelCase body, as Consul's API takes it.
    let body = r#"{"Name": "api", "ID": "api-1", "Port": 7000, "Tags": ["v2"], "Check": {"TTL": "30s"}}"#;
    assert_eq!(http.put(&server.http, "/v1/agent/service/register", body).await.unwrap().0, 200);
    let (code, message) =
        http.put(&server.http, "/v1/agent/service/register", r#"{"Name": "x", "Prot": 1}"#).await.unwrap();
    assert_eq!(code, 400);
    assert!(message.contains("Prot"), "{message}");

    let status_is = |want: &'static str| {
        let (http, server) = (&http, &server);
        move || async move { (check_status(http, server, "api").await? == want).then_some(()) }
    };
    wait_until("a new TTL check starts critical", SETTLE, status_is("critical")).await;
    assert_eq!(http.put(&server.http, "/v1/agent/check/pass/service:api-1?note=ok", "").await.unwrap().0, 200);
    wait_until("pass reaches the catalog", SETTLE, status_is("passing")).await;
    assert_eq!(http.put(&server.http, "/v1/agent/check/fail/service:api-1", "").await.unwrap().0, 200);
    wait_until("fail reaches the catalog", SETTLE, status_is("critical")).await;
    assert_eq!(http.put(&server.http, "/v1/agent/check/pass/no-such-check", "").await.unwrap().0, 404);

    // A restart on the same data dir keeps the API registration. It also
    // shows that a stopped server has ended every task and closed its store:
    // the store refuses a second open of a dir that is still open.
    server.stop().await;
    let server = TestServer::start(&data, None).await;
    let service = http.wait_json(&server.http, "/v1/agent/service/api-1", SETTLE).await;
    let service: OwnedAgentService = serde_json::from_value(service).unwrap();
    assert_eq!(service.tags[0], "v2");
    assert_eq!(http.put(&server.http, "/v1/agent/service/deregister/api-1", "").await.unwrap().0, 200);
    assert_eq!(http.put(&server.http, "/v1/agent/service/deregister/api-1", "").await.unwrap().0, 404);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t34_a_blocking_health_query_wakes_on_a_check_change() {
    let dir = tempfile::tempdir().unwrap();
    let web = r#"{"service": {"name": "web", "port": 80, "check": {"id": "web-ttl", "ttl": "30s"}}}"#;
    let config = config_dir(dir.path(), &[("web.json", web)]);
    let server = TestServer::start(&dir.path().join("data"), Some(&config)).await;
    let http = Http::new();
    let (index, _) = wait_until("web is in the catalog", SETTLE, || async {
        http.get_indexed(&server.http, "/v1/health/service/web").await.filter(|(_, body)| body.contains("web-ttl"))
    })
    .await;
    let parked = Parked::send(&server, &format!("/v1/health/service/web?index={index}&wait=20s")).await;
    http.put(&server.http, "/v1/agent/check/pass/web-ttl", "").await.unwrap();
    let answer = parked.answer(Duration::from_secs(10)).await;
    let new_index: u64 = answer
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("x-consul-index: ").map(|v| v.trim().parse().unwrap()))
        .expect("an X-Consul-Index header");
    assert!(new_index > index, "{answer}");
    assert!(answer.contains("passing"), "{answer}");
    server.stop().await;
}

/// A tiny HTTP server answering every request with the status in `code`;
/// returns its address.
async fn http_app(code: Arc<AtomicU16>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let status = code.load(Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn t35_http_checks_map_2xx_429_and_errors_like_consul() {
    let dir = tempfile::tempdir().unwrap();
    let code = Arc::new(AtomicU16::new(200));
    let app = http_app(code.clone()).await;
    let api = format!(
        r#"{{"service": {{"name": "api", "port": {}, "check": {{"http": "http://{app}/health", "interval": "200ms"}}}}}}"#,
        app.port()
    );
    let config = config_dir(dir.path(), &[("api.json", &api)]);
    let server = TestServer::start(&dir.path().join("data"), Some(&config)).await;
    let http = Http::new();
    for (status, want) in [(200, "passing"), (429, "warning"), (503, "critical"), (204, "passing")] {
        code.store(status, Ordering::SeqCst);
        wait_until(&format!("HTTP {status} makes the check {want}"), SETTLE, || async {
            (check_status(&http, &server, "api").await? == want).then_some(())
        })
        .await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t37_a_server_stops_at_once_with_a_blocking_query_parked() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = TestServer::start(&data, None).await;
    let http = Http::new();
    let (index, _) =
        wait_until("the catalog answers", SETTLE, || http.get_indexed(&server.http, "/v1/catalog/services")).await;
    let parked = Parked::send(&server, &format!("/v1/catalog/services?index={index}&wait=5m")).await;
    let started = tokio::time::Instant::now();
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(3), "stopping took {:?}", started.elapsed());
    let answer = parked.answer(Duration::from_secs(3)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "the parked query is answered, not cut: {answer}");
    // And the store is closed: the data dir opens again at once.
    TestServer::start(&data, None).await.stop().await;
}

/// An HTTP server answering 200 with `body` to every request.
async fn http_body_app(body: Vec<u8>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread")]
async fn t38_an_http_check_body_with_a_character_across_the_output_limit_still_passes() {
    let dir = tempfile::tempdir().unwrap();
    // 4,095 bytes, then a 2-byte character across byte 4,096, then a megabyte
    // more that the check must not read.
    let mut body = vec![b'a'; 4095];
    body.extend_from_slice("é".as_bytes());
    body.extend(std::iter::repeat_n(b'z', 1 << 20));
    let app = http_body_app(body).await;
    let api = format!(
        r#"{{"service": {{"name": "api", "port": {}, "check": {{"http": "http://{app}/", "interval": "200ms"}}}}}}"#,
        app.port()
    );
    let config = config_dir(dir.path(), &[("api.json", &api)]);
    let server = TestServer::start(&dir.path().join("data"), Some(&config)).await;
    let http = Http::new();
    wait_until("the check passes", SETTLE, || async {
        (check_status(&http, &server, "api").await? == "passing").then_some(())
    })
    .await;
    let checks = http.get_json(&server.http, "/v1/health/checks/api").await.unwrap();
    let output = checks[0]["Output"].as_str().unwrap();
    assert!(output.ends_with(&"a".repeat(100)), "cut before the split character: ...{}", &output[output.len() - 20..]);
    assert!(!output.contains('z'), "nothing past the limit was kept");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t39_a_service_critical_past_deregister_critical_service_after_is_deregistered() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    http.wait_json(&server.http, "/v1/agent/services", SETTLE).await;
    // A TTL check starts critical; nothing passes it.
    let doomed = r#"{"Name": "doomed", "Check": {"TTL": "30s", "DeregisterCriticalServiceAfter": "1s"}}"#;
    let kept = r#"{"Name": "kept", "Check": {"TTL": "30s"}}"#;
    for body in [doomed, kept] {
        assert_eq!(http.put(&server.http, "/v1/agent/service/register", body).await.unwrap().0, 200);
    }
    wait_until("doomed is deregistered", SETTLE, || async {
        let services = http.get_json(&server.http, "/v1/agent/services").await?;
        services.get("doomed").is_none().then_some(services)
    })
    .await;
    let services = http.get_json(&server.http, "/v1/agent/services").await.unwrap();
    assert!(services.get("kept").is_some(), "a critical service without the setting stays: {services}");
    server.stop().await;
}
