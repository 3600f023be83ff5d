//! Golden encodings of the Raft log format.
//!
//! `Command` is what the log stores and what a follower forwards to the
//! leader; `CommandResponse` is what the leader answers a forwarded write.
//! Entries written by one version are applied by later ones, so a change to
//! these encodings (a renamed field, a changed serde attribute, a changed
//! nested type in `tessera-mesh`) must not pass unnoticed. Each case below is
//! a value with a non-default value in every field, compared with the exact
//! bytes it encodes to, and the fixed text must decode back to the value:
//! the literals are what older versions wrote.
//!
//! A failing case is a format change. If it is intended (a field added with
//! `#[serde(default)]`), keep the old literal decoding (add it to a test such
//! as `entries_written_before_optional_fields_existed_still_decode`) and
//! update the golden to the new encoding.
//!
//! All maps in these types are `BTreeMap`s, so key order is stable; the
//! samples still use one key per map so the literals stay short.

use std::collections::BTreeMap;

use tessera_mesh::catalog::model::ProxySettings;
use tessera_mesh::catalog::model::Upstream;
use tessera_mesh::catalog::model::Weights;
use tessera_mesh::catalog::CheckStatus;
use tessera_mesh::catalog::ServiceKind;
use tessera_mesh::connect::Action;

use super::*;

