use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_through_the_pair_is_counted_and_reconnects_resume() {
    let pair = Pair::start(true).await;

    tracing::info!("--- one connection echoes through web -> socat -> app");
    {
        let mut conn = connect_and_echo(pair.web_upstream()).await;
        echo(&mut conn, &vec![7u8; 300_000]).await;
    }

    tracing::info!("--- both sides counted it, with bytes");
    pair.web.wait_metric(r#"tessera_proxy_connections_total{direction="outbound"}"#, 1).await;
    pair.socat.wait_metric(r#"tessera_proxy_connections_total{direction="inbound"}"#, 1).await;
    let total = 5 + 300_000;
    pair.web.wait_metric(r#"tessera_proxy_bytes_total{direction="outbound",way="tx"}"#, total).await;
    pair.web.wait_metric(r#"tessera_proxy_bytes_total{direction="outbound",way="rx"}"#, total).await;
    pair.socat.wait_metric(r#"tessera_proxy_bytes_total{direction="inbound",way="rx"}"#, total).await;
    pair.socat.wait_metric(r#"tessera_proxy_bytes_total{direction="inbound",way="tx"}"#, total).await;

    tracing::info!("--- the open gauge returns to zero once closed");
    let open = r#"tessera_proxy_connections_open{direction="outbound"}"#;
    pair.web.wait_metric_where(open, "0", |value| value == 0).await;

    tracing::info!("--- a second connection resumes the TLS session");
    connect_and_echo(pair.web_upstream()).await;
    pair.web.wait_metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="resumed"}"#, 1).await;
    pair.socat.wait_metric(r#"tessera_proxy_handshakes_total{direction="inbound",kind="resumed"}"#, 1).await;
    assert_eq!(pair.web.metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="full"}"#).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_is_carried_through_both_proxies() {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;

    let pair = Pair::start(true).await;
    let mut conn = tokio::net::TcpStream::connect(pair.web_upstream()).await.unwrap();
    conn.write_all(b"last words").await.unwrap();
    conn.shutdown().await.unwrap();
    // The app sees EOF, echoes, then closes: everything comes back, then EOF.
    let mut back = Vec::new();
    within(conn.read_to_end(&mut back)).await.unwrap();
    assert_eq!(back, b"last words");
}
