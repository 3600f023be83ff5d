use std::time::Duration;

use super::*;

fn hcl(text: &str) -> Result<FileConfig, ParseError> {
    parse(text, Format::Hcl)
}

fn json(text: &str) -> Result<FileConfig, ParseError> {
    parse(text, Format::Json)
}

fn errors(result: Result<FileConfig, ParseError>) -> Vec<String> {
    match result {
        Err(ParseError::Keys(errors)) => errors,
        other => panic!("expected key errors, got {other:?}"),
    }
}

const STOCK_HCL: &str = r#"
datacenter = "DC-East"
data_dir = "/opt/consul"
node_name = "web-1"
server = true
bootstrap_expect = 3
retry_join = ["10.0.0.1", "10.0.0.2"]
retry_interval = "5s"
bind_addr = "10.0.0.5"
client_addr = "127.0.0.1"
log_level = "DEBUG"
ports {
  http = 8501
  dns = -1
}
node_meta {
  rack = "r1"
}
performance {
  raft_multiplier = 2
}
telemetry {
  prometheus_retention_time = "30s"
}
service {
  name = "web"
  port = 80
}
"#;

#[test]
fn hcl_and_json_decode_alike() {
    let from_json = json(
        r#"{"datacenter": "DC-East", "data_dir": "/opt/consul", "node_name": "web-1", "server": true,
            "bootstrap_expect": 3, "retry_join": ["10.0.0.1", "10.0.0.2"], "retry_interval": "5s",
            "bind_addr": "10.0.0.5", "client_addr": "127.0.0.1", "log_level": "DEBUG",
            "ports": {"http": 8501, "dns": -1}, "node_meta": {"rack": "r1"},
            "performance": {"raft_multiplier": 2}, "telemetry": {"prometheus_retention_time": "30s"},
            "service": {"name": "web", "port": 80}}"#,
    )
    .unwrap();
    let from_hcl = hcl(STOCK_HCL).unwrap();
    assert_eq!(from_json.values(), from_hcl.values());
    assert_eq!(from_json.services, from_hcl.services);
    let settings = from_hcl.settings().unwrap();
    assert_eq!(settings.datacenter.as_deref(), Some("DC-East"));
    assert_eq!(settings.bootstrap_expect, Some(3));
    assert_eq!(settings.retry_interval, Some(Duration::from_secs(5)));
    assert_eq!(settings.ports.http, Some(8501));
    assert_eq!(settings.ports.dns, Some(-1));
    assert_eq!(settings.performance.raft_multiplier, Some(2));
    assert_eq!(settings.node_meta.get("rack").map(String::as_str), Some("r1"));
    assert_eq!(from_hcl.services[0].name, "web");
    assert_eq!(from_hcl.ignored(), vec!["telemetry.prometheus_retention_time"]);
}

