use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dev_agent;
use cluster_tests::dns_query;
use cluster_tests::wait_until;
use cluster_tests::Http;
use hickory_proto::rr::RecordType;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);

const SOCAT: &str = r#"{
  "service": {
    "name": "socat",
    "port": 8181,
    "connect": { "sidecar_service": {} }
  }
}"#;

async fn catalog_names(http: &Http, addr: &str) -> Option<Vec<String>> {
    let services = http.get_json(addr, "/v1/catalog/services").await?;
    Some(services.as_object()?.keys().cloned().collect())
}

#[tokio::test(flavor = "multi_thread")]
async fn t30_dev_agent_serves_a_config_dir_service_over_http_and_dns() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.30.1";
    let mut agent = dev_agent(ip, dir.path(), &[("socat.json", SOCAT)]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    let dns = format!("{ip}:8600");

    let names = wait_until("the catalog lists socat and its sidecar", SETTLE, || {
        let (http, addr) = (&http, &addr);
        async move { catalog_names(http, addr).await.filter(|n| n.contains(&"socat".to_string())) }
    })
    .await;
    assert_eq!(names, vec!["consul", "socat", "socat-sidecar-proxy"]);

    let rows = http.get_json(&addr, "/v1/catalog/service/socat").await.unwrap();
    assert_eq!(rows[0]["ServicePort"], 8181);
    assert_eq!(rows[0]["Address"], ip);
    let sidecar = http.get_json(&addr, "/v1/agent/service/socat-sidecar-proxy").await.unwrap();
    assert_eq!((sidecar["Kind"].as_str(), sidecar["Port"].as_u64()), (Some("connect-proxy"), Some(21000)));
    assert_eq!(sidecar["Proxy"]["DestinationServiceName"], "socat");
    assert_eq!(sidecar["Proxy"]["LocalServicePort"], 8181);

    let (code, srv) = dns_query(&dns, "socat.service.consul.", RecordType::SRV).await.expect("dns answers");
    assert_eq!(code, "No Error");
    assert_eq!(srv, vec![format!("SRV 1 1 8181 dev.node.dc1.consul.")]);
    let (_, a) = dns_query(&dns, "socat.service.consul.", RecordType::A).await.unwrap();
    assert_eq!(a, vec![format!("A {ip}")]);
    let (code, _) = dns_query(&dns, "ghost.service.consul.", RecordType::A).await.unwrap();
    assert_eq!(code, "Non-Existent Domain");
    // The sidecar is not running: its listening check is critical, so it is
    // not offered for connections.
    let (code, _) = dns_query(&dns, "socat.connect.consul.", RecordType::SRV).await.unwrap();
    assert_eq!(code, "Non-Existent Domain");

    // `dig`, as the walkthrough runs it.
    let dig = std::process::Command::new("dig")
        .args([
            "@".to_string() + ip,
            "-p".into(),
            "8600".into(),
            "socat.service.consul".into(),
            "SRV".into(),
            "+short".into(),
        ])
        .output()
        .expect("dig is installed (scripts/install-deps.sh)");
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), "1 1 8181 dev.node.dc1.consul.");
}

