//! Every gRPC channel and listener of Tessera is made here (servers, client
//! agents, sidecars and Connect-native apps all use it): TLS on the server
//! port ([`tls`]), who a caller is ([`peer`]), and the limits on accepting.

pub mod peer;
pub mod tls;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic::transport::Endpoint;
use tonic::transport::Server;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// HTTP/2 flow-control windows. The 64 KiB default makes a busy Raft stream
/// stop every 64 KiB until the peer's WINDOW_UPDATE arrives.
const WINDOW: u32 = 1 << 30;

/// TLS handshakes in flight on one listener; more connections wait in the
/// kernel's backlog rather than holding memory and a descriptor here.
const MAX_HANDSHAKES: usize = 256;
/// A connection that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// After accept fails (EMFILE), before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// One lazily connected HTTP/2 channel per peer address, shared by every
/// RPC to that peer (tonic multiplexes them); over TLS when `tls` is set.
#[derive(Clone, Default)]
pub struct ChannelPool {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
    tls: Option<Arc<tls::RpcTls>>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid peer address {addr:?}: {reason}")]
pub struct BadAddress {
    pub addr: String,
    pub reason: String,
}

impl ChannelPool {
    /// Channels to the server port: TLS with `tls`, plaintext without (the opt-out).
    pub fn new(tls: Option<Arc<tls::RpcTls>>) -> ChannelPool {
        ChannelPool { channels: Default::default(), tls }
    }

    pub fn tls(&self) -> Option<&Arc<tls::RpcTls>> {
        self.tls.as_ref()
    }

    /// Forgets every channel: the next calls dial anew (after this agent's
    /// certificate changed, so servers see the new one).
    pub fn reconnect(&self) {
        self.channels.lock().expect("channel pool lock").clear();
    }

    pub fn channel(&self, addr: &str) -> Result<Channel, BadAddress> {
        let mut channels = self.channels.lock().expect("channel pool lock");
        if let Some(channel) = channels.get(addr) {
            return Ok(channel.clone());
        }
        let endpoint = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| BadAddress { addr: addr.to_string(), reason: e.to_string() })?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            .initial_connection_window_size(WINDOW)
            .initial_stream_window_size(WINDOW)
            // A peer cut off without a word (no RST, no FIN) is noticed in
            // about four seconds, and calls move on to another server.
            .http2_keep_alive_interval(Duration::from_secs(2))
            .keep_alive_timeout(Duration::from_secs(2))
            .keep_alive_while_idle(true);
        let channel = match &self.tls {
            None => endpoint.connect_lazy(),
            Some(tls) => endpoint.connect_with_connector_lazy(tls_connector(tls.clone())),
        };
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// Dials over TCP, then TLS with the configs of the moment: the server
/// must present `server.<dc>.<domain>` from the trusted CA.
fn tls_connector(
    tls: Arc<tls::RpcTls>,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
    Error = std::io::Error,
    Future = impl std::future::Future<
        Output = std::io::Result<hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>>,
    > + Send,
> + Clone
       + Send
       + 'static {
    tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let tls = tls.clone();
        async move {
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_string();
            let port = uri.port_u16().unwrap_or(8300);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let connector = tokio_rustls::TlsConnector::from(tls.configs().client.clone());
            let stream = connector.connect(tls.server_name(), tcp).await?;
            Ok(hyper_util::rt::TokioIo::new(stream))
        }
    })
}

/// Binds the server RPC listener (Raft and cluster services).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

type Request = tonic::codegen::http::Request<tonic::body::Body>;
type Response = tonic::codegen::http::Response<tonic::body::Body>;

/// The gRPC server builder every listener of the agent starts from.
pub fn server() -> Server {
    Server::builder().tcp_nodelay(true).initial_connection_window_size(WINDOW).initial_stream_window_size(WINDOW)
}

