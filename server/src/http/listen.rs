//! Serving the HTTP API's router on connections that were accepted (and,
//! for HTTPS, handshaken) under the listener's limits, with hyper built
//! here rather than by `axum::serve`, which offers no header timeout:
//! request headers must arrive within the header timeout, and HTTP/2
//! connections get a bound on concurrent streams and PINGs that find dead
//! peers. Which protocol a connection speaks is decided, not sniffed: the
//! plain port is HTTP/1.1 (as Consul's, Go serving no h2c), HTTPS is what
//! ALPN chose. (hyper's auto builder sniffs the first bytes before any
//! timeout runs, so a client that sends nothing would be held forever.)
//! At shutdown every connection is closed gracefully (in-flight requests
//! answered, blocking queries answer at once) and awaited, as
//! `axum::serve`'s graceful shutdown did.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use futures::Stream;
use futures::StreamExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioExecutor;
use hyper_util::rt::TokioIo;
use hyper_util::rt::TokioTimer;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncRead;
use tokio::io::AsyncWrite;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

/// Concurrent requests on one HTTP/2 connection to the API: hyper's own
/// default, said here; a client wanting more opens connections, which
/// `http_max_conns_per_client` counts.
const H2_MAX_CONCURRENT_STREAMS: u32 = 200;
/// PING an HTTP/2 client idle this long; drop it when the answer takes
/// longer than the timeout (a peer gone without a FIN).
const H2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
const H2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http1,
    Http2,
}

/// Serves `router` on each connection `conns` yields until `shutdown` is
/// cancelled, then closes them gracefully and waits for them.
pub async fn serve<S, I>(conns: S, router: Router, header_timeout: Duration, shutdown: CancellationToken)
where
    S: Stream<Item = (I, SocketAddr, Protocol)> + Send,
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let header_timeout = (!header_timeout.is_zero()).then_some(header_timeout);
    let open = TaskTracker::new();
    let mut conns = std::pin::pin!(conns);
    loop {
        let (io, peer, protocol) = tokio::select! {
            _ = shutdown.cancelled() => break,
            next = conns.next() => match next {
                Some(conn) => conn,
                // The accept loops never end by themselves.
                None => break,
            },
        };
        let to_body: ToBody = |req| req.map(axum::body::Body::new);
        let service = TowerToHyperService::new(router.clone().map_request(to_body));
        let (io, shutdown) = (TokioIo::new(io), shutdown.clone());
        open.spawn(async move {
            let result = match protocol {
                Protocol::Http1 => http1(io, service, header_timeout, shutdown).await,
                Protocol::Http2 => http2(io, service, shutdown).await,
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
    open.close();
    open.wait().await;
}

type ToBody = fn(axum::http::Request<Incoming>) -> axum::http::Request<axum::body::Body>;
type Service = TowerToHyperService<tower::util::MapRequest<Router, ToBody>>;

async fn http1<I>(
    io: TokioIo<I>,
    service: Service,
    header_timeout: Option<Duration>,
    shutdown: CancellationToken,
) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(header_timeout);
    let conn = builder.serve_connection(io, service).with_upgrades();
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}

async fn http2<I>(io: TokioIo<I>, service: Service, shutdown: CancellationToken) -> hyper::Result<()>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(H2_MAX_CONCURRENT_STREAMS)
        .keep_alive_interval(H2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEPALIVE_TIMEOUT);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => result,
        _ = shutdown.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    }
}