#[test]
fn keys_match_in_any_case() {
    let file = json(r#"{"DataCenter": "dc2", "PORTS": {"Http": 1234}, "Node_Name": "n"}"#).unwrap();
    let settings = file.settings().unwrap();
    assert_eq!(settings.datacenter.as_deref(), Some("dc2"));
    assert_eq!(settings.ports.http, Some(1234));
    assert_eq!(settings.node_name.as_deref(), Some("n"));
    // Case only, as mapstructure: underscores still count.
    assert_eq!(errors(json(r#"{"DataDir": "/x"}"#)), vec!["invalid config key DataDir"]);
}

#[test]
fn unknown_keys_are_named_by_their_dotted_path_all_at_once() {
    let errs = errors(hcl("node = \"x\"\nports {\n  foo = 1\n}\ntelemetry {\n  dogstatsd_adr = \"x\"\n}\n"));
    assert_eq!(
        errs,
        vec!["invalid config key node", "invalid config key ports.foo", "invalid config key telemetry.dogstatsd_adr"]
    );
    let shown = ParseError::Keys(vec!["invalid config key node".into()]).to_string();
    assert_eq!(shown, "1 error occurred:\n\t* invalid config key node");
}

#[test]
fn unknown_keys_inside_definitions_are_named_with_their_path() {
    assert_eq!(errors(json(r#"{"service": {"name": "a", "prot": 1}}"#)), vec!["invalid config key service.prot"]);
    assert_eq!(
        errors(json(r#"{"services": [{"name": "a"}, {"name": "b", "connect": {"sidecar_service": {"bogus": 1}}}]}"#)),
        vec!["invalid config key services[1].connect.sidecar_service.bogus"]
    );
    let errs = errors(json(r#"{"service": {"name": "a", "port": "eighty"}}"#));
    assert!(errs[0].starts_with("service: invalid type"), "{errs:?}");
}

#[test]
fn later_work_is_refused_by_name() {
    let errs =
        errors(hcl("auto_config {\n  enabled = true\n}\nverify_incoming = true\nui_config {\n  enabled = true\n}\n"));
    assert_eq!(
        errs,
        vec![
            "auto_config: not supported yet (later work: auto_config (TLS and ACLs))",
            "ui_config: not supported yet (later work: the web UI)"
        ]
    );
    assert!(hcl("ports {\n  https = -1\n  grpc_tls = 0\n}\n").is_ok(), "off is the default");
}

#[test]
fn https_and_grpc_tls_ports_and_stanzas_are_acted_on() {
    let file = hcl("ports {\n  https = 8501\n  grpc_tls = 8503\n}\naddresses {\n  https = \"127.0.0.71\"\n}\n\
         verify_incoming_https = true\nverify_incoming = false\n\
         tls {\n  defaults {\n    cert_file = \"d.pem\"\n    verify_incoming = true\n  }\n  \
         https {\n    cert_file = \"h.pem\"\n    tls_min_version = \"TLSv1_3\"\n  }\n  \
         grpc {\n    key_file = \"g-key.pem\"\n    verify_incoming = false\n    use_auto_cert = false\n  }\n}\n")
    .unwrap();
    let settings = file.settings().unwrap();
    assert_eq!((settings.ports.https, settings.ports.grpc_tls), (Some(8501), Some(8503)));
    assert_eq!(settings.addresses.https.as_deref(), Some("127.0.0.71"));
    assert_eq!(settings.verify_incoming_https, Some(true));
    assert_eq!(settings.top_level_tls.verify_incoming, Some(false));
    let https = settings.tls.https.over(&settings.tls.defaults);
    assert_eq!(https.cert_file.as_deref(), Some("h.pem"));
    assert_eq!(https.tls_min_version.as_deref(), Some("TLSv1_3"));
    assert_eq!(https.verify_incoming, Some(true), "inherited from tls.defaults");
    let grpc = settings.tls.grpc.over(&settings.tls.defaults);
    assert_eq!((grpc.cert_file.as_deref(), grpc.key_file.as_deref()), (Some("d.pem"), Some("g-key.pem")));
    assert_eq!(grpc.verify_incoming, Some(false));
    assert_eq!(file.ignored(), vec!["tls.grpc.use_auto_cert"]);
    assert_eq!(
        errors(hcl("tls {\n  grpc {\n    verify_outgoing = true\n  }\n}\n")),
        vec!["invalid config key tls.grpc.verify_outgoing"]
    );
}

#[test]
fn wrong_types_and_values_are_mapstructure_s_and_consul_s_words() {
    assert_eq!(
        errors(json(r#"{"server": "true"}"#)),
        vec!["'server' expected type 'bool', got unconvertible type 'string', value: 'true'"]
    );
    assert_eq!(
        errors(json(r#"{"retry_interval": 30}"#)),
        vec!["'retry_interval' expected type 'string', got unconvertible type 'float64', value: '30'"]
    );
    assert_eq!(
        errors(json(r#"{"retry_join": "10.0.0.1"}"#)),
        vec!["'retry_join': source data must be an array or slice, got string"]
    );
    assert_eq!(
        errors(json(r#"{"retry_interval": "5x"}"#)),
        vec![r#"retry_interval: invalid duration: "5x": time: unknown unit "x" in duration "5x""#]
    );
    assert_eq!(errors(json(r#"{"ports": {"http": 70000}}"#)), vec!["ports.http: invalid port: 70000"]);
    assert_eq!(errors(json(r#"{"ports": "8500"}"#)), vec!["'ports' expected a map, got 'string'"]);
    assert_eq!(
        errors(json(r#"{"node_meta": {"a": 1}}"#)),
        vec!["'node_meta[a]' expected type 'string', got unconvertible type 'float64', value: '1'"]
    );
    assert_eq!(errors(hcl("bootstrap_expect = 1.5\n")).len(), 1);
    assert!(json(r#"{"bootstrap_expect": 3.0}"#).is_ok(), "a JSON number is a float; whole ones are ints");
}

#[test]
fn null_is_absent_but_an_unknown_key_is_still_unknown() {
    let file = json(r#"{"datacenter": null, "ports": {"http": null}}"#).unwrap();
    assert_eq!(file.settings().unwrap(), AgentSettings::default());
    assert_eq!(errors(json(r#"{"nope": null}"#)), vec!["invalid config key nope"]);
}

#[test]
fn syntax_errors_and_empty_files() {
    assert!(matches!(json("{\"a\": "), Err(ParseError::Syntax(_))));
    assert!(matches!(hcl("a = = 1"), Err(ParseError::Syntax(_))));
    assert!(matches!(json("[1]"), Err(ParseError::Syntax(_))));
    assert!(json("  \n").unwrap().values().is_empty());
}

#[test]
fn later_files_win_lists_append_maps_overlay_blocks_merge_by_field() {
    let mut merged = hcl(
        "datacenter = \"a\"\nlog_level = \"INFO\"\nretry_join = [\"10.0.0.1\"]\nnode_meta {\n  rack = \"r1\"\n  zone = \"z1\"\n}\nports {\n  http = 1\n  dns = 2\n}\nservice {\n  name = \"one\"\n}\n",
    )
    .unwrap();
    merged.merge(
        json(
            r#"{"datacenter": "b", "log_level": "DEBUG", "retry_join": ["10.0.0.2"], "node_meta": {"zone": "z2"},
                "ports": {"dns": 3}, "services": [{"name": "two"}]}"#,
        )
        .unwrap(),
    );
    let s = merged.settings().unwrap();
    assert_eq!((s.datacenter.as_deref(), s.log_level.as_deref()), (Some("b"), Some("DEBUG")));
    assert_eq!(s.retry_join, vec!["10.0.0.1", "10.0.0.2"]);
    assert_eq!(
        s.node_meta,
        BTreeMap::from([("rack".to_string(), "r1".to_string()), ("zone".to_string(), "z2".to_string())])
    );
    assert_eq!((s.ports.http, s.ports.dns), (Some(1), Some(3)));
    let names: Vec<_> = merged.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["one", "two"]);
}

#[test]
fn start_join_appends_to_retry_join_with_consul_s_warning() {
    let file = json(r#"{"retry_join": ["a"], "start_join": ["b"]}"#).unwrap();
    assert_eq!(file.settings().unwrap().retry_join, vec!["a", "b"]);
    assert_eq!(file.warnings, vec!["The 'start_join' field is deprecated. Use the 'retry_join' field instead."]);
}

#[test]
fn hcl_blocks_repeated_or_single_become_what_definitions_want() {
    let file = hcl(
        "service {\n  name = \"a\"\n  checks {\n    ttl = \"10s\"\n  }\n}\nservice {\n  name = \"b\"\n  check {\n    ttl = \"5s\"\n  }\n}\nchecks {\n  ttl = \"1s\"\n}\n",
    )
    .unwrap();
    assert_eq!(file.services.len(), 2);
    assert_eq!(file.services[0].checks.len(), 1);
    assert!(file.services[1].check.is_some());
    assert_eq!(file.checks.len(), 1);
}

#[test]
fn enterprise_keys_warn_as_consul_ce_does() {
    let file = json(r#"{"non_voting_server": true, "segment": "x"}"#).unwrap();
    assert_eq!(
        file.warnings,
        vec![
            "\"read_replica\" is a Consul Enterprise configuration and will have no effect",
            "\"segment\" is a Consul Enterprise configuration and will have no effect",
        ]
    );
}

#[test]
fn datacenter_and_node_meta_rules() {
    assert_eq!(datacenter("datacenter", "DC-1_a"), Ok("dc-1_a".to_string()));
    assert_eq!(
        datacenter("datacenter", "dc 1"),
        Err(r#"datacenter can only contain lowercase alphanumeric, - or _ characters. received: "dc 1""#.to_string())
    );
    let meta = BTreeMap::from([("consul-x".to_string(), "1".to_string())]);
    assert_eq!(
        validate_node_meta(&meta),
        Err("node_meta invalid: Key prefix 'consul-' is reserved for internal use".into())
    );
}

#[test]
fn a_format_is_sniffed_when_not_given() {
    assert_eq!(Format::sniff(Path::new("a.hcl"), "{\"a\": 1}"), Format::Json);
    assert_eq!(Format::sniff(Path::new("a.conf"), "a = 1"), Format::Hcl);
    assert_eq!(Format::sniff(Path::new("a.json"), "[]"), Format::Json);
}

#[test]
fn the_acl_block_maps_consuls_older_token_names() {
    let text = "acl {\n  enabled = true\n  default_policy = \"deny\"\n  token_ttl = \"45s\"\n  tokens {\n    master = \"m\"\n    agent_master = \"r\"\n    default = \"d\"\n  }\n}\n";
    let settings = hcl(text).unwrap().settings().unwrap();
    assert_eq!(settings.acl.enabled, Some(true));
    assert_eq!(settings.acl.default_policy.as_deref(), Some("deny"));
    assert_eq!(settings.acl.token_ttl, Some(std::time::Duration::from_secs(45)));
    assert_eq!(settings.acl.tokens.initial_management.as_deref(), Some("m"));
    assert_eq!(settings.acl.tokens.agent_recovery.as_deref(), Some("r"));
    assert_eq!(settings.acl.tokens.default.as_deref(), Some("d"));
    assert_eq!(
        errors(hcl("acl {\n  default_policy = \"maybe\"\n  down_policy = \"x\"\n}\n")),
        vec![
            "acl.default_policy: Unsupported default ACL policy: maybe",
            "acl.down_policy: Unsupported down ACL policy: x"
        ]
    );
}
