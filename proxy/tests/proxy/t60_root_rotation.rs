use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_root_rotation_new_connections_work_and_open_ones_continue() {
    let pair = Pair::start(true).await;
    let mut open = connect_and_echo(pair.web_upstream()).await;

    tracing::info!("--- rotate: trust [old, new], leaves from the new root");
    let new_ca = Ca::new("Tessera CA 2");
    for (proxy, service) in [(&pair.socat, "socat"), (&pair.web, "web")] {
        proxy.snapshots.send_modify(|s| {
            s.roots = roots(&[&pair.ca, &new_ca]);
            s.leaf = new_ca.leaf(service);
        });
    }
    let mut fresh = connect_and_echo(pair.web_upstream()).await;
    echo(&mut open, b"opened before the rotation").await;
    echo(&mut fresh, b"opened after").await;
    // The new connection could not resume: the rotation retired the tickets.
    pair.web.wait_metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="full"}"#, 2).await;

    tracing::info!("--- drop the old root: new leaves still work");
    for proxy in [&pair.socat, &pair.web] {
        proxy.snapshots.send_modify(|s| s.roots = roots(&[&new_ca]));
    }
    connect_and_echo(pair.web_upstream()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaves_signed_by_an_intermediate_are_verified_through_the_presented_chain() {
    let root = Ca::new("Tessera CA 1");
    let intermediate = root.intermediate("Tessera Intermediate CA");
    let app = echo_app().await;
    let mut socat_snapshot = snapshot(&root, "socat");
    socat_snapshot.leaf = intermediate.leaf("socat");
    let socat = TestProxy::public(socat_snapshot, app, true).await;
    let mut web_snapshot = snapshot(&root, "web");
    web_snapshot.leaf = intermediate.leaf("web");
    let web = TestProxy::upstream(web_snapshot, "socat", vec![socat.public_endpoint("socat")]).await;
    connect_and_echo(web.upstream_addr("socat")).await;

    tracing::info!("--- without the intermediate in its chain, web is refused");
    web.snapshots.send_modify(|s| s.leaf = intermediate.leaf_without_intermediates("web"));
    connect_and_assert_closed(web.upstream_addr("socat")).await;
    socat.wait_metric(r#"tessera_proxy_handshake_failures_total{direction="inbound",reason="bad_chain"}"#, 1).await;
}
