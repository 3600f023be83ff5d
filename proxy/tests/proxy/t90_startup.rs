use std::collections::HashMap;

use tessera_proxy::ProxyConfig;
use tessera_proxy::PublicListener;
use tessera_proxy::Upstream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::support::*;

#[tokio::test]
async fn a_taken_address_fails_the_start_naming_it() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let ca = Ca::new("Tessera CA 1");
    let config = ProxyConfig { upstreams: vec![Upstream::new("socat", addr)], ..ProxyConfig::default() };
    let (_tx, rx) = watch::channel(snapshot(&ca, "web"));
    let err = tessera_proxy::run(config, rx, HashMap::new(), CancellationToken::new()).await.unwrap_err();
    assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
}

#[tokio::test]
async fn unusable_certificates_fail_the_start_and_shutdown_returns() {
    let ca = Ca::new("Tessera CA 1");
    let mut bad = snapshot(&ca, "web");
    bad.leaf.key_pem = "not a key".into();
    let config = ProxyConfig {
        public_listener: Some(PublicListener::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:1".parse().unwrap())),
        ..ProxyConfig::default()
    };
    let (_tx, rx) = watch::channel(bad);
    let err = tessera_proxy::run(config.clone(), rx, HashMap::new(), CancellationToken::new()).await.unwrap_err();
    assert!(format!("{err:#}").contains("private key"), "{err:#}");

    let (_tx, rx) = watch::channel(snapshot(&ca, "web"));
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(tessera_proxy::run(config, rx, HashMap::new(), shutdown.clone()));
    shutdown.cancel();
    within(running).await.unwrap().unwrap();
}
