//! Every gRPC channel and listener of Tessera is made here (servers, client
//! agents, sidecars and Connect-native apps all use it): TLS on the server
//! port ([`tls`]), on the listeners agents serve their clients on
//! ([`listener_tls`]: HTTPS, gRPC TLS), who a caller is ([`peer`]), and the
//! limits on accepting ([`accept`], [`conn_limit`]) and on what one HTTP/2
//! connection may hold (below).

pub mod accept;
pub mod conn_limit;
pub mod listener_tls;
pub mod peer;
pub mod tls;
pub mod verifiers;

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

/// HTTP/2 flow control: how much a peer may send on one stream before this
/// end has consumed it. The 64 KiB default makes a busy Raft stream stop
/// every 64 KiB until the peer's WINDOW_UPDATE arrives. 8 MiB is a whole
/// openraft snapshot chunk (3 MiB, JSON-encoded) or a large batch of
/// AppendEntries in one round trip, and covers the bandwidth-delay product
/// of 1 Gbit/s at 64 ms (10 Gbit/s at 6 ms): more buys Raft nothing, while
/// it is memory a peer can make this end hold per stream (it was 1 GiB).
pub const STREAM_WINDOW: u32 = 8 << 20;
/// The same for a whole connection: four streams at full window at once
/// (Raft replication, a snapshot, forwarded writes), and the most one
/// connection can make this end buffer, unread; with
/// `rpc_max_conns_per_client` (100) that bounds one address on the server
/// port to about 3 GiB in the worst case, against 100 GiB with 1 GiB windows.
pub const CONNECTION_WINDOW: u32 = 32 << 20;
/// Concurrent streams one client may open on one connection to a gRPC
/// listener of the agent. A client agent sends every forwarded request of
/// its HTTP API (blocking queries included, each a stream held for up to
/// its ?wait, 10 min at most) through one channel per server, so this must
/// stay well above what one client agent has in flight: its own HTTP API
/// admits 200 connections per client address (`http_max_conns_per_client`),
/// i.e. 200 blocking queries from its local apps on loopback; 1024 leaves
/// five times that. Raft uses a handful of streams per peer. Past the
/// limit a client's new calls wait for a stream to end (they are not
/// refused), and an unbounded number no longer costs this end memory.
pub const MAX_CONCURRENT_STREAMS: u32 = 1024;

/// The gRPC metadata key a call's ACL token travels in (Consul's, as its
/// Envoy integration sends it).
pub const TOKEN_METADATA: &str = "x-consul-token";

/// Puts `token` on a call (nothing when none or not a valid header value:
/// the callee then sees no token and falls back to anonymous).
pub fn with_token<T>(mut request: tonic::Request<T>, token: Option<&str>) -> tonic::Request<T> {
    if let Some(value) = token.filter(|t| !t.is_empty()).and_then(|t| t.parse().ok()) {
        request.metadata_mut().insert(TOKEN_METADATA, value);
    }
    request
}
/// A peer that stops answering HTTP/2 PINGs is dropped after about
/// interval + timeout (as the channels below do): a half-open connection
/// does not keep its streams, slot and descriptor forever.
const SERVER_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
const SERVER_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

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
        let endpoint = endpoint(addr)?;
        let channel = match &self.tls {
            None => endpoint.connect_lazy(),
            Some(tls) => {
                let tls = tls.clone();
                endpoint.connect_with_connector_lazy(tls_connector(move || {
                    (tls.configs().client.clone(), tls.server_name())
                }))
            }
        };
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

/// A channel to an agent's gRPC TLS port (`grpc_tls`), for a sidecar: the
/// agent's certificate is checked as `config` says, for `server_name`.
pub fn tls_channel(
    addr: &str,
    config: Arc<rustls::ClientConfig>,
    server_name: rustls_pki_types::ServerName<'static>,
) -> Result<Channel, BadAddress> {
    Ok(endpoint(addr)?.connect_with_connector_lazy(tls_connector(move || (config.clone(), server_name.clone()))))
}

fn endpoint(addr: &str) -> Result<Endpoint, BadAddress> {
    Ok(Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| BadAddress { addr: addr.to_string(), reason: e.to_string() })?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_stream_window_size(STREAM_WINDOW)
        // A peer cut off without a word (no RST, no FIN) is noticed in
        // about four seconds, and calls move on to another server.
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(2))
        .keep_alive_while_idle(true))
}

