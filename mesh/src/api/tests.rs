//! Every API type reads back what it writes: serialized as the server
//! writes it (borrowing), deserialized as the CLI reads it (owned), equal,
//! and written again to the same bytes (so field order and omissions
//! survive a round trip too).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::agent::*;
use super::catalog::*;
use super::connect::*;
use super::entries::*;
use super::kv::*;
use super::operator::*;
use crate::catalog::model::ProxySettings;
use crate::catalog::model::Upstream as DomainUpstream;
use crate::catalog::CheckStatus;
use crate::catalog::HealthCheck;
use crate::catalog::Service;
use crate::catalog::ServiceKind;

/// `T` is the borrowing type the server writes; none of them borrows when
/// read, so the same `T` reads back owned (the CLI names it `T<'static>`).
fn round_trip<T>(written: &T) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let bytes = serde_json::to_vec(written).unwrap();
    let read: T = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(written, &read);
    assert_eq!(String::from_utf8(serde_json::to_vec(&read).unwrap()).unwrap(), String::from_utf8(bytes).unwrap());
    read
}

fn node() -> crate::catalog::Node {
    crate::catalog::Node {
        name: "n1".into(),
        id: "id-1".into(),
        address: "10.0.0.1".into(),
        datacenter: "dc1".into(),
        meta: BTreeMap::from([("rack".into(), "r1".into())]),
    }
}

fn web() -> Service {
    Service {
        id: "web-1".into(),
        name: "web".into(),
        tags: vec!["v1".into()],
        port: 8080,
        connect_native: true,
        ..Service::default()
    }
}

fn sidecar() -> Service {
    Service {
        id: "web-1-sidecar-proxy".into(),
        name: "web-sidecar-proxy".into(),
        kind: ServiceKind::ConnectProxy,
        port: 21000,
        proxy: Some(ProxySettings {
            destination_service_name: "web".into(),
            destination_service_id: "web-1".into(),
            local_service_port: 8080,
            config: BTreeMap::from([("k".into(), serde_json::json!({"x": [1, 2]}))]),
            upstreams: vec![DomainUpstream {
                destination_name: "db".into(),
                local_bind_port: 9191,
                ..DomainUpstream::default()
            }],
            ..ProxySettings::default()
        }),
        ..Service::default()
    }
}

fn check() -> HealthCheck {
    HealthCheck {
        node: "n1".into(),
        check_id: "service:web-1".into(),
        name: "web".into(),
        status: CheckStatus::Passing,
        service_id: "web-1".into(),
        service_tags: vec!["v1".into()],
        kind: "ttl".into(),
        ..HealthCheck::default()
    }
}

#[test]
fn agent_services_with_and_without_proxy_indexes_and_hash() {
    let (web, sidecar) = (web(), sidecar());
    let read = round_trip(&AgentService::new(&web, "dc1"));
    assert_eq!(read.connect, Some(Connect { native: true }));
    assert!(read.kind.is_none() && read.create_index.is_none());
    let indexed = round_trip(&AgentService::indexed(&sidecar, "dc1", 3, 4));
    assert_eq!(indexed.proxy.unwrap().upstreams[0].destination_name, "db");
    let hashed = AgentService { content_hash: Some("abc".into()), ..AgentService::new(&web, "dc1") };
    round_trip(&hashed);
}

#[test]
fn nodes_and_checks() {
    let (n, c) = (node(), check());
    round_trip(&Node::new(&n, 1, 2));
    round_trip(&Check::from(&c));
    round_trip(&Check::indexed(&c, 5, 6));
}

fn at<T>(value: &T) -> Indexed<'_, T> {
    Indexed { value, create_index: 7, modify_index: 8 }
}

#[test]
fn health_entries_and_catalog_rows() {
    let (n, web, sidecar, checks) = (node(), web(), sidecar(), vec![check()]);
    round_trip(&HealthEntry::new(at(&n), at(&web), &checks));
    // A typical service's ServiceProxy is `{}` and reads back as none.
    let row = round_trip(&CatalogService::new(&n, at(&web)));
    assert!(row.service_proxy.is_none());
    let row = round_trip(&CatalogService::new(&n, at(&sidecar)));
    assert_eq!(row.service_proxy.unwrap().destination_service_id, "web-1");
}

#[test]
fn node_listings_and_agent_health() {
    let (n, web) = (node(), web());
    let c = check();
    let list = NodeServiceList { node: Node::new(&n, 1, 1), services: vec![AgentService::indexed(&web, "dc1", 2, 2)] };
    round_trip(&list);
    let services = BTreeMap::from([(web.id.as_str().into(), AgentService::indexed(&web, "dc1", 2, 2))]);
    round_trip(&CatalogNode { node: Node::new(&n, 1, 1), services });
    let health = AgentServiceChecks {
        aggregated_status: "passing".into(),
        service: AgentService::new(&web, "dc1"),
        checks: vec![Check::from(&c)],
    };
    round_trip(&health);
}

