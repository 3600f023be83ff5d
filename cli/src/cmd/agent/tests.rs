use clap::CommandFactory;
use clap::FromArgMatches;
use tessera_mesh::agent_config::Format;
use tessera_server::config::MinVersion;
use tessera_server::config::RpcTlsConfig;

use super::*;
use crate::agent_config::tests::dir_with;

/// The agent's flags as `tessera agent ARGS` parses them, with the matches.
fn flags(args: &[&str]) -> (AgentArgs, ArgMatches) {
    let argv = crate::args::normalize(std::iter::once("tessera".to_string()).chain(args.iter().map(|s| s.to_string())));
    let matches = AgentFlagsOnly::command().try_get_matches_from(argv).unwrap();
    (AgentFlagsOnly::from_arg_matches(&matches).unwrap().agent, matches)
}

fn files(texts: &[(&str, Format)]) -> FileConfig {
    let mut merged = FileConfig::default();
    for (text, format) in texts {
        merged.merge(agent_config::parse(text, *format).unwrap());
    }
    merged
}

fn settings(args: &[&str], texts: &[(&str, Format)]) -> Result<Settings, String> {
    let (agent, matches) = flags(args);
    agent.settings(Given(Some(&matches)), &files(texts), Purpose::Run)
}

const SERVER_HCL: &str = r#"
datacenter = "East"
node_name = "s1"
data_dir = "/var/lib/x"
server = true
bootstrap_expect = 3
retry_join = ["10.0.0.2", "10.0.0.3:9300"]
retry_interval = "3s"
bind_addr = "10.0.0.1"
client_addr = "10.0.0.1"
log_level = "DEBUG"
ports {
  http = 9500
  dns = -1
  server = 9300
}
performance {
  raft_multiplier = 3
  rpc_hold_timeout = "2s"
}
node_meta {
  rack = "r1"
}
tls {
  defaults {
    ca_file = "/etc/tessera/consul-agent-ca.pem"
    cert_file = "/etc/tessera/dc1-server-consul-0.pem"
    key_file = "/etc/tessera/dc1-server-consul-0-key.pem"
  }
  internal_rpc {
    tls_min_version = "TLSv1_3"
  }
}
"#;

#[test]
fn files_set_what_flags_left_at_their_defaults() {
    let s = settings(&[], &[(SERVER_HCL, Format::Hcl)]).unwrap();
    let c = &s.config;
    assert_eq!((c.datacenter.as_str(), c.node_name.as_str()), ("east", "s1"));
    assert_eq!(c.data_dir.as_deref(), Some(std::path::Path::new("/var/lib/x")));
    assert!(c.server);
    assert_eq!(c.bootstrap_expect, 3);
    assert_eq!(c.retry_join, vec!["10.0.0.2:9300", "10.0.0.3:9300"]);
    assert_eq!(c.retry_interval, Duration::from_secs(3));
    assert_eq!(c.bind_addr, IpAddr::from([10, 0, 0, 1]));
    assert_eq!((c.http_port, c.server_port, c.dns_port), (9500, 9300, None));
    assert_eq!(c.grpc_port, Some(defaults::GRPC_PORT), "a port no file sets keeps the flag's default");
    assert_eq!((c.raft.multiplier, c.rpc_hold_timeout), (3, Duration::from_secs(2)));
    assert_eq!(c.node_meta.get("rack").map(String::as_str), Some("r1"));
    assert_eq!(s.log_level, "DEBUG");
}

#[test]
fn flags_given_win_over_files_and_list_flags_come_first() {
    let s = settings(
        &[
            "-datacenter=west",
            "-node",
            "flag-node",
            "-http-port",
            "8500",
            "-dns-port",
            "8600",
            "-retry-join",
            "10.0.0.9",
            "-log-level",
            "warn",
            "-node-meta",
            "rack:r9",
            "-node-meta",
            "zone:z1",
            "-raft-multiplier",
            "1",
            "-retry-interval",
            "1s",
        ],
        &[(SERVER_HCL, Format::Hcl)],
    )
    .unwrap();
    let c = &s.config;
    assert_eq!((c.datacenter.as_str(), c.node_name.as_str()), ("west", "flag-node"));
    assert_eq!((c.http_port, c.dns_port), (8500, Some(8600)), "a flag given at the default value still wins");
    assert_eq!(c.retry_join, vec!["10.0.0.9:9300", "10.0.0.2:9300", "10.0.0.3:9300"]);
    assert_eq!((c.raft.multiplier, c.retry_interval), (1, Duration::from_secs(1)));
    assert_eq!(s.log_level, "warn");
    let meta: Vec<(&str, &str)> = c.node_meta.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(meta, vec![("rack", "r9"), ("zone", "z1")]);
}