#[tokio::test(flavor = "multi_thread")]
async fn t31_a_failing_tcp_check_removes_the_instance_from_dns_and_passing() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.31.1";
    // An app that listens, checked by TCP every 200ms.
    let app = std::net::TcpListener::bind(format!("{ip}:9031")).unwrap();
    let echo = format!(
        r#"{{"service": {{"name": "echo", "port": 9031, "check": {{"tcp": "{ip}:9031", "interval": "200ms"}}}}}}"#
    );
    let mut agent = dev_agent(ip, dir.path(), &[("echo.json", &echo)]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    let dns = format!("{ip}:8600");
    let passing = |want: usize| {
        let (http, addr) = (&http, &addr);
        move || async move {
            let list = http.get_json(addr, "/v1/health/service/echo?passing").await?;
            (list.as_array()?.len() == want).then_some(())
        }
    };
    wait_until("echo is passing", SETTLE, passing(1)).await;
    assert_eq!(dns_query(&dns, "echo.service.consul.", RecordType::A).await.unwrap().1.len(), 1);

    drop(app);
    wait_until("echo drops out of ?passing", SETTLE, passing(0)).await;
    let (code, _) = dns_query(&dns, "echo.service.consul.", RecordType::A).await.unwrap();
    assert_eq!(code, "Non-Existent Domain");
    let all = http.get_json(&addr, "/v1/health/service/echo").await.unwrap();
    assert_eq!(all[0]["Checks"].as_array().unwrap().iter().filter(|c| c["Status"] == "critical").count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn t32_reload_applies_changes_and_refuses_a_broken_file_whole() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.32.1";
    let mut agent = dev_agent(ip, dir.path(), &[("socat.json", SOCAT)]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    http.wait_json(&addr, "/v1/agent/service/socat", SETTLE).await;
    let config_dir = dir.path().join("tessera.d");

    // A new file and a broken one: the reload is refused and nothing changes.
    std::fs::write(config_dir.join("web.json"), r#"{"service": {"name": "web", "port": 8080}}"#).unwrap();
    std::fs::write(config_dir.join("zz-broken.json"), r#"{"service": {"name": "bad", "check": {"tcp": "x:1"}}}"#)
        .unwrap();
    let out = cli(&["reload", "-http-addr", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("zz-broken.json") && stderr.contains("interval"), "{stderr}");
    assert_eq!(http.get(&addr, "/v1/agent/service/web").await.unwrap().0, 404);
    assert_eq!(http.get(&addr, "/v1/agent/service/socat").await.unwrap().0, 200);

    // Fixed, and socat's file removed: web appears, socat and its sidecar go.
    std::fs::remove_file(config_dir.join("zz-broken.json")).unwrap();
    std::fs::remove_file(config_dir.join("socat.json")).unwrap();
    let out = cli(&["reload", "-http-addr", &addr]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "Configuration reload triggered");
    let services = http.get_json(&addr, "/v1/agent/services").await.unwrap();
    let ids: Vec<&String> = services.as_object().unwrap().keys().collect();
    assert_eq!(ids, vec!["web"]);
    wait_until("the catalog follows the reload", SETTLE, || {
        let (http, addr) = (&http, &addr);
        async move { catalog_names(http, addr).await.filter(|n| *n == vec!["consul".to_string(), "web".to_string()]) }
    })
    .await;

    // SIGHUP reloads too.
    std::fs::write(config_dir.join("db.json"), r#"{"service": {"name": "db", "port": 5432}}"#).unwrap();
    let pid = agent.pid().unwrap();
    std::process::Command::new("kill").args(["-HUP", &pid.to_string()]).status().unwrap();
    http.wait_json(&addr, "/v1/agent/service/db", SETTLE).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t33_api_registrations_persist_and_ttl_checks_follow_pass_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.33.1";
    let mut agent = dev_agent(ip, dir.path(), &[]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    http.wait_json(&addr, "/v1/agent/services", SETTLE).await;

    // CamelCase body, as Consul's API takes it.
    let body = r#"{"Name": "api", "ID": "api-1", "Port": 7000, "Tags": ["v2"], "Check": {"TTL": "30s"}}"#;
    assert_eq!(http.put(&addr, "/v1/agent/service/register", body).await.unwrap().0, 200);
    let (code, message) = http.put(&addr, "/v1/agent/service/register", r#"{"Name": "x", "Prot": 1}"#).await.unwrap();
    assert_eq!(code, 400);
    assert!(message.contains("Prot"), "{message}");

    let status = |want: &'static str| {
        let (http, addr) = (&http, &addr);
        move || async move {
            let checks = http.get_json(addr, "/v1/health/checks/api").await?;
            (checks.as_array()?.first()?["Status"] == want).then_some(())
        }
    };
    wait_until("a new TTL check starts critical", SETTLE, status("critical")).await;
    assert_eq!(http.put(&addr, "/v1/agent/check/pass/service:api-1?note=ok", "").await.unwrap().0, 200);
    wait_until("pass reaches the catalog", SETTLE, status("passing")).await;
    assert_eq!(http.put(&addr, "/v1/agent/check/fail/service:api-1", "").await.unwrap().0, 200);
    wait_until("fail reaches the catalog", SETTLE, status("critical")).await;
    assert_eq!(http.put(&addr, "/v1/agent/check/pass/no-such-check", "").await.unwrap().0, 404);

    // A restart keeps the API registration (same data dir).
    agent.stop();
    agent.start();
    let service: Value = http.wait_json(&addr, "/v1/agent/service/api-1", SETTLE).await;
    assert_eq!(service["Tags"][0], "v2");
    assert_eq!(http.put(&addr, "/v1/agent/service/deregister/api-1", "").await.unwrap().0, 200);
    assert_eq!(http.put(&addr, "/v1/agent/service/deregister/api-1", "").await.unwrap().0, 404);
}

#[tokio::test(flavor = "multi_thread")]
async fn t34_a_blocking_health_query_wakes_on_a_check_change() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.34.1";
    let web = r#"{"service": {"name": "web", "port": 80, "check": {"id": "web-ttl", "ttl": "30s"}}}"#;
    let mut agent = dev_agent(ip, dir.path(), &[("web.json", web)]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    let (index, _) =
        wait_until("web is in the catalog", SETTLE, || {
            let (http, addr) = (&http, &addr);
            async move {
                http.get_indexed(addr, "/v1/health/service/web").await.filter(|(_, body)| body.contains("web-ttl"))
            }
        })
        .await;
    let watcher = {
        let (http, addr) = (http.clone(), addr.clone());
        tokio::spawn(
            async move { http.get_indexed(&addr, &format!("/v1/health/service/web?index={index}&wait=20s")).await },
        )
    };
    assert!(!watcher.is_finished());
    http.put(&addr, "/v1/agent/check/pass/web-ttl", "").await.unwrap();
    let (new_index, body) =
        tokio::time::timeout(Duration::from_secs(10), watcher).await.expect("woke").unwrap().unwrap();
    assert!(new_index > index);
    assert!(body.contains("passing"), "{body}");
}

/// A tiny HTTP server answering every request with the status in `code`.
async fn http_app(addr: &str, code: std::sync::Arc<std::sync::atomic::AtomicU16>) {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let status = code.load(std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = stream.read(&mut buf).await;
                let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
                let _ = stream.write_all(reply.as_bytes()).await;
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread")]
async fn t35_http_checks_map_2xx_429_and_errors_like_consul() {
    let dir = tempfile::tempdir().unwrap();
    let ip = "127.0.35.1";
    let code = std::sync::Arc::new(std::sync::atomic::AtomicU16::new(200));
    http_app(&format!("{ip}:9035"), code.clone()).await;
    let api = format!(
        r#"{{"service": {{"name": "api", "port": 9035, "check": {{"http": "http://{ip}:9035/health", "interval": "200ms"}}}}}}"#
    );
    let mut agent = dev_agent(ip, dir.path(), &[("api.json", &api)]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    for (status, want) in [(200, "passing"), (429, "warning"), (503, "critical"), (204, "passing")] {
        code.store(status, std::sync::atomic::Ordering::SeqCst);
        wait_until(&format!("HTTP {status} makes the check {want}"), SETTLE, || {
            let (http, addr) = (&http, &addr);
            async move {
                let checks = http.get_json(addr, "/v1/health/checks/api").await?;
                (checks.as_array()?.first()?["Status"] == want).then_some(())
            }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn t36_services_register_and_deregister_read_files_as_the_agent_does() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.36.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/agent/services", SETTLE).await;
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    // Consul's CamelCase keys in JSON, and HCL: the agent's config file forms.
    let web = file("web.json", r#"{"service": {"ID": "web-1", "Name": "web", "Port": 8080}}"#);
    let api = file("api.hcl", "service {\n  name = \"api\"\n  port = 9000\n}\n");
    let bad = file("bad.json", r#"{"service": {"name": "x"}, "bogus": 1}"#);

    let out = cli(&["services", "register", "-http-addr", &addr, &web, &api]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "Registered service: web\nRegistered service: api\n");
    let services = http.get_json(&addr, "/v1/agent/services").await.unwrap();
    assert_eq!((services["web-1"]["Port"].as_u64(), services["api"]["Port"].as_u64()), (Some(8080), Some(9000)));

    let out = cli(&["services", "register", "-http-addr", &addr, &bad]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("bad.json") && stderr.contains("bogus"), "{stderr}");

    let out = cli(&["services", "deregister", "-http-addr", &addr, &web, &api]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Deregistered service: web-1\nDeregistered service: api\n");
    let services = http.get_json(&addr, "/v1/agent/services").await.unwrap();
    assert_eq!(services, serde_json::json!({}));
}