fn member() -> Member {
    Member {
        name: "n1".into(),
        addr: "127.0.0.1".into(),
        port: 8300,
        tags: BTreeMap::from([("role".into(), "consul".into())]),
        status: ALIVE,
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

#[test]
fn agent_answers() {
    round_trip(&member());
    let me = AgentSelf {
        config: SelfConfig {
            datacenter: "dc1".into(),
            primary_datacenter: "dc1".into(),
            node_name: "n1".into(),
            node_id: "id".into(),
            revision: "r".into(),
            server: true,
            version: "1.17.0".into(),
            build_date: String::new(),
            tessera_version: "0.1.0".into(),
        },
        debug_config: BTreeMap::from([("HTTPPort".into(), serde_json::json!(8500))]),
        coord: Coord::ORIGIN,
        member: member(),
        stats: BTreeMap::from([("agent".into(), BTreeMap::from([("checks".into(), "0".into())]))]),
        meta: BTreeMap::new(),
        xds: Xds { supported_proxies: BTreeMap::new(), port: -1, ports: XdsPorts { plaintext: -1, tls: -1 } },
    };
    round_trip(&me);
    let version = AgentVersion {
        sdk_version: "1.17.0".into(),
        build_date: String::new(),
        human_version: "1.17.0".into(),
        fips: String::new(),
        tessera_version: "0.1.0".into(),
    };
    round_trip(&version);
    round_trip(&AgentAuthorize { authorized: false, reason: "denied".into() });
}

#[test]
fn kv_entries_with_and_without_a_value() {
    let mut pair = KvPair { lock_index: 0, key: "k".into(), flags: 3, value: None, create_index: 1, modify_index: 2 };
    round_trip(&pair);
    pair.value = Some("Ymx1ZQ==".into());
    round_trip(&pair);
}

#[test]
fn operator_answers() {
    let server = RaftServer {
        id: "id".into(),
        node: "n1".into(),
        address: "127.0.0.1:8300".into(),
        leader: true,
        voter: true,
        protocol_version: "3".into(),
    };
    round_trip(&RaftConfiguration { servers: vec![server], index: 9 });
    round_trip(&TransferLeaderResponse { success: true });
    let config = AutopilotConfiguration {
        cleanup_dead_servers: true,
        last_contact_threshold: "200ms".into(),
        max_trailing_logs: 250,
        min_quorum: 0,
        server_stabilization_time: "10s".into(),
        redundancy_zone_tag: String::new(),
        disable_upgrade_migration: false,
        upgrade_version_tag: String::new(),
        create_index: 1,
        modify_index: 1,
    };
    round_trip(&config);
    let health = ServerHealth {
        id: "id".into(),
        name: "n1".into(),
        address: "a".into(),
        serf_status: "alive".into(),
        version: "1.17.0".into(),
        leader: true,
        last_contact: "0s".into(),
        last_term: 2,
        last_index: 10,
        healthy: true,
        voter: true,
    };
    round_trip(&OperatorHealthReply { healthy: true, failure_tolerance: 0, servers: vec![health] });
    let server = AutopilotServer {
        id: "id".into(),
        name: "n1".into(),
        address: "a".into(),
        node_status: "alive".into(),
        version: "1.17.0".into(),
        last_contact: "never".into(),
        last_term: 2,
        last_index: 10,
        healthy: false,
        read_replica: false,
        status: "voter".into(),
        meta: BTreeMap::new(),
        node_type: "voter".into(),
    };
    let state = AutopilotState {
        healthy: false,
        failure_tolerance: 0,
        optimistic_failure_tolerance: 0,
        servers: BTreeMap::from([("id".into(), server)]),
        leader: String::new(),
        voters: vec!["id".into()],
    };
    round_trip(&state);
    let counts = ServiceUsage {
        services: 1,
        service_instances: 2,
        connect_service_instances: BTreeMap::from([("connect-proxy".into(), 1)]),
        billable_service_instances: 1,
        nodes: 1,
    };
    let usage = Usage {
        usage: BTreeMap::from([("dc1".into(), counts)]),
        index: 4,
        last_contact: 0,
        known_leader: true,
        consistency_level: "leader".into(),
        not_modified: false,
        backend: 0,
        results_filtered_by_acls: false,
    };
    round_trip(&usage);
}

#[test]
fn connect_answers() {
    let root = CaRoot {
        id: "aa:bb".into(),
        name: "Tessera CA 1".into(),
        serial_number: "1".into(),
        signing_key_id: "cc".into(),
        external_trust_domain: "x".into(),
        not_before: "2024-01-01T00:00:00Z".into(),
        not_after: "2034-01-01T00:00:00Z".into(),
        root_cert: "PEM".into(),
        intermediate_certs: vec![],
        active: true,
        private_key_type: "ec".into(),
        private_key_bits: 256,
        create_index: 1,
        modify_index: 1,
    };
    let list = CaRootList { active_root_id: "aa:bb".into(), trust_domain: "x.consul".into(), roots: vec![root] };
    round_trip(&list);
    let leaf = LeafCert {
        serial_number: "1".into(),
        cert_pem: "C".into(),
        private_key_pem: "K".into(),
        service: "web".into(),
        service_uri: "spiffe://x.consul/ns/default/dc/dc1/svc/web".into(),
        valid_after: "a".into(),
        valid_before: "b".into(),
        namespace: "default".into(),
        create_index: 1,
        modify_index: 1,
    };
    round_trip(&leaf);
    let config = CaConfiguration {
        provider: "consul".into(),
        config: CaProviderConfig {
            csr_max_per_second: 50.0,
            intermediate_cert_ttl: "8760h".into(),
            leaf_cert_ttl: "72h".into(),
            leaf_reissue_spread: "5s".into(),
            private_key_bits: 256,
            private_key_type: "ec".into(),
            root_cert_ttl: "87600h".into(),
        },
        state: None,
        force_without_cross_signing: false,
        create_index: 1,
        modify_index: 2,
    };
    round_trip(&config);
    let domain = crate::connect::Intention {
        id: "i-1".into(),
        source: "web".into(),
        destination: "db".into(),
        action: crate::connect::Action::Deny,
        description: String::new(),
        meta: BTreeMap::from([("by".into(), "me".into())]),
        create_index: 3,
        modify_index: 4,
    };
    let read = round_trip(&Intention::from(&domain));
    assert_eq!((read.action.as_str(), read.precedence), ("deny", domain.precedence()));
    round_trip(&IntentionCreated { id: "i-1".into() });
    round_trip(&IntentionCheckResult { allowed: true });
}
