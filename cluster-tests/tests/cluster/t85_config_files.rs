//! Agents configured the way Consul's are: a config dir of HCL and JSON
//! files holding agent keys, services and checks; `tessera validate`.

use std::path::Path;
use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::dns_query;
use cluster_tests::wait_until;
use cluster_tests::Agent;
use cluster_tests::Http;
use hickory_proto::rr::RecordType;

const SETTLE: Duration = Duration::from_secs(30);

fn write(dir: &Path, files: &[(&str, String)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// A stock Consul server config for one host, split over files as
/// operators do: later files override earlier ones key by key.
fn stock_config(dir: &Path, ip: &str) -> Vec<(&'static str, String)> {
    let data = dir.join("data").display().to_string();
    let pid = dir.join("agent.pid").display().to_string();
    vec![
        (
            "00-consul.hcl",
            format!(
                r#"datacenter = "East-1"
data_dir = "{data}"
node_name = "from-the-first-file"
server = true
bootstrap_expect = 1
bind_addr = "{ip}"
client_addr = "{ip}"
retry_interval = "1s"
log_level = "INFO"
pid_file = "{pid}"
ports {{
  http = 8500
  dns = 8600
  grpc = -1
}}
performance {{
  raft_multiplier = 1
}}
node_meta {{
  rack = "r1"
}}
telemetry {{
  prometheus_retention_time = "24h"
}}
"#
            ),
        ),
        ("10-node.json", r#"{"Node_Name": "stock-1", "ports": {"dns": 8601}, "node_meta": {"zone": "z1"}}"#.to_string()),
        (
            "20-web.hcl",
            "service {\n  name = \"web\"\n  port = 8080\n  tags = [\"v1\"]\n  check {\n    ttl = \"30s\"\n    status = \"passing\"\n  }\n}\n"
                .to_string(),
        ),
        ("README.txt", "operators' notes: skipped, as Consul skips them".to_string()),
        ("05-tls.hcl", tls_stanza(dir)),
    ]
}

/// Consul's `tls` stanza, with certificates `tessera tls` made for east-1.
fn tls_stanza(dir: &Path) -> String {
    let [ca, cert, key] = cluster_tests::tls_files(dir, "east-1", true);
    format!(
        "tls {{\n  defaults {{\n    ca_file = \"{ca}\"\n    cert_file = \"{cert}\"\n    key_file = \"{key}\"\n    \
         verify_incoming = true\n    verify_outgoing = true\n  }}\n  internal_rpc {{\n    \
         verify_server_hostname = true\n  }}\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn t85_an_agent_starts_from_a_stock_consul_config_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let ip = "127.0.85.1";
    let config_dir = tmp.path().join("consul.d");
    write(&config_dir, &stock_config(tmp.path(), ip));

    let validate = cli(&["validate", &config_dir.display().to_string()]);
    assert_eq!(validate.status.code(), Some(0), "{}", String::from_utf8_lossy(&validate.stderr));
    assert_eq!(String::from_utf8_lossy(&validate.stdout).trim(), "Configuration is valid!");

    // No flag but the config dir: everything else comes from the files.
    let mut agent = Agent::new("stock", ip, tmp.path(), vec!["-config-dir".into(), config_dir.display().to_string()]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    let me = wait_until("the agent answers /v1/agent/self", SETTLE, || {
        let (http, addr) = (&http, &addr);
        async move { http.get_json(addr, "/v1/agent/self").await }
    })
    .await;
    assert_eq!(me["Config"]["Datacenter"], "east-1", "lower-cased, as Consul does");
    assert_eq!(me["Config"]["NodeName"], "stock-1", "the later file wins");
    assert_eq!(me["Config"]["Server"], true);

    let rows = wait_until("web is in the catalog", SETTLE, || {
        let (http, addr) = (&http, &addr);
        async move {
            let rows = http.get_json(addr, "/v1/catalog/service/web").await?;
            rows.as_array().is_some_and(|r| !r.is_empty()).then_some(rows)
        }
    })
    .await;
    assert_eq!((rows[0]["Node"].as_str(), rows[0]["Datacenter"].as_str()), (Some("stock-1"), Some("east-1")));
    assert_eq!((rows[0]["ServicePort"].as_u64(), rows[0]["Address"].as_str()), (Some(8080), Some(ip)));
    assert_eq!(rows[0]["NodeMeta"], serde_json::json!({"rack": "r1", "zone": "z1"}), "maps overlay key by key");

    // ports merged field by field: DNS moved to 8601, HTTP stayed on 8500.
    let (code, a) = dns_query(&format!("{ip}:8601"), "web.service.consul.", RecordType::A).await.expect("DNS on 8601");
    assert_eq!((code.as_str(), a), ("No Error", vec![format!("A {ip}")]));

    let pid_file = tmp.path().join("agent.pid");
    let pid = std::fs::read_to_string(&pid_file).expect("pid_file written");
    assert_eq!(pid.trim().parse::<u32>().ok(), agent.pid());
    let log = agent.log();
    assert!(
        log.contains("accepted but not acted on yet") && log.contains("telemetry.prometheus_retention_time"),
        "{log}"
    );

    assert_eq!(agent.stop().and_then(|s| s.code()), Some(0));
    assert!(!pid_file.exists(), "the pid file is removed at exit");
}

#[tokio::test(flavor = "multi_thread")]
async fn t85_an_unknown_key_fails_the_start_naming_file_and_key_and_validate_agrees() {
    let tmp = tempfile::tempdir().unwrap();
    let ip = "127.0.86.1";
    let config_dir = tmp.path().join("consul.d");
    write(&config_dir, &stock_config(tmp.path(), ip));
    let bad = config_dir.join("30-bad.json");
    std::fs::write(&bad, r#"{"datacenter": "dc1", "bogus_key": 1, "ports": {"htp": 1}}"#).unwrap();
    let dir_arg = config_dir.display().to_string();
    let expected = format!(
        "failed to parse {}: 2 errors occurred:\n\t* invalid config key bogus_key\n\t* invalid config key ports.htp",
        bad.display()
    );

    let validate = cli(&["validate", &dir_arg]);
    assert_eq!(validate.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&validate.stderr).trim(), format!("Config validation failed: {expected}"));
    assert!(validate.stdout.is_empty());

    let mut agent = Agent::new("bad", ip, tmp.path(), vec!["-config-dir".into(), dir_arg.clone()]);
    agent.start();
    let status = agent.exit_status(SETTLE).await;
    assert_eq!(status.code(), Some(1));
    assert!(agent.log().contains(&format!("==> {expected}")), "{}", agent.log());
    assert!(!tmp.path().join("data").exists(), "nothing was started");

    // Later work is refused by name, by the agent and by validate alike.
    std::fs::write(&bad, "ui_config {\n  enabled = true\n}\n").unwrap();
    std::fs::rename(&bad, config_dir.join("30-ui.hcl")).unwrap();
    let validate = cli(&["validate", &dir_arg]);
    assert_eq!(validate.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&validate.stderr);
    assert!(
        stderr.contains("30-ui.hcl") && stderr.contains("* ui_config: not supported yet (later work: the web UI)"),
        "{stderr}"
    );

    // A flag given wins over the files; validate takes single files too.
    std::fs::remove_file(config_dir.join("30-ui.hcl")).unwrap();
    // A server's file alone lacks its TLS (NoRpcTls); with the TLS file it is whole.
    let file = config_dir.join("00-consul.hcl").display().to_string();
    let alone = cli(&["validate", "-quiet", &file]);
    assert!(String::from_utf8_lossy(&alone.stderr).contains("tessera tls ca create"), "{alone:?}");
    let tls_file = config_dir.join("05-tls.hcl").display().to_string();
    let validate = cli(&["validate", "-quiet", &file, &tls_file]);
    assert_eq!((validate.status.code(), validate.stdout.is_empty()), (Some(0), true));
    let mut agent =
        Agent::new("flags", ip, tmp.path(), vec!["-config-dir".into(), dir_arg, "-node".into(), "from-a-flag".into()]);
    agent.start();
    let http = Http::new();
    let addr = agent.http_addr();
    let me = wait_until("the agent answers /v1/agent/self", SETTLE, || {
        let (http, addr) = (&http, &addr);
        async move { http.get_json(addr, "/v1/agent/self").await }
    })
    .await;
    assert_eq!(me["Config"]["NodeName"], "from-a-flag");
}