type TlsIo = hyper_util::rt::TokioIo<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// Dials over TCP, then TLS with what `dial` gives at that moment (the
/// server port's configs change on reload): the client config and the name
/// the peer's certificate must carry.
fn tls_connector<D>(
    dial: D,
) -> impl tower::Service<
    tonic::codegen::http::Uri,
    Response = TlsIo,
    Error = std::io::Error,
    Future = impl std::future::Future<Output = std::io::Result<TlsIo>> + Send,
> + Clone
       + Send
       + 'static
where
    D: Fn() -> (Arc<rustls::ClientConfig>, rustls_pki_types::ServerName<'static>) + Clone + Send + Sync + 'static,
{
    tower::service_fn(move |uri: tonic::codegen::http::Uri| {
        let (config, server_name) = dial();
        async move {
            let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_string();
            let port = uri.port_u16().unwrap_or(8300);
            let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            let _ = tcp.set_nodelay(true);
            let stream = tokio_rustls::TlsConnector::from(config).connect(server_name, tcp).await?;
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
    Server::builder()
        .tcp_nodelay(true)
        .initial_connection_window_size(CONNECTION_WINDOW)
        .initial_stream_window_size(STREAM_WINDOW)
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .http2_keepalive_interval(Some(SERVER_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(SERVER_KEEPALIVE_TIMEOUT))
}

/// Serves `router` on `listener` until `shutdown` is cancelled: TLS
/// connections with `tls` (each request carries its [`peer::PeerInfo`]),
/// plaintext without, accepted under `limits`. `L` is the builder's layer
/// (the agent's request metrics, or none): any that answers as tonic's own
/// routes do.
pub async fn serve<L>(
    router: tonic::transport::server::Router<L>,
    listener: TcpListener,
    tls: Option<Arc<tls::RpcTls>>,
    limits: accept::Limits,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error>
where
    L: tower::Layer<tonic::service::Routes>,
    L::Service: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    <L::Service as tower::Service<Request>>::Future: Send,
{
    router.serve_with_incoming_shutdown(incoming(listener, tls, limits), shutdown.cancelled_owned()).await
}

/// Serves `router` over TLS on a listener of the agent's own (`grpc_tls`)
/// until `shutdown` is cancelled; as [`serve`] otherwise.
pub async fn serve_listener_tls<L>(
    router: tonic::transport::server::Router<L>,
    listener: TcpListener,
    tls: Arc<listener_tls::ListenerTls>,
    limits: accept::Limits,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error>
where
    L: tower::Layer<tonic::service::Routes>,
    L::Service: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    <L::Service as tower::Service<Request>>::Future: Send,
{
    use futures::StreamExt;
    let conns = listener_tls::incoming(listener, tls, limits)
        .map(|(stream, addr)| Ok::<_, std::io::Error>(peer::Conn::agent_tls(stream, addr)));
    router.serve_with_incoming_shutdown(conns, shutdown.cancelled_owned()).await
}

/// The server port's connections as they finish their handshakes (see
/// [`accept::accepting`]): TLS with `tls`, plaintext without.
fn incoming(
    listener: TcpListener,
    tls: Option<Arc<tls::RpcTls>>,
    limits: accept::Limits,
) -> impl tokio_stream::Stream<Item = std::io::Result<peer::Conn>> {
    use futures::StreamExt;
    let what = limits.per_address.what();
    accept::accepting(listener, what, limits, move |stream, addr| -> accept::Handshake<peer::Conn> {
        match &tls {
            None => Box::pin(std::future::ready(Some(peer::Conn::plain(stream, addr)))),
            Some(tls) => Box::pin(handshake(what, tls.clone(), stream, addr)),
        }
    })
    .map(Ok)
}

async fn handshake(
    what: &'static str,
    tls: Arc<tls::RpcTls>,
    stream: accept::Accepted,
    addr: SocketAddr,
) -> Option<peer::Conn> {
    let Some(config) = tls.configs().server.clone() else {
        tracing::warn!("{what}: TLS without a server certificate; connection dropped");
        return None;
    };
    match tokio_rustls::TlsAcceptor::from(config).accept(stream).await {
        Ok(stream) => Some(peer::Conn::tls(stream, addr, tls.names())),
        Err(e) => {
            tracing::info!(peer = %addr, error = %e, "{what}: TLS handshake refused");
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