/// The expected encoding of each variant's sample.
///
/// No wildcard arm, on purpose: a new variant does not compile until it is
/// given a golden encoding here (and a sample in `samples`, which
/// `every_command_variant_has_a_sample` checks).
fn golden_command(command: &Command) -> &'static str {
    match command {
        Command::InitCluster { .. } => r#"{"op":"InitCluster","cluster_id":"8d4e2b10-5c3a-4f6e-9b7d-0a1c2e3f4b5d"}"#,
        Command::KvSet { .. } => r#"{"op":"KvSet","key":"config/web","value":"AP9oaQ==","flags":7,"cas":12}"#,
        Command::KvDelete { .. } => r#"{"op":"KvDelete","key":"config/","recurse":true,"cas":13}"#,
        Command::Batch { .. } => concat!(
            r#"{"op":"Batch","commands":[{"op":"KvSet","key":"a","value":"eA==","flags":1,"cas":0},"#,
            r#"{"op":"IntentionDelete","source":"*","destination":"db"}]}"#,
        ),
        Command::CatalogRegister { .. } => concat!(
            r#"{"op":"CatalogRegister","node":{"name":"node-1","id":"3f2a9c1e-0b7d-4e5f-8a6b-1c2d3e4f5a6b","#,
            r#""address":"10.0.0.1","datacenter":"dc1","meta":{"rack":"r1"}},"service":{"id":"web-sidecar-proxy","#,
            r#""name":"web-sidecar-proxy","tags":["v1"],"address":"10.0.0.2","port":21000,"meta":{"version":"1.2"},"#,
            r#""kind":"connect-proxy","proxy":{"destination_service_name":"web","destination_service_id":"web-1","#,
            r#""local_service_address":"127.0.0.1","local_service_port":8080,"mode":"transparent","#,
            r#""config":{"protocol":"http"},"upstreams":[{"destination_type":"service","destination_name":"db","#,
            r#""destination_namespace":"default","datacenter":"dc2","local_bind_address":"127.0.0.2","#,
            r#""local_bind_port":9191,"config":{"connect_timeout_ms":5000}}]},"connect_native":true,"#,
            r#""weights":{"passing":3,"warning":2},"enable_tag_override":true},"checks":[{"node":"node-1","#,
            r#""check_id":"service:web-1","name":"web alive","status":"warning","notes":"probes /health","#,
            r#""output":"HTTP 429","service_id":"web-1","service_name":"web","service_tags":["v1"],"kind":"http","#,
            r#""interval":"10s","timeout":"2s"}]}"#,
        ),
        Command::CatalogDeregister { .. } => {
            r#"{"op":"CatalogDeregister","node":"node-1","service_id":"web-1","check_id":"service:web-1"}"#
        }
        Command::CatalogSyncNode { .. } => concat!(
            r#"{"op":"CatalogSyncNode","node":{"name":"node-1","id":"3f2a9c1e-0b7d-4e5f-8a6b-1c2d3e4f5a6b","#,
            r#""address":"10.0.0.1","datacenter":"dc1","meta":{"rack":"r1"}},"services":[{"id":"web-sidecar-proxy","#,
            r#""name":"web-sidecar-proxy","tags":["v1"],"address":"10.0.0.2","port":21000,"meta":{"version":"1.2"},"#,
            r#""kind":"connect-proxy","proxy":{"destination_service_name":"web","destination_service_id":"web-1","#,
            r#""local_service_address":"127.0.0.1","local_service_port":8080,"mode":"transparent","#,
            r#""config":{"protocol":"http"},"upstreams":[{"destination_type":"service","destination_name":"db","#,
            r#""destination_namespace":"default","datacenter":"dc2","local_bind_address":"127.0.0.2","#,
            r#""local_bind_port":9191,"config":{"connect_timeout_ms":5000}}]},"connect_native":true,"#,
            r#""weights":{"passing":3,"warning":2},"enable_tag_override":true}],"checks":[{"node":"node-1","#,
            r#""check_id":"service:web-1","name":"web alive","status":"warning","notes":"probes /health","#,
            r#""output":"HTTP 429","service_id":"web-1","service_name":"web","service_tags":["v1"],"kind":"http","#,
            r#""interval":"10s","timeout":"2s"}]}"#,
        ),
        Command::CaInitialize { .. } => concat!(
            r#"{"op":"CaInitialize","config":{"leaf_cert_ttl":"24h","root_cert_ttl":"43800h","#,
            r#""intermediate_cert_ttl":"4380h","private_key_type":"ec","private_key_bits":384,"#,
            r#""csr_max_per_second":2.5,"leaf_reissue_spread":"30s"},"root":{"id":"aa:bb:01","#,
            r#""name":"Tessera CA Root 1","serial":"01:01","signing_key_id":"cc:dd:01","not_before":1700000001,"#,
            r#""not_after":2000000001,"cert_pem":"-----BEGIN CERTIFICATE-----\ncert1\n-----END CERTIFICATE-----\n","#,
            r#""key_pem":"-----BEGIN PRIVATE KEY-----\nkey1\n-----END PRIVATE KEY-----\n"}}"#,
        ),
        Command::CaRotate { .. } => concat!(
            r#"{"op":"CaRotate","expect_active":"aa:bb:01","config":{"leaf_cert_ttl":"24h","root_cert_ttl":"43800h","#,
            r#""intermediate_cert_ttl":"4380h","private_key_type":"ec","private_key_bits":384,"#,
            r#""csr_max_per_second":2.5,"leaf_reissue_spread":"30s"},"new_root":{"id":"aa:bb:02","#,
            r#""name":"Tessera CA Root 2","serial":"02:01","signing_key_id":"cc:dd:02","not_before":1700000002,"#,
            r#""not_after":2000000002,"cert_pem":"-----BEGIN CERTIFICATE-----\ncert2\n-----END CERTIFICATE-----\n","#,
            r#""key_pem":"-----BEGIN PRIVATE KEY-----\nkey2\n-----END PRIVATE KEY-----\n"},"#,
            r#""cross_signed_pem":"-----BEGIN CERTIFICATE-----\ncross\n-----END CERTIFICATE-----\n","#,
            r#""rotated_at":1750000000}"#,
        ),
        Command::CaSetConfig { .. } => concat!(
            r#"{"op":"CaSetConfig","config":{"leaf_cert_ttl":"24h","root_cert_ttl":"43800h","#,
            r#""intermediate_cert_ttl":"4380h","private_key_type":"ec","private_key_bits":384,"#,
            r#""csr_max_per_second":2.5,"leaf_reissue_spread":"30s"}}"#,
        ),
        Command::CaPruneRoots { .. } => r#"{"op":"CaPruneRoots","root_ids":["aa:bb:01"]}"#,
        Command::IntentionUpsert { .. } => concat!(
            r#"{"op":"IntentionUpsert","intention":{"id":"6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f","source":"web","#,
            r#""destination":"db","action":"deny","description":"no direct db access","meta":{"owner":"team-a"},"#,
            r#""create_index":17,"modify_index":42},"replace":true}"#,
        ),
        Command::IntentionDelete { .. } => r#"{"op":"IntentionDelete","source":"web","destination":"db"}"#,
        Command::AutopilotSetConfig { .. } => concat!(
            r#"{"op":"AutopilotSetConfig","config":{"cleanup_dead_servers":false,"#,
            r#""last_contact_threshold_ns":350000000,"max_trailing_logs":500,"min_quorum":3,"#,
            r#""server_stabilization_time_ns":20000000000,"redundancy_zone_tag":"zone","#,
            r#""disable_upgrade_migration":true,"upgrade_version_tag":"build"},"cas":21}"#,
        ),
        Command::AclBootstrap { .. } => concat!(
            r#"{"op":"AclBootstrap","hash_key":"0a1b2c","token":{"accessor_id":"6a1253d2-1785-24fd-91c2-f8e78c"#,
            r#"745511","secret_hash":"5bdcc146bf60754e","description":"web token","policies":["165d4317-e379-f"#,
            r#"732-ce70-86278c4558f7"],"roles":["2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"],"service_identities":["#,
            r#"{"service_name":"web","datacenters":["dc1"]}],"node_identities":[{"node_name":"node-1","datacen"#,
            r#"ter":"dc1"}],"local":true,"expiration_time":"2024-01-02T15:04:05Z","create_time":"2024-01-01T15"#,
            r#":04:05.123456789Z","hash":"UuiRkOQ=","create_index":59,"modify_index":60},"reset_index":13}"#,
        ),
        Command::AclTokenSet { .. } => concat!(
            r#"{"op":"AclTokenSet","token":{"accessor_id":"6a1253d2-1785-24fd-91c2-f8e78c745511","secret_hash""#,
            r#":"5bdcc146bf60754e","description":"web token","policies":["165d4317-e379-f732-ce70-86278c4558f7"#,
            r#""],"roles":["2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"],"service_identities":[{"service_name":"web""#,
            r#","datacenters":["dc1"]}],"node_identities":[{"node_name":"node-1","datacenter":"dc1"}],"local":"#,
            r#"true,"expiration_time":"2024-01-02T15:04:05Z","create_time":"2024-01-01T15:04:05.123456789Z","h"#,
            r#"ash":"UuiRkOQ=","create_index":59,"modify_index":60},"create":true}"#,
        ),
        Command::AclTokenDelete { .. } => {
            r#"{"op":"AclTokenDelete","accessor_id":"6a1253d2-1785-24fd-91c2-f8e78c745511"}"#
        }
        Command::AclPolicySet { .. } => concat!(
            r#"{"op":"AclPolicySet","policy":{"id":"165d4317-e379-f732-ce70-86278c4558f7","name":"web-policy","#,
            r#""description":"web","rules":"service \"web\" { policy = \"write\" }","datacenters":["dc1"],"has"#,
            r#"h":"AbC=","create_index":5,"modify_index":6},"create":true}"#,
        ),
        Command::AclPolicyDelete { .. } => r#"{"op":"AclPolicyDelete","id":"165d4317-e379-f732-ce70-86278c4558f7"}"#,
        Command::AclRoleSet { .. } => concat!(
            r#"{"op":"AclRoleSet","role":{"id":"2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d","name":"db-reader","desc"#,
            r#"ription":"reads db","policies":["165d4317-e379-f732-ce70-86278c4558f7"],"service_identities":[{"#,
            r#""service_name":"db"}],"node_identities":[{"node_name":"node-2","datacenter":"dc2"}],"hash":"DeF"#,
            r#"=","create_index":7,"modify_index":8},"create":true}"#,
        ),
        Command::AclRoleDelete { .. } => r#"{"op":"AclRoleDelete","id":"2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"}"#,
        Command::Once { .. } => concat!(
            r#"{"op":"Once","client":18364758544493064720,"seq":42,"#,
            r#""command":{"op":"KvSet","key":"a","value":"eA==","flags":1,"cas":0}}"#,
        ),
    }
}

