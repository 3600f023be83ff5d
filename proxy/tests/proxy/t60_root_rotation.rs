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
