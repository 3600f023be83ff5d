//! The HTTP API over TLS (`ports.https`): the router of the plain port,
//! served on connections that finished their TLS handshake. Handshakes run
//! beside each other, bounded in number and time, so a slow or silent
//! client holds up no other (`transport::accept`).

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use axum::Router;
use futures::Stream;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::transport::listener_tls;
use crate::transport::listener_tls::ListenerTls;

/// Serves `router` on `listener` over TLS until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ListenerTls>,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let router = crate::http::browser::guarded(router, local);
    let conns = Box::pin(listener_tls::incoming(listener, tls));
    axum::serve(TlsListener { conns, local }, router).with_graceful_shutdown(shutdown.cancelled_owned()).await
}

type Conns = Pin<Box<dyn Stream<Item = (TlsStream<TcpStream>, SocketAddr)> + Send>>;

/// Handshaken connections, as axum takes a listener.
struct TlsListener {
    conns: Conns,
    local: SocketAddr,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.conns.next().await {
            Some(conn) => conn,
            // The accept loop never ends by itself; graceful shutdown stops
            // waiting on it.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
