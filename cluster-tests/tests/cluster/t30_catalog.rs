use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dev_agent;
use cluster_tests::dns_query;
use cluster_tests::wait_until;
use cluster_tests::Http;
use hickory_proto::rr::RecordType;

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
    agent.reload();
    http.wait_json(&addr, "/v1/agent/service/db", SETTLE).await;
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
