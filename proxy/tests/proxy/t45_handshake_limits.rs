//! The public listener against clients that connect and say nothing: at
//! most `max_pending_handshakes` wait for their handshake (one more is
//! closed at once), a silent one is cut at the handshake timeout, and with
//! an idle timeout an established relay that goes quiet is closed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tessera_proxy::config::ProxyConfig;
use tessera_proxy::config::PublicListener;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;
use tokio::net::TcpStream;

use crate::support::*;
use crate::t40_hostile_clients::client;
use crate::t40_hostile_clients::echoes;

async fn socat(app: SocketAddr, ca: &Ca, adjust: impl FnOnce(&mut PublicListener, &mut ProxyConfig)) -> TestProxy {
    let mut listener = PublicListener::new("127.0.0.1:0".parse().unwrap(), app);
    let mut config = ProxyConfig { metrics_bind: Some("127.0.0.1:0".parse().unwrap()), ..ProxyConfig::default() };
    adjust(&mut listener, &mut config);
    config.public_listener = Some(listener);
    TestProxy::start(config, snapshot(ca, "socat"), HashMap::new()).await
}

async fn connect_from(from: [u8; 4], to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// The peer closes `conn` (EOF or reset) within [`PATIENCE`], sending nothing.
async fn closed_silently(conn: &mut TcpStream) {
    let mut buf = [0u8; 64];
    match within(conn.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("got {:?} from a connection that should be closed", &buf[..n]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_pending_handshake_cap_are_closed() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let proxy = socat(app, &ca, |listener, _| {
        listener.max_pending_handshakes = 4;
        // Held connections wait for as long as the test needs them.
        listener.handshake_timeout = Duration::from_secs(600);
    })
    .await;
    let addr = proxy.public.unwrap();

    tracing::info!("--- four silent connections take every handshake slot; a fifth is closed at once");
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(connect_from([127, 0, 101, 1], addr).await);
    }
    let mut extra = connect_from([127, 0, 101, 2], addr).await;
    closed_silently(&mut extra).await;

    tracing::info!("--- one silent connection goes away: a proper client gets its echo again");
    drop(held.pop());
    let leaf = ca.leaf("web");
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !echoes(addr, Some(&leaf)).await {
        assert!(tokio::time::Instant::now() < deadline, "a freed slot serves a proper client");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_cut_at_the_handshake_timeout() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let proxy = socat(app, &ca, |listener, _| listener.handshake_timeout = Duration::from_millis(200)).await;
    let addr = proxy.public.unwrap();
    let mut silent = connect_from([127, 0, 101, 3], addr).await;
    closed_silently(&mut silent).await;
    let series = r#"tessera_proxy_handshake_failures_total{direction="inbound",reason="timeout"}"#;
    proxy.wait_metric(series, 1).await;
    assert!(echoes(addr, Some(&ca.leaf("web"))).await, "a proper client still handshakes in time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_established_relay_that_goes_quiet_is_closed_at_the_idle_timeout() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let proxy = socat(app, &ca, |_, config| config.idle_timeout = Some(Duration::from_millis(300))).await;
    let addr = proxy.public.unwrap();
    let tcp = connect_from([127, 0, 101, 4], addr).await;
    let leaf = ca.leaf("web");
    let mut tls = within(client(Some(&leaf)).connect(ServerName::try_from("socat").unwrap(), tcp)).await.unwrap();
    tls.write_all(b"hello").await.unwrap();
    let mut buf = [0u8; 5];
    within(tls.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"hello");
    tracing::info!("--- no more traffic: the relay ends");
    let mut rest = Vec::new();
    let _ = within(tls.read_to_end(&mut rest)).await;
    assert!(rest.is_empty());
}
