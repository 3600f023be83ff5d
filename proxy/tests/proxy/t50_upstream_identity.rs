use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upstream_refuses_a_server_with_the_wrong_identity() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let db = TestProxy::public(snapshot(&ca, "db"), app, true).await;
    // web believes db's address is a socat instance.
    let web = TestProxy::upstream(snapshot(&ca, "web"), "socat", vec![db.public_endpoint("socat")]).await;

    connect_and_assert_closed(web.upstream_addr("socat")).await;
    web.wait_metric(r#"tessera_proxy_handshake_failures_total{direction="outbound",reason="bad_identity"}"#, 1).await;

    tracing::info!("--- told the truth, web reaches db");
    web.endpoints["socat"].send_replace(vec![db.public_endpoint("db")]);
    connect_and_echo(web.upstream_addr("socat")).await;
}
