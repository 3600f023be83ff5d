use std::time::Instant;

use x509_parser::extensions::BasicConstraints as ParsedBasicConstraints;

use super::*;
use crate::connect::csr::leaf_request;

const DAY: Duration = Duration::from_secs(24 * 3600);
const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);

fn trust_domain() -> TrustDomain {
    TrustDomain::for_cluster("11111111-2222-3333-4444-555555555555")
}

fn policy() -> LeafPolicy {
    LeafPolicy { trust_domain: trust_domain(), datacenter: "dc1".into(), ttl: 3 * DAY }
}

fn web() -> ServiceIdentity {
    ServiceIdentity::new(&trust_domain(), "dc1", "web")
}

fn root(name: &str) -> RootCa {
    generate_root(&trust_domain(), name, RootKey::Fresh(256), 10 * YEAR).unwrap()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The DER of a PEM block (of any label).
fn der_of(pem: &str) -> Vec<u8> {
    parse_x509_pem(pem.as_bytes()).unwrap().1.contents
}

/// A minimal base64 PEM encoder, to re-wrap tampered DER.
fn pem_of(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::new();
    for chunk in der.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            let digit = ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char;
            b64.push(if i <= chunk.len() { digit } else { '=' });
        }
    }
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|l| std::str::from_utf8(l).unwrap()).collect();
    format!("-----BEGIN {label}-----\n{}\n-----END {label}-----\n", lines.join("\n"))
}

/// A CSR built directly with rcgen, as a hostile or broken client might.
fn csr_with(sans: Vec<SanType>, is_ca: IsCa) -> String {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name("web");
    params.subject_alt_names = sans;
    params.is_ca = is_ca;
    params.serialize_request(&KeyPair::generate().unwrap()).unwrap().pem().unwrap()
}

fn uri(text: &str) -> SanType {
    SanType::URI(Ia5String::try_from(text).unwrap())
}

fn uris(texts: &[&str]) -> Vec<SanType> {
    texts.iter().map(|t| uri(t)).collect()
}

/// A valid CSR whose signed content was altered after signing.
fn tampered_csr() -> String {
    let pem = leaf_request(&web()).unwrap().csr_pem;
    let mut der = der_of(&pem);
    assert_eq!(pem_of("CERTIFICATE REQUEST", &der), pem, "the test encoder must reproduce rcgen's PEM");
    let at = der.windows(7).position(|w| w == b"svc/web").unwrap();
    der[at..at + 7].copy_from_slice(b"svc/api");
    pem_of("CERTIFICATE REQUEST", &der)
}

fn parsed(pem: &str) -> (Vec<u8>, CertInfo) {
    (der_of(pem), cert_info(pem).unwrap())
}

fn authority_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions().find_map(|ext| match ext.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|id| id.0.to_vec()),
        _ => None,
    })
}

#[test]
fn colon_hex_is_lowercase_pairs() {
    assert_eq!(colon_hex(&[0x3a, 0x0f, 0xff]), "3a:0f:ff");
    assert_eq!(colon_hex(&[]), "");
}

#[test]
fn a_root_describes_itself() {
    let before = now();
    let root = root("Tessera CA 1");
    let (der, info) = parsed(&root.cert_pem);

    assert_eq!(root.id, colon_hex(&Sha1::digest(&der)));
    assert_eq!(root.id.len(), 20 * 3 - 1);
    assert_eq!(root.serial, info.serial);
    assert_eq!(root.serial.len(), SERIAL_LEN * 3 - 1);
    assert_eq!(root.signing_key_id, info.subject_key_id);
    assert!(!root.signing_key_id.is_empty());
    assert_eq!((root.not_before, root.not_after), (info.not_before, info.not_after));
    assert!(root.not_before + 60 >= before && root.not_before + 60 <= now());
    assert_eq!(root.not_after - root.not_before, 10 * YEAR.as_secs() + 60);
    assert!(info.is_ca);
    assert_eq!(info.uris, vec![trust_domain().uri()]);
    assert_eq!((info.subject_cn.as_str(), info.issuer_cn.as_str()), ("Tessera CA 1", "Tessera CA 1"));

    let cert = parse_cert("root", &der).unwrap();
    cert.verify_signature(None).unwrap();
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert_eq!(bc, &ParsedBasicConstraints { ca: true, path_len_constraint: None });
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.key_cert_sign() && usage.crl_sign() && usage.digital_signature());
    assert!(cert.name_constraints().unwrap().is_none());

    let stored: RootCa = serde_json::from_str(&serde_json::to_string(&root).unwrap()).unwrap();
    assert_eq!(stored, root);
}