/// As [`golden_command`], for the answers; again no wildcard arm.
fn golden_response(response: &CommandResponse) -> &'static str {
    match response {
        CommandResponse::Done => r#""Done""#,
        CommandResponse::Applied(_) => r#"{"Applied":true}"#,
        CommandResponse::Batch(_) => r#"{"Batch":["Done",{"Applied":false}]}"#,
        CommandResponse::Refused(_) => r#"{"Refused":"No such ACL policy with ID \"p1\""}"#,
        CommandResponse::Forgotten => r#""Forgotten""#,
    }
}

fn one<V>(key: &str, value: V) -> BTreeMap<String, V> {
    BTreeMap::from([(key.to_string(), value)])
}

fn node() -> Node {
    Node {
        name: "node-1".into(),
        id: "3f2a9c1e-0b7d-4e5f-8a6b-1c2d3e4f5a6b".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        meta: one("rack", "r1".to_string()),
    }
}

/// A sidecar, so that the nested proxy settings and upstream are covered.
fn service() -> Service {
    Service {
        id: "web-sidecar-proxy".into(),
        name: "web-sidecar-proxy".into(),
        tags: vec!["v1".into()],
        address: "10.0.0.2".into(),
        port: 21000,
        meta: one("version", "1.2".to_string()),
        kind: ServiceKind::ConnectProxy,
        proxy: Some(ProxySettings {
            destination_service_name: "web".into(),
            destination_service_id: "web-1".into(),
            local_service_address: "127.0.0.1".into(),
            local_service_port: 8080,
            mode: "transparent".into(),
            config: one("protocol", serde_json::json!("http")),
            upstreams: vec![Upstream {
                destination_type: "service".into(),
                destination_name: "db".into(),
                destination_namespace: "default".into(),
                datacenter: "dc2".into(),
                local_bind_address: "127.0.0.2".into(),
                local_bind_port: 9191,
                config: one("connect_timeout_ms", serde_json::json!(5000)),
            }],
        }),
        connect_native: true,
        weights: Weights { passing: 3, warning: 2 },
        enable_tag_override: true,
    }
}