/// Serves `router` on `listener` until `shutdown` is cancelled: TLS
/// connections with `tls` (each request carries its [`peer::PeerInfo`]),
/// plaintext without. `L` is the builder's layer (the agent's request
/// metrics, or none): any that answers as tonic's own routes do.
pub async fn serve<L>(
    router: tonic::transport::server::Router<L>,
    listener: TcpListener,
    tls: Option<Arc<tls::RpcTls>>,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error>
where
    L: tower::Layer<tonic::service::Routes>,
    L::Service: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    <L::Service as tower::Service<Request>>::Future: Send,
{
    router.serve_with_incoming_shutdown(incoming(listener, tls), shutdown.cancelled_owned()).await
}

/// Connections as they finish their handshakes. Handshakes run side by
/// side (a slow one holds up no other), at most [`MAX_HANDSHAKES`] at once,
/// each bounded by [`HANDSHAKE_TIMEOUT`]; a failed one is logged and dropped.
fn incoming(
    listener: TcpListener,
    tls: Option<Arc<tls::RpcTls>>,
) -> impl tokio_stream::Stream<Item = std::io::Result<peer::Conn>> {
    use futures::stream::FuturesUnordered;
    use futures::StreamExt;
    type Handshake = futures::future::BoxFuture<'static, Option<peer::Conn>>;
    let pending: FuturesUnordered<Handshake> = FuturesUnordered::new();
    futures::stream::unfold((listener, tls, pending), |(listener, tls, mut pending)| async move {
        loop {
            tokio::select! {
                Some(done) = pending.next(), if !pending.is_empty() => {
                    if let Some(conn) = done {
                        return Some((Ok(conn), (listener, tls, pending)));
                    }
                }
                accepted = listener.accept(), if pending.len() < MAX_HANDSHAKES => match accepted {
                    Ok((stream, addr)) => {
                        // The builder's tcp_nodelay only applies to listeners tonic
                        // binds itself. Without it a response split into headers,
                        // data and trailers waits out the peer's delayed ACK.
                        let _ = stream.set_nodelay(true);
                        match &tls {
                            None => return Some((Ok(peer::Conn::plain(stream, addr)), (listener, tls, pending))),
                            Some(tls) => pending.push(Box::pin(handshake(tls.clone(), stream, addr))),
                        }
                    }
                    Err(e) => {
                        // Out of descriptors, most likely: back off instead of spinning.
                        tracing::warn!(error = %e, "server port: accept failed");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
            }
        }
    })
}

async fn handshake(tls: Arc<tls::RpcTls>, stream: tokio::net::TcpStream, addr: SocketAddr) -> Option<peer::Conn> {
    let Some(config) = tls.configs().server.clone() else {
        tracing::warn!("server port: TLS without a server certificate; connection dropped");
        return None;
    };
    let accept = tokio_rustls::TlsAcceptor::from(config).accept(stream);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, accept).await {
        Ok(Ok(stream)) => Some(peer::Conn::tls(stream, addr, tls.names())),
        Ok(Err(e)) => {
            tracing::info!(peer = %addr, error = %e, "server port: TLS handshake refused");
            None
        }
        Err(_) => {
            tracing::info!(peer = %addr, "server port: TLS handshake timed out");
            None
        }
    }
}

/// What a server-streaming RPC returns when a task produces its messages.
pub type TaskStream<T> = std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<T, tonic::Status>> + Send>>;

/// Runs `produce` as a task on `tasks` feeding the stream through a small
/// channel; the task sees the channel close when the client goes away.
pub fn task_stream<T, F, Fut>(tasks: &tokio_util::task::TaskTracker, produce: F) -> TaskStream<T>
where
    T: Send + 'static,
    F: FnOnce(tokio::sync::mpsc::Sender<Result<T, tonic::Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tasks.spawn(produce(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// Sends `item` on a task stream unless `stop` comes first: a client that
/// stops reading must not hold a stopping agent. False if it was not sent.
pub async fn send_or_stop<T>(
    tx: &tokio::sync::mpsc::Sender<Result<T, tonic::Status>>,
    item: Result<T, tonic::Status>,
    stop: &CancellationToken,
) -> bool {
    tokio::select! {
        _ = stop.cancelled() => false,
        sent = tx.send(item) => sent.is_ok(),
    }
}