#[test]
fn a_root_uses_a_given_p384_key_and_refuses_other_kinds() {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let root = generate_root(&trust_domain(), "Tessera CA 384", RootKey::Given(&key.serialize_pem()), YEAR).unwrap();
    let der = der_of(&root.cert_pem);
    let cert = parse_cert("root", &der).unwrap();
    assert_eq!(cert.public_key().raw, key.subject_public_key_info().as_slice());
    assert_eq!(cert_info(&root.cert_pem).unwrap().key_bits, 384);

    let leaf = Signer::new(&root).unwrap().sign(&leaf_request(&web()).unwrap().csr_pem, &policy()).unwrap();
    let leaf_der = der_of(&leaf.cert_pem);
    parse_cert("leaf", &leaf_der).unwrap().verify_signature(Some(cert.public_key())).unwrap();

    let ed25519 = KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap().serialize_pem();
    for bad in [ed25519.as_str(), "not a key"] {
        let err = generate_root(&trust_domain(), "x", RootKey::Given(bad), YEAR).unwrap_err();
        assert!(matches!(err, CaError::Key { .. }), "{err}");
    }
    assert!(matches!(
        generate_root(&trust_domain(), " ", RootKey::Fresh(256), YEAR),
        Err(CaError::Invalid { field: "name", .. })
    ));
}

#[test]
fn a_signer_refuses_a_key_that_is_not_its_roots() {
    let mut root = root("Tessera CA 1");
    root.key_pem = KeyPair::generate().unwrap().serialize_pem();
    let err = Signer::new(&root).unwrap_err();
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[test]
fn a_workload_csr_is_signed_from_policy() {
    let root = root("Tessera CA 1");
    let signer = Signer::new(&root).unwrap();
    assert_eq!(signer.root_id(), root.id);
    let request = leaf_request(&web()).unwrap();
    assert_eq!(validate_csr(&request.csr_pem, &policy()), Ok(web()));

    let before = now();
    let leaf = signer.sign(&request.csr_pem, &policy()).unwrap();
    let (der, info) = parsed(&leaf.cert_pem);
    let cert = parse_cert("leaf", &der).unwrap();

    assert_eq!(leaf.identity, web());
    assert_eq!(info.uris, vec![web().uri()]);
    assert_eq!(cert.subject_alternative_name().unwrap().unwrap().value.general_names.len(), 1);
    assert!(!info.is_ca);
    assert_eq!((info.subject_cn.as_str(), info.issuer_cn.as_str()), ("web", "Tessera CA 1"));
    assert_eq!(leaf.serial, info.serial);
    assert_eq!(leaf.serial.len(), SERIAL_LEN * 3 - 1);
    assert_eq!((leaf.valid_after, leaf.valid_before), (info.not_before, info.not_after));
    assert!(info.not_before + 60 >= before && info.not_before + 60 <= now(), "backdated 60 s");
    assert_eq!(info.not_after - info.not_before, policy().ttl.as_secs() + 60, "ttl from policy");

    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.any && !eku.code_signing);
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && !usage.key_cert_sign() && !usage.crl_sign());
    let signing_key_id = der_of(&root.cert_pem);
    let root_cert = parse_cert("root", &signing_key_id).unwrap();
    assert_eq!(authority_key_id(&cert).as_deref(), subject_key_id(&root_cert));
    assert_eq!(cert.issuer().as_raw(), root_cert.subject().as_raw());
    cert.verify_signature(Some(root_cert.public_key())).unwrap();

    let workload_key = KeyPair::from_pem(&request.key_pem).unwrap();
    assert_eq!(cert.public_key().raw, workload_key.subject_public_key_info().as_slice());
}