fn check() -> HealthCheck {
    HealthCheck {
        node: "node-1".into(),
        check_id: "service:web-1".into(),
        name: "web alive".into(),
        status: CheckStatus::Warning,
        notes: "probes /health".into(),
        output: "HTTP 429".into(),
        service_id: "web-1".into(),
        service_name: "web".into(),
        service_tags: vec!["v1".into()],
        kind: "http".into(),
        interval: "10s".into(),
        timeout: "2s".into(),
    }
}

fn ca_config() -> CaConfig {
    CaConfig {
        leaf_cert_ttl: "24h".into(),
        root_cert_ttl: "43800h".into(),
        intermediate_cert_ttl: "4380h".into(),
        private_key_type: "ec".into(),
        private_key_bits: 384,
        // Exact in binary, so its decimal text is stable.
        csr_max_per_second: 2.5,
        leaf_reissue_spread: "30s".into(),
    }
}

fn root(n: u8) -> RootCa {
    RootCa {
        id: format!("aa:bb:0{n}"),
        name: format!("Tessera CA Root {n}"),
        serial: format!("0{n}:01"),
        signing_key_id: format!("cc:dd:0{n}"),
        not_before: 1_700_000_000 + u64::from(n),
        not_after: 2_000_000_000 + u64::from(n),
        cert_pem: format!("-----BEGIN CERTIFICATE-----\ncert{n}\n-----END CERTIFICATE-----\n"),
        key_pem: format!("-----BEGIN PRIVATE KEY-----\nkey{n}\n-----END PRIVATE KEY-----\n"),
    }
}

fn intention() -> Intention {
    Intention {
        id: "6c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f".into(),
        source: "web".into(),
        destination: "db".into(),
        action: Action::Deny,
        description: "no direct db access".into(),
        meta: one("owner", "team-a".to_string()),
        create_index: 17,
        modify_index: 42,
    }
}

