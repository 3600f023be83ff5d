//! Issue 4: the Connect CA and intentions, end to end on real processes.

use std::time::Duration;

use cluster_tests::cli;
use cluster_tests::client_agent;
use cluster_tests::dev_agent;
use cluster_tests::wait_until;
use cluster_tests::Cluster;
use cluster_tests::Http;
use serde_json::Value;
use tessera_mesh::connect::ca::cert_info;
use tessera_mesh::connect::ServiceIdentity;

const SETTLE: Duration = Duration::from_secs(30);

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// The certificates of a PEM bundle, in order.
fn pem_certs(pem: &str) -> Vec<rustls_pki_types::CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).map(|c| c.unwrap()).collect()
}

/// Whether the leaf chain in `cert_pem` verifies for client and server use
/// against `roots_pem` (what sidecars do on every handshake).
fn verifies(cert_pem: &str, roots_pem: &[String]) -> bool {
    let chain = pem_certs(cert_pem);
    let roots: Vec<_> = roots_pem.iter().flat_map(|p| pem_certs(p)).collect();
    let anchors: Vec<_> = roots.iter().map(|der| webpki::anchor_from_trusted_cert(der).unwrap().to_owned()).collect();
    let ee = webpki::EndEntityCert::try_from(&chain[0]).unwrap();
    let now = rustls_pki_types::UnixTime::now();
    [webpki::KeyUsage::client_auth(), webpki::KeyUsage::server_auth()].into_iter().all(|usage| {
        ee.verify_for_usage(webpki::ALL_VERIFICATION_ALGS, &anchors, &chain[1..], now, usage, None, None).is_ok()
    })
}