#[test]
fn what_a_csr_asks_for_beyond_its_key_and_uri_is_ignored() {
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name("admin");
    params.subject_alt_names = vec![uri(&web().uri())];
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    let csr = params.serialize_request(&KeyPair::generate().unwrap()).unwrap().pem().unwrap();

    let leaf = Signer::new(&root("Tessera CA 1")).unwrap().sign(&csr, &policy()).unwrap();
    let der = der_of(&leaf.cert_pem);
    let cert = parse_cert("leaf", &der).unwrap();
    assert_eq!(first_cn(cert.subject()), "web");
    let usage = cert.key_usage().unwrap().unwrap().value;
    assert!(usage.digital_signature() && !usage.key_cert_sign() && !usage.crl_sign());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth && !eku.code_signing);
}

#[test]
fn hostile_csrs_are_refused_and_nothing_is_signed() {
    let td = trust_domain();
    let good = web().uri();
    let other_td = ServiceIdentity::new(&TrustDomain::for_cluster("evil"), "dc1", "web").uri();
    let other_dc = ServiceIdentity::new(&td, "dc2", "web").uri();
    let agent = format!("spiffe://{td}/agent/client/dc/dc1/id/x");
    let dns = SanType::DnsName(Ia5String::try_from("web.service.consul").unwrap());
    let cases: Vec<(&str, String, CsrError)> = vec![
        ("two URI SANs", csr_with(uris(&[&good, &other_dc]), IsCa::NoCa), CsrError::TooManyUris(2)),
        ("no SAN at all", csr_with(vec![], IsCa::NoCa), CsrError::NoUri),
        (
            "another trust domain",
            csr_with(uris(&[&other_td]), IsCa::NoCa),
            CsrError::WrongTrustDomain { got: "evil.consul".into(), want: td.to_string() },
        ),
        (
            "another datacenter",
            csr_with(uris(&[&other_dc]), IsCa::NoCa),
            CsrError::WrongDatacenter { got: "dc2".into(), want: "dc1".into() },
        ),
        ("an agent identity", csr_with(uris(&[&agent]), IsCa::NoCa), CsrError::NotServiceIdentity(agent.clone())),
        (
            "a DNS SAN beside the URI",
            csr_with(vec![uri(&good), dns.clone()], IsCa::NoCa),
            CsrError::OtherSan("DNS:web.service.consul".into()),
        ),
        ("only a DNS SAN", csr_with(vec![dns], IsCa::NoCa), CsrError::OtherSan("DNS:web.service.consul".into())),
        ("CA:true", csr_with(uris(&[&good]), IsCa::Ca(BasicConstraints::Unconstrained)), CsrError::CaRequested),
        (
            "CA:true, pathlen 0",
            csr_with(uris(&[&good]), IsCa::Ca(BasicConstraints::Constrained(0))),
            CsrError::CaRequested,
        ),
    ];
    let signer = Signer::new(&root("Tessera CA 1")).unwrap();
    for (name, csr, want) in cases {
        assert_eq!(validate_csr(&csr, &policy()), Err(want.clone()), "{name}");
        assert_eq!(signer.sign(&csr, &policy()), Err(want), "{name}");
    }

    let valid = leaf_request(&web()).unwrap().csr_pem;
    let certificate = root("Tessera CA 2").cert_pem;
    let unparseable = [
        ("garbage", "this is not a CSR".to_string()),
        ("garbage inside PEM armour", pem_of("CERTIFICATE REQUEST", b"\x30\x03\x02\x01\x00")),
        ("a certificate instead", certificate),
        ("tampered after signing", tampered_csr()),
        ("two CSRs in one", format!("{valid}{valid}")),
    ];
    for (name, csr) in unparseable {
        let err = signer.sign(&csr, &policy()).unwrap_err();
        assert!(matches!(err, CsrError::Unparseable(_)), "{name}: {err}");
        assert!(matches!(validate_csr(&csr, &policy()), Err(CsrError::Unparseable(_))), "{name}");
    }
    let err = signer.sign(&tampered_csr(), &policy()).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
}

