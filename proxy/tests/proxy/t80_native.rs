use std::io;

use tessera_mesh::connect::Action;
use tessera_proxy::Endpoint;
use tessera_proxy::NativeService;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_client_dials_a_sidecar() {
    let ca = Ca::new("Tessera CA 1");
    let app = echo_app().await;
    let socat = TestProxy::public(snapshot(&ca, "socat"), app, true).await;
    let (_tx, rx) = watch::channel(snapshot(&ca, "web"));
    let web = NativeService::new(rx).unwrap();
    assert_eq!(web.identity().service, "web");

    let dead = Endpoint { addr: dead_addr().await, service: "socat".into() };
    let mut conn = web.dial("socat", &[dead, socat.public_endpoint("")]).await.unwrap();
    echo(&mut conn, b"native hello").await;

    let err = web.dial("db", &[socat.public_endpoint("db")]).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_native_server_accepts_a_sidecar_and_applies_intentions() {
    let ca = Ca::new("Tessera CA 1");
    let (tx, rx) = watch::channel(snapshot(&ca, "socat"));
    let socat = NativeService::new(rx).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = Endpoint { addr: listener.local_addr().unwrap(), service: "socat".into() };
    let web = TestProxy::upstream(snapshot(&ca, "web"), "socat", vec![endpoint]).await;

    let mut local = tokio::net::TcpStream::connect(web.upstream_addr("socat")).await.unwrap();
    let (mut tls, peer) = within(socat.accept(&listener)).await.unwrap();
    assert_eq!(peer, identity("web"));
    local.write_all(b"ping").await.unwrap();
    let mut buf = [0u8; 4];
    within(tls.read_exact(&mut buf)).await.unwrap();
    tls.write_all(b"pong").await.unwrap();
    within(local.read_exact(&mut buf)).await.unwrap();
    assert_eq!(&buf, b"pong");

    tracing::info!("--- denied by an intention");
    tx.send_modify(|s| s.intentions = vec![intention("web", "socat", Action::Deny)]);
    let _local = tokio::net::TcpStream::connect(web.upstream_addr("socat")).await.unwrap();
    let err = within(socat.accept(&listener)).await.unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
}