/// One sample per variant, every field set to something other than its default.
fn samples() -> Vec<Command> {
    vec![
        Command::InitCluster { cluster_id: "8d4e2b10-5c3a-4f6e-9b7d-0a1c2e3f4b5d".into() },
        // Bytes that are not UTF-8, so the base64 encoding is what is pinned.
        Command::KvSet { key: "config/web".into(), value: vec![0, 255, 104, 105], flags: 7, cas: Some(12) },
        Command::KvDelete { key: "config/".into(), recurse: true, cas: Some(13) },
        Command::Batch {
            commands: vec![
                Command::KvSet { key: "a".into(), value: b"x".to_vec(), flags: 1, cas: Some(0) },
                Command::IntentionDelete { source: "*".into(), destination: "db".into() },
            ],
        },
        Command::CatalogRegister { node: node(), service: Some(service()), checks: vec![check()] },
        // Both ids are set only to pin both field names; the API sends one.
        Command::CatalogDeregister {
            node: "node-1".into(),
            service_id: Some("web-1".into()),
            check_id: Some("service:web-1".into()),
        },
        Command::CatalogSyncNode { node: node(), services: vec![service()], checks: vec![check()] },
        Command::CaInitialize { config: ca_config(), root: root(1) },
        Command::CaRotate {
            expect_active: "aa:bb:01".into(),
            config: ca_config(),
            new_root: root(2),
            cross_signed_pem: "-----BEGIN CERTIFICATE-----\ncross\n-----END CERTIFICATE-----\n".into(),
            rotated_at: 1_750_000_000,
        },
        Command::CaSetConfig { config: ca_config() },
        Command::CaPruneRoots { root_ids: vec!["aa:bb:01".into()] },
        Command::IntentionUpsert { intention: intention(), replace: true },
        Command::IntentionDelete { source: "web".into(), destination: "db".into() },
        Command::AutopilotSetConfig {
            config: AutopilotConfig {
                cleanup_dead_servers: false,
                last_contact_threshold_ns: 350_000_000,
                max_trailing_logs: 500,
                min_quorum: 3,
                server_stabilization_time_ns: 20_000_000_000,
                redundancy_zone_tag: "zone".into(),
                disable_upgrade_migration: true,
                upgrade_version_tag: "build".into(),
            },
            cas: Some(21),
        },
        Command::AclBootstrap { hash_key: "0a1b2c".into(), token: acl_token(), reset_index: Some(13) },
        Command::AclTokenSet { token: acl_token(), create: true },
        Command::AclTokenDelete { accessor_id: "6a1253d2-1785-24fd-91c2-f8e78c745511".into() },
        Command::AclPolicySet { policy: acl_policy(), create: true },
        Command::AclPolicyDelete { id: "165d4317-e379-f732-ce70-86278c4558f7".into() },
        Command::AclRoleSet { role: acl_role(), create: true },
        Command::AclRoleDelete { id: "2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d".into() },
        // A client id above 2^63, so the full u64 range is pinned.
        Command::Once {
            client: 0xfedc_ba98_7654_3210,
            seq: 42,
            command: Box::new(Command::KvSet { key: "a".into(), value: b"x".to_vec(), flags: 1, cas: Some(0) }),
        },
    ]
}

fn acl_token() -> crate::acl::AclToken {
    crate::acl::AclToken {
        accessor_id: "6a1253d2-1785-24fd-91c2-f8e78c745511".into(),
        secret_hash: "5bdcc146bf60754e".into(),
        description: "web token".into(),
        policies: vec!["165d4317-e379-f732-ce70-86278c4558f7".into()],
        roles: vec!["2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d".into()],
        service_identities: vec![crate::acl::ServiceIdentityRow {
            service_name: "web".into(),
            datacenters: vec!["dc1".into()],
        }],
        node_identities: vec![crate::acl::NodeIdentityRow { node_name: "node-1".into(), datacenter: "dc1".into() }],
        local: true,
        expiration_time: Some("2024-01-02T15:04:05Z".into()),
        create_time: "2024-01-01T15:04:05.123456789Z".into(),
        hash: "UuiRkOQ=".into(),
        create_index: 59,
        modify_index: 60,
    }
}