#[test]
fn later_files_win_over_earlier_ones_field_by_field() {
    let s = settings(
        &[],
        &[
            (SERVER_HCL, Format::Hcl),
            (r#"{"node_name": "s2", "ports": {"http": 9501}, "retry_join": ["10.0.0.4"]}"#, Format::Json),
        ],
    )
    .unwrap();
    let c = &s.config;
    assert_eq!(c.node_name, "s2");
    assert_eq!((c.http_port, c.server_port, c.dns_port), (9501, 9300, None), "ports merge by field");
    assert_eq!(c.retry_join.len(), 3);
}

#[test]
fn datacenters_follow_consul_s_rule() {
    let err = settings(&["-dev", "-datacenter", "dc 1"], &[]).unwrap_err();
    assert_eq!(err, r#"datacenter can only contain lowercase alphanumeric, - or _ characters. received: "dc 1""#);
    let err = settings(&["-dev"], &[(r#"{"datacenter": "dc.1"}"#, Format::Json)]).unwrap_err();
    assert!(err.starts_with("datacenter can only contain"), "{err}");
}

#[test]
fn empty_names_are_consul_s_errors() {
    let err = |text: &str| settings(&["-dev"], &[(text, Format::Json)]).unwrap_err();
    assert_eq!(err(r#"{"data_dir": ""}"#), "data_dir cannot be empty");
    assert_eq!(err(r#"{"node_name": ""}"#), "node_name cannot be empty");
}

#[test]
fn bootstrap_rules_are_consul_s() {
    let dir = &["-data-dir", "/x", "-retry-join", "10.0.0.2", "-ca-file", "/ca", "-cert-file", "/c", "-key-file", "/k"];
    let err = |text: &str| settings(dir, &[(text, Format::Json)]).unwrap_err();
    assert_eq!(err(r#"{"bootstrap_expect": 3}"#), "'bootstrap_expect > 0' requires 'server = true'");
    assert_eq!(err(r#"{"bootstrap": true}"#), "'bootstrap = true' requires 'server = true'");
    assert_eq!(
        err(r#"{"server": true, "bootstrap": true, "bootstrap_expect": 3}"#),
        "'bootstrap_expect > 0' and 'bootstrap = true' are mutually exclusive"
    );
    let alone = settings(dir, &[(r#"{"server": true, "bootstrap": true}"#, Format::Json)]).unwrap();
    assert!(alone.config.bootstraps_alone());
}

#[test]
fn ports_below_one_turn_dns_and_grpc_off_but_not_http() {
    let s = settings(&["-dev"], &[(r#"{"ports": {"dns": 0, "grpc": -1}}"#, Format::Json)]).unwrap();
    assert_eq!((s.config.dns_port, s.config.grpc_port), (None, None));
    let err = settings(&["-dev"], &[(r#"{"ports": {"http": -1}}"#, Format::Json)]).unwrap_err();
    assert!(err.contains("not supported yet"), "{err}");
    let err = settings(&["-dev"], &[(r#"{"ports": {"server": 0}}"#, Format::Json)]).unwrap_err();
    assert_eq!(err, "server-port must be greater than zero");
}

#[test]
fn one_address_is_bound_and_advertised() {
    let bind = |text: &str| settings(&["-dev"], &[(text, Format::Json)]).map(|s| s.config.bind_addr);
    assert_eq!(bind(r#"{"advertise_addr": "10.0.0.7"}"#), Ok(IpAddr::from([10, 0, 0, 7])));
    assert_eq!(bind(r#"{"bind_addr": "0.0.0.0", "advertise_addr": "10.0.0.7"}"#), Ok(IpAddr::from([10, 0, 0, 7])));
    assert!(bind(r#"{"bind_addr": "10.0.0.1", "advertise_addr": "10.0.0.7"}"#)
        .unwrap_err()
        .contains("not supported yet"));
    assert_eq!(
        bind(r#"{"advertise_addr": "0.0.0.0"}"#).unwrap_err(),
        "Advertise address cannot be 0.0.0.0, :: or [::]"
    );
    assert!(bind(r#"{"bind_addr": "{{ GetPrivateIP }}"}"#).unwrap_err().contains("templates are not supported yet"));
    let client = |text: &str| settings(&["-dev"], &[(text, Format::Json)]).map(|s| s.config.client_addr);
    assert_eq!(
        client(r#"{"addresses": {"http": "10.0.0.8", "dns": "10.0.0.8", "grpc": "10.0.0.8"}}"#),
        Ok(IpAddr::from([10, 0, 0, 8]))
    );
    assert!(client(r#"{"addresses": {"http": "10.0.0.8"}}"#).unwrap_err().contains("differs from the HTTP address"));
    assert!(client(r#"{"client_addr": "127.0.0.1 10.0.0.1"}"#).unwrap_err().contains("several addresses"));
}

#[test]
fn accepted_keys_and_flags_not_acted_on_are_listed() {
    let s = settings(
        &["-dev"],
        &[(r#"{"telemetry": {"disable_hostname": true}, "leave_on_terminate": true}"#, Format::Json)],
    )
    .unwrap();
    assert_eq!(s.ignored, vec!["leave_on_terminate", "telemetry.disable_hostname"]);
}

#[test]
fn recursors_and_dns_config_reach_the_agent() {
    let text = r#"{"recursors": ["1.1.1.1", "[fd00::1]:5353"], "reconnect_timeout": "9m",
        "dns_config": {"node_ttl": "20s", "service_ttl": {"web*": "10s"}, "only_passing": true,
                       "recursor_strategy": "random", "recursor_timeout": "3s"}}"#;
    let s = settings(&["-dev", "-recursor", "8.8.8.8:54"], &[(text, Format::Json)]).unwrap();
    let dns = &s.config.dns;
    let recursors: Vec<String> = dns.recursors.iter().map(|r| r.to_string()).collect();
    assert_eq!(recursors, vec!["8.8.8.8:54", "1.1.1.1:53", "[fd00::1]:5353"], "flags first, then files");
    assert_eq!(dns.node_ttl, Duration::from_secs(20));
    assert_eq!(dns.service_ttl.get("web*"), Some(&Duration::from_secs(10)));
    assert!(dns.only_passing && dns.recursor_random);
    assert_eq!(dns.recursor_timeout, Duration::from_secs(3));
    assert_eq!(s.config.reconnect_timeout, Duration::from_secs(9 * 60));
    assert!(s.ignored.is_empty(), "{:?}", s.ignored);

    let recursor = settings(&["-dev", "-recursor", "dns.example"], &[]).unwrap_err();
    assert!(recursor.contains("Invalid recursor address: \"dns.example\""), "{recursor}");
    let bad = |text: &str| agent_config::parse(text, Format::Json).unwrap_err().to_string();
    assert!(bad(r#"{"reconnect_timeout": "1m"}"#).contains("reconnect_timeout must be >= 8m"));
    let strategy = bad(r#"{"dns_config": {"recursor_strategy": "fastest"}}"#);
    assert!(strategy.contains("dns_config.recursor_strategy"), "{strategy}");
    let ttl = bad(r#"{"dns_config": {"service_ttl": {"web": "soon"}}}"#);
    assert!(ttl.contains("dns_config.service_ttl: invalid duration for \"web\": \"soon\""), "{ttl}");
    // Tessera's flag may go under Consul's floor, for tests.
    let s = settings(&["-dev", "-reconnect-timeout", "2s"], &[]).unwrap();
    assert_eq!(s.config.reconnect_timeout, Duration::from_secs(2));
}

#[test]
fn script_check_settings_come_from_files_and_flags() {
    let scripts = |args: &[&str], text: &str| settings(args, &[(text, Format::Json)]).unwrap().config.script_checks;
    assert_eq!(scripts(&["-dev"], "{}"), ScriptChecks::default());
    let local = scripts(&["-dev"], r#"{"enable_local_script_checks": true}"#);
    assert_eq!((local.enable_script_checks, local.enable_local_script_checks), (false, true));
    assert!(scripts(&["-dev", "-enable-script-checks"], "{}").enable_script_checks);
    assert!(
        !scripts(&["-dev", "-enable-script-checks=false"], r#"{"enable_script_checks": true}"#).enable_script_checks,
        "a flag given wins over a file"
    );
}

#[test]
fn config_paths_keep_command_line_order() {
    let (agent, matches) =
        flags(&["-config-file", "a.hcl", "-config-dir", "d1", "-config-file=b.json", "-config-dir", "d2"]);
    let paths: Vec<String> =
        agent.config_paths(Given(Some(&matches))).iter().map(|p| p.display().to_string()).collect();
    assert_eq!(paths, vec!["a.hcl", "d1", "b.json", "d2"]);
}

#[test]
fn a_stock_config_dir_builds_an_agent() {
    let dir = dir_with(&[
        (
            "consul.hcl",
            "datacenter = \"dc1\"\ndata_dir = \"/opt/consul\"\nretry_join = [\"10.0.0.1\"]\n\
             ca_file = \"/ca.pem\"\ncert_file = \"/client.pem\"\nkey_file = \"/client-key.pem\"\n",
        ),
        ("web.json", r#"{"service": {"name": "web", "port": 80}}"#),
    ]);
    let loaded = crate::agent_config::load(&[dir.path().to_path_buf()], None).unwrap();
    let (agent, matches) = flags(&["-node", "n1"]);
    let s = agent.settings(Given(Some(&matches)), &loaded.config, Purpose::Run).unwrap();
    assert_eq!(s.config.retry_join, vec!["10.0.0.1:8300"]);
    assert_eq!(loaded.config.services.len(), 1);
}

#[test]
fn the_server_port_tls_comes_from_the_stanza_the_old_keys_and_flags() {
    let s = settings(&[], &[(SERVER_HCL, Format::Hcl)]).unwrap();
    let RpcTlsConfig::Files { files, min_version } = &s.config.rpc_tls else { panic!("{:?}", s.config.rpc_tls) };
    assert_eq!(files.ca_file.as_deref(), Some(std::path::Path::new("/etc/tessera/consul-agent-ca.pem")));
    assert_eq!(*min_version, MinVersion::Tls13, "internal_rpc over defaults");
    // Old top-level keys sit under the stanza; a flag wins over both.
    let old = r#"{"server": true, "data_dir": "/x", "bootstrap_expect": 1, "cert_file": "/old.pem", "key_file": "/old-key.pem", "ca_file": "/old-ca.pem"}"#;
    let s = settings(&["-cert-file", "/flag.pem"], &[(old, Format::Json)]).unwrap();
    let RpcTlsConfig::Files { files, .. } = &s.config.rpc_tls else { panic!() };
    assert_eq!(files.cert_file.as_deref(), Some(std::path::Path::new("/flag.pem")));
    assert_eq!(files.key_file.as_deref(), Some(std::path::Path::new("/old-key.pem")));

    let bare = r#"{"server": true, "data_dir": "/x", "bootstrap_expect": 1}"#;
    assert!(settings(&[], &[(bare, Format::Json)]).unwrap_err().contains("tessera tls ca create"));
    let s = settings(&["-insecure-plaintext-rpc"], &[(bare, Format::Json)]).unwrap();
    assert!(matches!(s.config.rpc_tls, RpcTlsConfig::Plaintext));
    let both = settings(&["-insecure-plaintext-rpc"], &[(old, Format::Json)]).unwrap_err();
    assert!(both.contains("exclude each other"), "{both}");
    let client = r#"{"data_dir": "/x", "retry_join": ["10.0.0.1"], "ca_file": "/ca.pem"}"#;
    assert!(settings(&[], &[(client, Format::Json)]).unwrap_err().contains("tessera tls cert create -client"));
    let old_tls = agent_config::parse(r#"{"tls_min_version": "TLSv1_1"}"#, Format::Json).unwrap_err().to_string();
    assert!(old_tls.contains("TLS before 1.2 is not supported"), "{old_tls}");
}

#[test]
fn https_and_grpc_tls_take_their_blocks_over_the_defaults_and_the_old_keys() {
    let path = |p: &Option<PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let s = settings(
        &["-grpc-tls-port", "8503"],
        &[
            (SERVER_HCL, Format::Hcl),
            (r#"{"ports": {"https": 8501}, "tls": {"https": {"cert_file": "/h.pem"}}}"#, Format::Json),
        ],
    )
    .unwrap();
    assert_eq!((s.config.https_port, s.config.grpc_tls_port), (Some(8501), Some(8503)));
    let https = &s.config.https_tls;
    assert_eq!(path(&https.files.cert_file).as_deref(), Some("/h.pem"));
    assert_eq!(path(&https.files.key_file).as_deref(), Some("/etc/tessera/dc1-server-consul-0-key.pem"));
    assert_eq!((https.min_version, https.verify_incoming), (MinVersion::Tls12, false), "internal_rpc's stays there");
    assert_eq!(path(&s.config.grpc_tls.files.cert_file).as_deref(), Some("/etc/tessera/dc1-server-consul-0.pem"));

    // verify_incoming: tls.https, then verify_incoming_https, then
    // tls.defaults, then the old key; the old key never reaches gRPC.
    let with = |extra: &str| {
        let text = format!(
            r#"{{"server": true, "data_dir": "/x", "bootstrap_expect": 1, "ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem", "ports": {{"https": 8501, "grpc_tls": 8503}}{extra}}}"#
        );
        let s = settings(&[], &[(&text, Format::Json)]).unwrap();
        (s.config.https_tls.verify_incoming, s.config.grpc_tls.verify_incoming)
    };
    assert_eq!(with(""), (false, false));
    assert_eq!(with(r#", "verify_incoming": true"#), (true, false));
    assert_eq!(with(r#", "verify_incoming_https": true"#), (true, false));
    assert_eq!(with(r#", "verify_incoming": true, "verify_incoming_https": false"#), (false, false));
    assert_eq!(with(r#", "tls": {"defaults": {"verify_incoming": true}}"#), (true, true));
    assert_eq!(
        with(
            r#", "verify_incoming": true, "tls": {"grpc": {"verify_incoming": true}, "https": {"verify_incoming": false}}"#
        ),
        (false, true)
    );

    // A TLS port without its certificate is refused, naming what is missing.
    let bare = r#"{"server": true, "data_dir": "/x", "bootstrap_expect": 1, "ca_file": "/ca.pem", "cert_file": "/c.pem", "key_file": "/k.pem"}"#;
    let s = settings(&["-https-port", "8501"], &[(bare, Format::Json)]).unwrap();
    assert_eq!(s.config.https_port, Some(8501));
    let no_cert =
        r#"{"server": true, "data_dir": "/x", "bootstrap_expect": 1, "ca_file": "/ca.pem", "ports": {"https": 8501}}"#;
    let err = settings(&[], &[(no_cert, Format::Json)]).unwrap_err();
    assert!(err.contains("ports.https (-https-port) is set, so it needs a certificate"), "{err}");
    let err = settings(&["-dev", "-grpc-tls-port", "8503"], &[]).unwrap_err();
    assert!(err.contains("ports.grpc_tls (-grpc-tls-port) is set") && err.contains("tls.grpc"), "{err}");
    let no_ca = r#"{"server": true, "data_dir": "/x", "bootstrap_expect": 1, "cert_file": "/c.pem", "key_file": "/k.pem", "verify_incoming_https": true, "ports": {"https": 8501}}"#;
    let err = settings(&[], &[(no_ca, Format::Json)]).unwrap_err();
    assert!(err.starts_with("tls.https.verify_incoming needs the CA that signs client certificates"), "{err}");

    // addresses.https and addresses.grpc_tls must be the client address.
    let dev = |text: &str| settings(&["-dev"], &[(text, Format::Json)]).map(|s| s.config.client_addr);
    assert!(dev(r#"{"addresses": {"https": "10.0.0.9"}}"#).is_ok(), "HTTPS is off: the address is not used");
    let on = r#"{"cert_file": "/c.pem", "key_file": "/k.pem", "ports": {"https": 8501}, "addresses": {"https": "10.0.0.9"}}"#;
    assert!(dev(on).unwrap_err().contains("addresses.https (10.0.0.9) differs from the HTTP address"));
}

#[test]
fn retry_join_without_a_port_uses_the_server_port() {
    assert_eq!(with_default_port("127.0.0.2", 8300), "127.0.0.2:8300");
    assert_eq!(with_default_port("127.0.0.2:9000", 8300), "127.0.0.2:9000");
    assert_eq!(with_default_port("server-2", 8300), "server-2:8300");
}

#[test]
fn limits_from_files_over_consul_defaults() {
    let s = settings(&["-dev"], &[]).unwrap();
    let l = &s.config.limits;
    assert_eq!((l.http_max_conns_per_client, l.rpc_max_conns_per_client), (200, 100), "Consul's defaults");
    assert_eq!((l.rpc_handshake_timeout, l.https_handshake_timeout), (Duration::from_secs(5), Duration::from_secs(5)));

    let hcl = r#"
limits {
  http_max_conns_per_client = 50
  rpc_max_conns_per_client = 0
  rpc_handshake_timeout = "2s"
  https_handshake_timeout = "750ms"
}
"#;
    let s = settings(&["-dev"], &[(hcl, Format::Hcl)]).unwrap();
    let l = &s.config.limits;
    assert_eq!((l.http_max_conns_per_client, l.rpc_max_conns_per_client), (50, 0));
    assert_eq!(
        (l.rpc_handshake_timeout, l.https_handshake_timeout),
        (Duration::from_secs(2), Duration::from_millis(750))
    );
    assert!(!s.ignored.iter().any(|k| k.starts_with("limits.http") || k.starts_with("limits.rpc_max_conns")));

    let negative = "limits { http_max_conns_per_client = -1 }";
    let err = settings(&["-dev"], &[(negative, Format::Hcl)]).err().unwrap();
    assert!(err.contains("limits.http_max_conns_per_client cannot be negative"), "{err}");
}
