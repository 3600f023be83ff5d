use tessera_mesh::connect::Action;
use tessera_mesh::connect::DefaultPolicy;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deny_intention_closes_new_connections_and_deleting_it_restores() {
    let pair = Pair::start(true).await;
    connect_and_echo(pair.web_upstream()).await;

    tracing::info!("--- deny web => socat");
    pair.socat.set_intentions(vec![intention("web", "socat", Action::Deny)]);
    connect_and_assert_closed(pair.web_upstream()).await;
    pair.socat.wait_metric(r#"tessera_proxy_authz_denied_total{reason="intention"}"#, 1).await;

    tracing::info!("--- delete it");
    pair.socat.set_intentions(Vec::new());
    connect_and_echo(pair.web_upstream()).await;

    tracing::info!("--- default deny with an allow for web");
    pair.socat.snapshots.send_modify(|s| {
        s.default_policy = DefaultPolicy::Deny;
        s.intentions = vec![intention("web", "socat", Action::Allow)];
    });
    connect_and_echo(pair.web_upstream()).await;
    pair.socat.set_intentions(vec![intention("api", "socat", Action::Allow)]);
    connect_and_assert_closed(pair.web_upstream()).await;
}