fn acl_policy() -> crate::acl::AclPolicy {
    crate::acl::AclPolicy {
        id: "165d4317-e379-f732-ce70-86278c4558f7".into(),
        name: "web-policy".into(),
        description: "web".into(),
        rules: "service \"web\" { policy = \"write\" }".into(),
        datacenters: vec!["dc1".into()],
        hash: "AbC=".into(),
        create_index: 5,
        modify_index: 6,
    }
}

fn acl_role() -> crate::acl::AclRole {
    crate::acl::AclRole {
        id: "2b9a8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d".into(),
        name: "db-reader".into(),
        description: "reads db".into(),
        policies: vec!["165d4317-e379-f732-ce70-86278c4558f7".into()],
        service_identities: vec![crate::acl::ServiceIdentityRow { service_name: "db".into(), datacenters: vec![] }],
        node_identities: vec![crate::acl::NodeIdentityRow { node_name: "node-2".into(), datacenter: "dc2".into() }],
        hash: "DeF=".into(),
        create_index: 7,
        modify_index: 8,
    }
}

fn response_samples() -> Vec<CommandResponse> {
    vec![
        CommandResponse::Done,
        CommandResponse::Applied(true),
        CommandResponse::Batch(vec![CommandResponse::Done, CommandResponse::Applied(false)]),
        CommandResponse::Refused("No such ACL policy with ID \"p1\"".into()),
        CommandResponse::Forgotten,
    ]
}

#[test]
fn commands_encode_to_their_golden_text() {
    for command in samples() {
        let expected = golden_command(&command);
        let actual = String::from_utf8(command.encode()).unwrap();
        assert_eq!(actual, expected, "the log encoding changed; actual:\n{actual}");
        let decoded = Command::decode(expected.as_bytes()).unwrap();
        assert_eq!(decoded, command, "the golden text no longer decodes to the sample");
    }
}

#[test]
fn responses_encode_to_their_golden_text() {
    for response in response_samples() {
        let expected = golden_response(&response);
        let actual = String::from_utf8(response.encode()).unwrap();
        assert_eq!(actual, expected, "the response encoding changed; actual:\n{actual}");
        let decoded = CommandResponse::decode(expected.as_bytes()).unwrap();
        assert_eq!(decoded, response, "the golden text no longer decodes to the sample");
    }
}

/// The exhaustive match makes a new variant name a golden, but only a sample
/// exercises it. serde's error for an unknown variant lists every variant it
/// knows, which is the list the samples must cover.
fn variant_names(unknown_variant_error: serde_json::Error) -> Vec<String> {
    let message = unknown_variant_error.to_string();
    let list = message.split("expected one of ").nth(1).unwrap_or_else(|| panic!("unexpected error: {message}"));
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn every_command_variant_has_a_sample() {
    let known = variant_names(Command::decode(br#"{"op":"NoSuchOp"}"#).unwrap_err());
    let sampled: Vec<String> = samples()
        .iter()
        .map(|c| serde_json::from_slice::<serde_json::Value>(&c.encode()).unwrap()["op"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sampled, known, "one sample per variant, in declaration order");
}

#[test]
fn every_response_variant_has_a_sample() {
    let known = variant_names(CommandResponse::decode(br#""NoSuchAnswer""#).unwrap_err());
    let sampled: Vec<String> = response_samples()
        .iter()
        .map(|r| match serde_json::to_value(r).unwrap() {
            serde_json::Value::String(unit) => unit,
            serde_json::Value::Object(tagged) => tagged.keys().next().unwrap().clone(),
            other => panic!("unexpected response encoding {other}"),
        })
        .collect();
    assert_eq!(sampled, known, "one sample per variant, in declaration order");
}

/// Commands carry the CA's private key in the log; their `Debug` (what a
/// log line or a panic would show) never does.
#[test]
fn debug_of_a_command_leaves_the_ca_key_out() {
    for command in samples() {
        let shown = format!("{command:?}");
        assert!(!shown.contains("PRIVATE KEY") && !shown.contains("key1") && !shown.contains("key2"), "{shown}");
    }
    let stored = crate::ca::StoredRoot {
        root: root(1),
        active: true,
        intermediate_pems: Vec::new(),
        rotated_out_at: None,
        create_index: 1,
        modify_index: 1,
    };
    assert!(!format!("{stored:?}").contains("PRIVATE KEY"));
}