async fn leaf(http: &Http, addr: &str, service: &str) -> Option<Value> {
    http.get_json(addr, &format!("/v1/agent/connect/ca/leaf/{service}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn t90_dev_agent_has_a_ca_signs_spiffe_leaves_and_renews_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.90.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());

    eprintln!("=== the first leader made a root: Tessera CA 1 in <cluster-id>.consul");
    let roots = http.wait_json(&addr, "/v1/connect/ca/roots", SETTLE).await;
    let trust_domain = roots["TrustDomain"].as_str().unwrap().to_string();
    assert!(trust_domain.ends_with(".consul"), "{roots}");
    assert_eq!(roots["Roots"][0]["Name"], "Tessera CA 1");
    assert_eq!(roots["Roots"][0]["Active"], true);
    assert_eq!(
        (roots["Roots"][0]["PrivateKeyType"].as_str(), roots["Roots"][0]["PrivateKeyBits"].as_u64()),
        (Some("ec"), Some(256))
    );
    assert_eq!(roots["ActiveRootID"], roots["Roots"][0]["ID"]);
    let agent_roots = http.get_json(&addr, "/v1/agent/connect/ca/roots").await.unwrap();
    assert_eq!(agent_roots["ActiveRootID"], roots["ActiveRootID"]);

    eprintln!("=== a leaf: one SPIFFE URI, not a CA, 72 h, chains to the root");
    let first = leaf(&http, &addr, "web").await.expect("leaf");
    let info = cert_info(first["CertPEM"].as_str().unwrap()).unwrap();
    let uri = format!("spiffe://{trust_domain}/ns/default/dc/dc1/svc/web");
    assert_eq!(info.uris, vec![uri.clone()]);
    assert_eq!(first["ServiceURI"], uri.as_str());
    assert!(!info.is_ca);
    assert_eq!(info.not_after - info.not_before, 72 * 3600 + 60, "72 h, backdated 1 min");
    assert!(first["PrivateKeyPEM"].as_str().unwrap().contains("PRIVATE KEY"));
    assert!(verifies(
        first["CertPEM"].as_str().unwrap(),
        &[roots["Roots"][0]["RootCert"].as_str().unwrap().to_string()]
    ));
    assert_eq!(ServiceIdentity::parse(&uri).unwrap().service, "web");
    let again = leaf(&http, &addr, "web").await.unwrap();
    assert_eq!(again["SerialNumber"], first["SerialNumber"], "the agent caches leaves");

    eprintln!("=== a short leaf TTL: the blocking leaf query wakes with a renewed leaf");
    let (status, _) = http
        .put(&addr, "/v1/connect/ca/configuration", r#"{"Provider":"consul","Config":{"LeafCertTTL":"10s"}}"#)
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (status, body) =
        http.put(&addr, "/v1/connect/ca/configuration", r#"{"Config":{"LeafCertTTL":"soon"}}"#).await.unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("LeafCertTTL"), "{body}");
    let short = leaf(&http, &addr, "api").await.unwrap();
    let short_info = cert_info(short["CertPEM"].as_str().unwrap()).unwrap();
    assert_eq!(short_info.not_after - short_info.not_before, 70);
    let index = short["ModifyIndex"].as_u64().unwrap();
    let renewed = http.get_json(&addr, &format!("/v1/agent/connect/ca/leaf/api?index={index}&wait=20s")).await.unwrap();
    assert_ne!(renewed["SerialNumber"], short["SerialNumber"], "renewed within 60-90 % of 70 s");
    assert!(renewed["ModifyIndex"].as_u64().unwrap() > index);

    eprintln!("=== a new key size rotates the root to a fresh P-384 key");
    let body = r#"{"Provider":"consul","Config":{"PrivateKeyBits":384}}"#;
    let (status, answer) = http.put(&addr, "/v1/connect/ca/configuration", body).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    let roots = http.get_json(&addr, "/v1/connect/ca/roots").await.unwrap();
    let active = roots["Roots"].as_array().unwrap().iter().find(|r| r["Active"] == true).unwrap().clone();
    assert_eq!((active["Name"].as_str(), active["PrivateKeyBits"].as_u64()), (Some("Tessera CA 2"), Some(384)));
    agent.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn t91_intentions_cli_check_exit_codes_and_authorize() {
    let dir = tempfile::tempdir().unwrap();
    let mut agent = dev_agent("127.0.91.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    let a = addr.as_str();
    let roots = http.wait_json(a, "/v1/agent/connect/ca/roots", SETTLE).await;
    let trust_domain = roots["TrustDomain"].as_str().unwrap();
    let run = |args: &[&str]| {
        let mut full = args.to_vec();
        full.insert(2, "-http-addr");
        full.insert(3, a);
        cli(&full)
    };
    let created = run(&["intention", "create", "-deny", "web", "socat"]);
    assert_eq!(stdout(&created), "Created: web => socat (deny)", "{created:?}");
    let duplicate = run(&["intention", "create", "-allow", "web", "socat"]);
    assert_eq!(duplicate.status.code(), Some(1), "an existing pair without -replace is an error");
    assert_eq!(run(&["intention", "create", "-allow", "-deny", "a", "b"]).status.code(), Some(1));
    assert_eq!(stdout(&run(&["intention", "create", "-allow", "*", "socat"])), "Created: * => socat (allow)");

    let check = run(&["intention", "check", "web", "socat"]);
    assert_eq!((check.status.code(), stdout(&check).as_str()), (Some(1), "Denied"));
    let check = run(&["intention", "check", "api", "socat"]);
    assert_eq!((check.status.code(), stdout(&check).as_str()), (Some(0), "Allowed"));
    let unreachable = cli(&["intention", "check", "-http-addr", "127.0.91.99:1", "web", "socat"]);
    assert_eq!(unreachable.status.code(), Some(2), "errors exit 2");
    assert_eq!(cli(&["intention", "check", "web"]).status.code(), Some(2), "usage errors exit 2");

    let matched = run(&["intention", "match", "-destination", "socat"]);
    assert_eq!(stdout(&matched), "web => socat (deny)\n* => socat (allow)");
    let listed = stdout(&run(&["intention", "list"]));
    assert!(listed.starts_with("ID") && listed.lines().count() == 3, "{listed}");
    let got = stdout(&run(&["intention", "get", "web", "socat"]));
    assert!(got.contains("deny") && got.contains("Precedence:") && got.contains('9'), "{got}");
    let exact = http.get_json(a, "/v1/connect/intentions/exact?source=web&destination=socat").await.unwrap();
    let by_id = stdout(&run(&["intention", "get", exact["ID"].as_str().unwrap()]));
    assert_eq!(by_id, got, "get takes an ID too");

    eprintln!("=== authorize answers from the agent's copy, with Consul's reasons");
    let authorize = |source: &'static str| {
        let uri = format!("spiffe://{trust_domain}/ns/default/dc/dc1/svc/{source}");
        let body = format!(r#"{{"Target":"socat","ClientCertURI":"{uri}","ClientCertSerial":"01"}}"#);
        let http = &http;
        async move {
            let (status, text) = http.post(a, "/v1/agent/connect/authorize", &body).await.unwrap();
            assert_eq!(status, 200, "{text}");
            serde_json::from_str::<Value>(&text).unwrap()
        }
    };
    let denied = authorize("web").await;
    assert_eq!(denied["Authorized"], false);
    assert_eq!(denied["Reason"], "Matched L4 intention: web => socat (deny)");
    assert_eq!(authorize("api").await["Authorized"], true);
    let (status, _) =
        http.post(a, "/v1/agent/connect/authorize", r#"{"Target":"socat","ClientCertURI":"https://x"}"#).await.unwrap();
    assert_eq!(status, 400);

    let replaced = run(&["intention", "create", "-replace", "-allow", "web", "socat"]);
    assert_eq!(stdout(&replaced), "Created: web => socat (allow)");
    assert_eq!(run(&["intention", "check", "web", "socat"]).status.code(), Some(0));
    let deleted = run(&["intention", "delete", "web", "socat"]);
    assert_eq!(stdout(&deleted), "Intention deleted.");
    assert_eq!(run(&["intention", "delete", "web", "socat"]).status.code(), Some(1), "nothing left to delete");
    let (status, _) = http.get(a, "/v1/connect/intentions/exact?source=web&destination=socat").await.unwrap();
    assert_eq!(status, 404);
    agent.stop();
}

/// Hostile CSRs sent where a client agent would send them (AgentApi.SignLeaf).
#[tokio::test(flavor = "multi_thread")]
async fn t92_hostile_csrs_are_refused_and_nothing_is_signed() {
    use rcgen::CertificateParams;
    use rcgen::IsCa;
    use rcgen::KeyPair;
    use rcgen::SanType;
    use tessera_proto::v1::agent_api_client::AgentApiClient;
    use tessera_proto::v1::SignLeafRequest;

    let dir = tempfile::tempdir().unwrap();
    let web = r#"{"service": {"name": "web", "port": 8080}}"#;
    let mut agent = dev_agent("127.0.92.1", dir.path(), &[("web.json", web)]);
    agent.args.extend(cluster_tests::tls_args(dir.path(), "dc1", true));
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    let roots = wait_until("roots and web in the catalog", SETTLE, || {
        let (http, addr) = (&http, &addr);
        async move {
            http.get_json(addr, "/v1/catalog/service/web")
                .await
                .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))?;
            http.get_json(addr, "/v1/connect/ca/roots").await
        }
    })
    .await;
    let td = roots["TrustDomain"].as_str().unwrap().to_string();
    let svc = |td: &str, name: &str| format!("spiffe://{td}/ns/default/dc/dc1/svc/{name}");
    let csr = |uris: Vec<String>, ca: bool| {
        let mut params = CertificateParams::default();
        params.subject_alt_names = uris.into_iter().map(|u| SanType::URI(u.try_into().unwrap())).collect();
        if ca {
            params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        }
        params.serialize_request(&KeyPair::generate().unwrap()).unwrap().pem().unwrap()
    };
    let cases = [
        ("two URIs (CVE-2022-40716)", csr(vec![svc(&td, "web"), svc(&td, "db")], false), "URI"),
        (
            "another trust domain",
            csr(vec![svc("11111111-2222-3333-4444-555555555555.consul", "web")], false),
            "trust domain",
        ),
        ("a CA request", csr(vec![svc(&td, "web")], true), "CA"),
        ("a service not registered on the caller", csr(vec![svc(&td, "db")], false), "not registered"),
        ("no URI at all", csr(vec![], false), "URI"),
    ];
    // As a client agent would call: TLS, with a client certificate of the CA.
    let [ca, cert, key] = cluster_tests::tls_files(dir.path(), "dc1", false);
    let channel = cluster_tests::rpc_channel(&agent.rpc_addr(), "dc1", &ca, Some((&cert, &key)));
    let mut client = AgentApiClient::new(channel);
    for (what, csr_pem, reason) in cases {
        let answer = client.sign_leaf(SignLeafRequest { csr_pem, caller_node: "dev".into() }).await;
        let status = answer.expect_err(what);
        assert!(status.message().contains(reason), "{what}: {}", status.message());
    }
    let good = client
        .sign_leaf(SignLeafRequest { csr_pem: csr(vec![svc(&td, "web")], false), caller_node: "dev".into() })
        .await;
    let signed = good.expect("a well-formed CSR for a registered service is signed").into_inner();
    assert_eq!(cert_info(&signed.cert_pem).unwrap().uris, vec![svc(&td, "web")]);
    let other_node = client
        .sign_leaf(SignLeafRequest { csr_pem: csr(vec![svc(&td, "web")], false), caller_node: "elsewhere".into() })
        .await;
    assert!(other_node.is_err(), "web is not registered on node 'elsewhere'");
    agent.stop();
}

/// A root rotation while leaves are in use: old and new leaves all verify
/// against what every agent trusts, and every leaf moves to the new root.
#[tokio::test(flavor = "multi_thread")]
async fn t93_root_rotation_keeps_every_service_verifiable() {
    let mut cluster = Cluster::servers(93, 3, 3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(SETTLE).await;
    let server = cluster.agents[leader].rpc_addr();
    let dir = tempfile::tempdir().unwrap();
    let mut c1 = client_agent(
        "c1",
        "127.0.93.11",
        &server,
        cluster.dir.path(),
        &[("a.json", r#"{"service": {"name": "a", "port": 1}}"#)],
    );
    let mut c2 = client_agent(
        "c2",
        "127.0.93.12",
        &server,
        cluster.dir.path(),
        &[("b.json", r#"{"service": {"name": "b", "port": 2}}"#)],
    );
    c1.start();
    c2.start();
    let http = Http::new();
    let (a1, a2) = (c1.http_addr(), c2.http_addr());
    let old_a = wait_until("leaf for a on c1", SETTLE, || {
        let (http, a1) = (&http, &a1);
        async move { leaf(http, a1, "a").await }
    })
    .await;
    let old_b = wait_until("leaf for b on c2", SETTLE, || {
        let (http, a2) = (&http, &a2);
        async move { leaf(http, a2, "b").await }
    })
    .await;
    let (status, reason) = http.get(&a1, "/v1/agent/connect/ca/leaf/b").await.unwrap();
    assert_eq!(status, 403, "c1 may not get b's certificate: {reason}");
    assert!(reason.contains("not registered"), "{reason}");

    eprintln!("=== rotate to a new key");
    let config = cluster_tests::write_rotation_config(dir.path());
    let set = cli(&["connect", "ca", "set-config", "-http-addr", &a1, "-config-file", &config.display().to_string()]);
    assert_eq!(stdout(&set), "Configuration updated!", "{set:?}");

    let roots_of = |addr: String| {
        let http = http.clone();
        async move {
            let roots = http.get_json(&addr, "/v1/agent/connect/ca/roots").await?;
            let list = roots["Roots"].as_array()?.clone();
            (list.len() == 2).then_some((roots["ActiveRootID"].as_str()?.to_string(), list))
        }
    };
    let (active, roots) = wait_until("c2 holds both roots", SETTLE, || roots_of(a2.clone())).await;
    let new_root = roots.iter().find(|r| r["ID"] == active.as_str()).unwrap();
    assert_eq!(new_root["Name"], "Tessera CA 2");
    assert_eq!(new_root["IntermediateCerts"].as_array().unwrap().len(), 1, "cross-signed by the old root");
    let all_roots: Vec<String> = roots.iter().map(|r| r["RootCert"].as_str().unwrap().to_string()).collect();
    let old_only =
        vec![roots.iter().find(|r| r["ID"] != active.as_str()).unwrap()["RootCert"].as_str().unwrap().to_string()];

    eprintln!("=== every leaf is re-issued under the new root, within the spread");
    let new_a = wait_until("a re-issued", SETTLE, || {
        let (http, a1, old) = (&http, &a1, &old_a);
        async move { leaf(http, a1, "a").await.filter(|l| l["SerialNumber"] != old["SerialNumber"]) }
    })
    .await;
    let new_b = wait_until("b re-issued", SETTLE, || {
        let (http, a2, old) = (&http, &a2, &old_b);
        async move { leaf(http, a2, "b").await.filter(|l| l["SerialNumber"] != old["SerialNumber"]) }
    })
    .await;
    for (name, l) in [("old a", &old_a), ("old b", &old_b), ("new a", &new_a), ("new b", &new_b)] {
        assert!(verifies(l["CertPEM"].as_str().unwrap(), &all_roots), "{name} against both roots");
    }
    for (name, l) in [("new a", &new_a), ("new b", &new_b)] {
        assert!(
            verifies(l["CertPEM"].as_str().unwrap(), &old_only),
            "{name} through the cross-signed cert to the old root"
        );
    }
    c1.stop();
    c2.stop();
}