#[test]
fn a_cross_signed_new_root_chains_new_leaves_to_the_old_root() {
    let old = root("Tessera CA 1");
    let new = root("Tessera CA 2");
    let cross_pem = cross_sign(&new, &old, YEAR).unwrap();
    let leaf = Signer::new(&new).unwrap().sign(&leaf_request(&web()).unwrap().csr_pem, &policy()).unwrap();

    let (old_der, new_der, cross_der, leaf_der) =
        (der_of(&old.cert_pem), der_of(&new.cert_pem), der_of(&cross_pem), der_of(&leaf.cert_pem));
    let old_cert = parse_cert("old", &old_der).unwrap();
    let new_cert = parse_cert("new", &new_der).unwrap();
    let cross = parse_cert("cross", &cross_der).unwrap();
    let leaf = parse_cert("leaf", &leaf_der).unwrap();

    // Directly: leaf -> new root.
    leaf.verify_signature(Some(new_cert.public_key())).unwrap();
    assert_eq!(leaf.issuer().as_raw(), new_cert.subject().as_raw());
    // Through the cross: leaf -> cross -> old root.
    assert_eq!(cross.subject().as_raw(), new_cert.subject().as_raw());
    assert_eq!(cross.public_key().raw, new_cert.public_key().raw);
    leaf.verify_signature(Some(cross.public_key())).unwrap();
    assert_eq!(cross.issuer().as_raw(), old_cert.subject().as_raw());
    cross.verify_signature(Some(old_cert.public_key())).unwrap();
    assert!(cross.verify_signature(Some(new_cert.public_key())).is_err());

    let info = cert_info(&cross_pem).unwrap();
    assert!(info.is_ca);
    assert_eq!(info.subject_key_id, new.signing_key_id);
    assert_eq!(info.uris, vec![trust_domain().uri()]);
    assert_eq!((info.subject_cn.as_str(), info.issuer_cn.as_str()), ("Tessera CA 2", "Tessera CA 1"));
    assert_eq!(authority_key_id(&cross).as_deref(), subject_key_id(&old_cert));
    assert_eq!(authority_key_id(&leaf).as_deref(), subject_key_id(&cross));
    let usage = cross.key_usage().unwrap().unwrap().value;
    assert!(usage.key_cert_sign() && usage.crl_sign() && usage.digital_signature());
    assert_eq!(info.not_after - info.not_before, YEAR.as_secs() + 60);
}

/// Run with `cargo test -p tessera-proto --release -- --ignored --nocapture`.
#[test]
#[ignore = "throughput measurement; run in release"]
fn sign_throughput() {
    let signer = Signer::new(&root("Tessera CA 1")).unwrap();
    let csrs: Vec<String> = (0..256)
        .map(|i| {
            let identity = ServiceIdentity::new(&trust_domain(), "dc1", &format!("svc{i}"));
            leaf_request(&identity).unwrap().csr_pem
        })
        .collect();
    let run = |threads: usize| {
        let window = Duration::from_secs(2);
        let start = Instant::now();
        let signed: usize = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let (signer, csrs) = (&signer, &csrs);
                    scope.spawn(move || {
                        let mut n = 0;
                        while start.elapsed() < window {
                            signer.sign(&csrs[(n + t) % csrs.len()], &policy()).unwrap();
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).sum()
        });
        signed as f64 / start.elapsed().as_secs_f64()
    };
    println!("sign(): {:.0}/s on 1 thread, {:.0}/s on 2 threads", run(1), run(2));
}

#[test]
fn debug_of_a_root_and_of_a_given_key_leaves_the_key_out() {
    let root = root("Tessera CA 1");
    let body = root.key_pem.lines().nth(1).unwrap().to_string();
    for shown in [format!("{root:?}"), format!("{:?}", RootKey::Given(&root.key_pem))] {
        assert!(!shown.contains(&body) && !shown.contains("PRIVATE KEY"), "{shown}");
        assert!(shown.contains(REDACTED), "{shown}");
    }
    assert!(format!("{root:?}").contains(&root.id));
}

#[test]
fn an_unusable_given_key_is_refused_without_its_text() {
    let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==";
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{secret}\n-----END PRIVATE KEY-----\n");
    let err = generate_root(&trust_domain(), "Tessera CA 2", RootKey::Given(&pem), YEAR).unwrap_err().to_string();
    assert!(!err.contains(secret), "{err}");
}
