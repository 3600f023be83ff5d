use tessera_proxy::Endpoint;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_fail_over_from_a_dead_endpoint() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let socat = TestProxy::public(snapshot(&ca, "socat"), app, true).await;
    let dead = Endpoint { addr: dead_addr().await, service: "socat".into() };
    let web = TestProxy::upstream(snapshot(&ca, "web"), "socat", vec![dead, socat.public_endpoint("socat")]).await;

    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(connect_and_echo(web.upstream_addr("socat")).await);
    }
    assert_eq!(socat.metric(r#"tessera_proxy_connections_total{direction="inbound"}"#).await, 10);

    tracing::info!("--- no endpoints: the local connection is closed");
    web.endpoints["socat"].send_replace(Vec::new());
    connect_and_assert_closed(web.upstream_addr("socat")).await;

    tracing::info!("--- endpoints come back");
    web.endpoints["socat"].send_replace(vec![socat.public_endpoint("socat")]);
    connect_and_echo(web.upstream_addr("socat")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_spread_over_two_live_endpoints() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let a = TestProxy::public(snapshot(&ca, "socat"), app, true).await;
    let b = TestProxy::public(snapshot(&ca, "socat"), app, true).await;
    let web = TestProxy::upstream(
        snapshot(&ca, "web"),
        "socat",
        vec![a.public_endpoint("socat"), b.public_endpoint("socat")],
    )
    .await;

    // Held open: power of two choices on open counts alternates them.
    let mut open = Vec::new();
    for _ in 0..8 {
        open.push(connect_and_echo(web.upstream_addr("socat")).await);
    }
    let on_a = a.metric(r#"tessera_proxy_connections_total{direction="inbound"}"#).await;
    let on_b = b.metric(r#"tessera_proxy_connections_total{direction="inbound"}"#).await;
    assert_eq!((on_a, on_b), (4, 4));
}
