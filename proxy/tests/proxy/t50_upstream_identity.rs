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

/// A resumed session skips the server's certificate; the upstream checks
/// the chain the session was made with again, at the time of now: a server
/// whose leaf has expired since is refused, not resumed into.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_session_to_a_server_whose_leaf_expired_is_refused() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let expires = time::OffsetDateTime::now_utc() + std::time::Duration::from_secs(3);
    let mut socat_snapshot = snapshot(&ca, "socat");
    socat_snapshot.leaf = ca.leaf_with("socat", |p| {
        p.not_before = time::OffsetDateTime::now_utc() - std::time::Duration::from_secs(60);
        p.not_after = expires;
    });
    let socat = TestProxy::public(socat_snapshot, app, true).await;
    let web = TestProxy::upstream(snapshot(&ca, "web"), "socat", vec![socat.public_endpoint("socat")]).await;
    connect_and_echo(web.upstream_addr("socat")).await;
    web.wait_metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="full"}"#, 1).await;

    tracing::info!("--- once socat's leaf has expired, the ticket web holds is not enough");
    let past = expires + std::time::Duration::from_secs(1);
    wait_until_time(past).await;
    connect_and_assert_closed(web.upstream_addr("socat")).await;
    assert_eq!(web.metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="resumed"}"#).await, 0);
    web.wait_metric(r#"tessera_proxy_handshake_failures_total{direction="outbound",reason="expired"}"#, 1).await;
}

/// Waits for the wall clock to pass `at` (bounded: `at` is seconds away).
async fn wait_until_time(at: time::OffsetDateTime) {
    while time::OffsetDateTime::now_utc() < at {
        let left = (at - time::OffsetDateTime::now_utc()).unsigned_abs();
        tokio::time::sleep(left.min(std::time::Duration::from_millis(200))).await;
    }
}
