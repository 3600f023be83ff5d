//! DNS on the client address (8600, UDP and TCP): service, connect, node
//! and addr names under the agent's domain, answered from the catalog.

pub mod answer;
pub mod lookup;
pub mod recurse;
pub mod remote;

use std::sync::Arc;

use hickory_proto::op::Message;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::acl::local::StoreResolver;
use crate::tasks::Tasks;
use crate::transport::accept;

use crate::dns::answer::Zone;
use tessera_store::Store;

/// A UDP answer larger than this is cut (answers dropped, TC bit set), as
/// RFC 1035 asks of servers without EDNS.
const UDP_LIMIT: usize = 512;
/// The largest query taken over TCP; a longer length prefix closes the
/// connection. A question with EDNS options and a TSIG fits in a few
/// hundred bytes; 4 KiB is the UDP receive buffer's size below, so no query
/// is refused over TCP that UDP would take, while a client can no longer
/// make each connection hold 64 KiB.
const TCP_MAX_QUERY: usize = 4096;

/// Answers DNS messages: from the local catalog on servers, through a
/// server on client agents.
pub trait Answerer: Send + Sync + 'static {
    fn answer(&self, query: Vec<u8>) -> futures::future::BoxFuture<'_, Option<Vec<u8>>>;
}

impl<D: Answerer> Answerer for Arc<D> {
    fn answer(&self, query: Vec<u8>) -> futures::future::BoxFuture<'_, Option<Vec<u8>>> {
        self.as_ref().answer(query)
    }
}

/// A server's DNS: answers from its own state machine.
pub struct Dns {
    pub zone: Zone,
    pub store: Arc<Store>,
    /// Lookups run as the agent's default token (Consul's DNS token).
    pub acl: Arc<StoreResolver>,
    /// After `store`: tells a closing store when this answerer lets go of it.
    pub store_release: tessera_store::Release,
}

impl Dns {
    /// The answer as the holder of `token` may see it (none: this agent's
    /// default token, else anonymous). A token that resolves to nothing
    /// gets a refusal.
    pub fn respond(&self, query: &[u8], token: Option<&str>) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let dns_token = self.acl.local_tokens().dns_token();
        let answer = match self.acl.resolve_now(token.or(dns_token.as_deref())) {
            Ok(caller) => self.zone.answer(&self.store.view(), &request, &caller),
            Err(e) => {
                tracing::debug!(error = %e, "dns: the token does not resolve; refused");
                let mut refused = Message::response(request.metadata.id, hickory_proto::op::OpCode::Query);
                refused.metadata.response_code = hickory_proto::op::ResponseCode::Refused;
                refused
            }
        };
        answer.to_vec().ok()
    }
}

impl Answerer for Dns {
    fn answer(&self, query: Vec<u8>) -> futures::future::BoxFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move { self.respond(&query, None) })
    }
}

fn fit_udp(bytes: Vec<u8>) -> Option<Vec<u8>> {
    if bytes.len() <= UDP_LIMIT {
        return Some(bytes);
    }
    let full = Message::from_vec(&bytes).ok()?;
    full.truncate().to_vec().ok()
}

pub async fn serve_udp<D: Answerer>(dns: Arc<D>, socket: UdpSocket, shutdown: CancellationToken) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(r) => r,
                Err(e) => {
                    tracing::debug!(error = %e, "dns: udp receive failed");
                    continue;
                }
            },
        };
        if let Some(reply) = dns.answer(buf[..len].to_vec()).await.and_then(fit_udp) {
            let _ = socket.send_to(&reply, peer).await;
        }
    }
}

/// DNS over TCP until shutdown: connections accepted under `limits` (per
/// client address, with back-off when accept fails), each closed after
/// `idle` without a complete query (zero: never).
pub async fn serve_tcp<D: Answerer>(
    dns: Arc<D>,
    listener: TcpListener,
    limits: accept::Limits,
    idle: std::time::Duration,
    tasks: Tasks,
) {
    use futures::StreamExt;
    let shutdown = tasks.shutdown().clone();
    let conns =
        accept::accepting(listener, "DNS (TCP)", limits, |stream, _| Box::pin(std::future::ready(Some(stream))));
    let mut conns = std::pin::pin!(conns);
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            next = conns.next() => match next {
                Some(stream) => stream,
                None => return,
            },
        };
        let (dns, token) = (dns.clone(), shutdown.clone());
        tasks.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = serve_tcp_connection(dns.as_ref(), stream, idle) => {}
            }
        });
    }
}

/// DNS over TCP: each message behind a two-byte length, several per
/// connection; the next one (prefix and body) must arrive within `idle`.
async fn serve_tcp_connection<D: Answerer>(
    dns: &D,
    mut stream: accept::Accepted,
    idle: std::time::Duration,
) -> std::io::Result<()> {
    loop {
        let read = read_query(&mut stream);
        let query = match idle.is_zero() {
            true => read.await?,
            false => match tokio::time::timeout(idle, read).await {
                Ok(query) => query?,
                Err(_) => return Ok(()),
            },
        };
        let Some(query) = query else { return Ok(()) };
        let Some(reply) = dns.answer(query).await else { return Ok(()) };
        stream.write_u16(reply.len() as u16).await?;
        stream.write_all(&reply).await?;
    }
}

/// The next query, or None when its length is over [`TCP_MAX_QUERY`].
async fn read_query(stream: &mut accept::Accepted) -> std::io::Result<Option<Vec<u8>>> {
    let len = stream.read_u16().await? as usize;
    if len > TCP_MAX_QUERY {
        tracing::debug!(len, "dns: tcp query over the size bound; connection closed");
        return Ok(None);
    }
    let mut query = vec![0u8; len];
    stream.read_exact(&mut query).await?;
    Ok(Some(query))
}
