//! Every gRPC channel and listener of Tessera is made here (servers, client
//! agents, sidecars and Connect-native apps all use it), so that TLS between
//! them can be switched on in one place.

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

/// One lazily connected HTTP/2 channel per peer address, shared by every
/// RPC to that peer (tonic multiplexes them).
#[derive(Clone, Default)]
pub struct ChannelPool {
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid peer address {addr:?}: {reason}")]
pub struct BadAddress {
    pub addr: String,
    pub reason: String,
}

impl ChannelPool {
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
        let channel = endpoint.connect_lazy();
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
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

/// Serves `router` on `listener` until `shutdown` is cancelled. `L` is the
/// builder's layer (the agent's request metrics, or none): any that answers
/// as tonic's own routes do.
pub async fn serve<L>(
    router: tonic::transport::server::Router<L>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), tonic::transport::Error>
where
    L: tower::Layer<tonic::service::Routes>,
    L::Service: tower::Service<Request, Response = Response, Error = std::convert::Infallible> + Clone + Send + 'static,
    <L::Service as tower::Service<Request>>::Future: Send,
{
    use tokio_stream::StreamExt;
    // The builder's tcp_nodelay only applies to listeners tonic binds
    // itself. Without it a response split into headers, data and trailers
    // waits out the peer's delayed ACK (~40 ms) under Nagle.
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            let _ = stream.set_nodelay(true);
        })
    });
    router.serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned()).await
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
