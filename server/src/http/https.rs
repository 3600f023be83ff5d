//! The HTTP API over TLS (`ports.https`): the router of the plain port,
//! served on connections that finished their TLS handshake. Handshakes run
//! beside each other, bounded in number and time, so a slow or silent
//! client holds up no other (`transport::accept`); connections count
//! against their client address together with the plain port's.

use std::sync::Arc;

use axum::Router;
use futures::StreamExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::listen::Protocol;
use crate::limits::ListenerLimits;
use crate::transport::listener_tls;
use crate::transport::listener_tls::ListenerTls;

/// Serves `router` on `listener` over TLS until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ListenerTls>,
    router: Router,
    limits: &ListenerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let router = crate::http::browser::guarded(router, local);
    let conns = listener_tls::incoming(listener, tls, limits.https()).map(|(stream, addr)| {
        // As ALPN chose: h2 when the client offered it (we offer both).
        let protocol = match stream.get_ref().1.alpn_protocol() {
            Some(b"h2") => Protocol::Http2,
            _ => Protocol::Http1,
        };
        (stream, addr, protocol)
    });
    super::listen::serve(conns, router, limits.config.http_header_timeout, shutdown).await;
    Ok(())
}
