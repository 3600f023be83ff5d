use std::time::Duration;
use std::time::Instant;

use tessera_mesh::connect::Action;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_close_denied_an_open_connection_is_cut_within_a_second() {
    let pair = Pair::start(true).await;
    let mut open = connect_and_echo(pair.web_upstream()).await;
    let mut other = connect_and_echo(pair.web_upstream()).await;

    let pushed = Instant::now();
    pair.socat.set_intentions(vec![intention("web", "socat", Action::Deny)]);
    // Each open connection is cut by its own task, so the two close in either
    // order; nothing is written to them here, which would race the cut.
    assert_cut_within(&mut open, Duration::from_secs(1)).await;
    assert_cut_within(&mut other, Duration::from_secs(1)).await;
    assert!(pushed.elapsed() < Duration::from_secs(1));
    pair.socat.wait_metric("tessera_proxy_connections_closed_by_policy_total", 2).await;
}

/// The connection ends (EOF or reset) within `limit`, with nothing echoed.
async fn assert_cut_within(conn: &mut tokio::net::TcpStream, limit: Duration) {
    let mut buf = [0u8; 8];
    let read = tokio::time::timeout(limit, tokio::io::AsyncReadExt::read(conn, &mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "still open {limit:?} after the deny: {read:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_close_denied_open_connections_stay() {
    let pair = Pair::start(false).await;
    let mut open = connect_and_echo(pair.web_upstream()).await;

    pair.socat.set_intentions(vec![intention("web", "socat", Action::Deny)]);
    // A new connection is refused: the proxy has the deny.
    connect_and_assert_closed(pair.web_upstream()).await;
    pair.socat.wait_metric(r#"tessera_proxy_authz_denied_total{reason="intention"}"#, 1).await;
    // The one opened before it still works.
    echo(&mut open, b"still here").await;
    assert_eq!(pair.socat.metric("tessera_proxy_connections_closed_by_policy_total").await, 0);
}
