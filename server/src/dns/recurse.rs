//! Names outside the agent's zone go to the configured recursors, as
//! Consul's `recursors` do: each asked in turn (or in random order) until
//! one answers NOERROR or NXDOMAIN; SERVFAIL when none does. A reverse name
//! the catalog does not know goes to them too. Without recursors the zone
//! answers everything (REFUSED outside it). The RA bit of every answer says
//! whether this agent recurses.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::Message;
use hickory_proto::op::MessageType;
use hickory_proto::op::OpCode;
use hickory_proto::op::ResponseCode;
use rand::seq::SliceRandom;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::net::UdpSocket;

use crate::config::DnsConfig;
use crate::dns::lookup;
use crate::dns::Answerer;

/// The largest answer read from a recursor over UDP (EDNS sizes included).
const UDP_READ_LIMIT: usize = 4096;

pub struct Recursing<D> {
    zone: D,
    domain: String,
    recursors: Vec<SocketAddr>,
    random: bool,
    timeout: Duration,
}

impl<D: Answerer> Recursing<D> {
    pub fn new(zone: D, domain: &str, config: &DnsConfig) -> Self {
        Recursing {
            zone,
            domain: domain.to_string(),
            recursors: config.recursors.clone(),
            random: config.recursor_random,
            timeout: config.recursor_timeout,
        }
    }

    async fn respond(&self, query: Vec<u8>) -> Option<Vec<u8>> {
        let name = Message::from_vec(&query).ok().and_then(|m| m.queries.first().map(|q| q.name().to_ascii()));
        let Some(name) = name.filter(|_| !self.recursors.is_empty()) else {
            return self.zone.answer(query).await.map(|a| with_recursion_available(a, !self.recursors.is_empty()));
        };
        if !lookup::in_zone(&name, &self.domain) {
            return Some(self.recurse(&query).await);
        }
        let answer = self.zone.answer(query.clone()).await?;
        let unknown_reverse = name.trim_end_matches('.').ends_with("arpa") && rcode(&answer) == Some(3);
        match unknown_reverse {
            true => Some(self.recurse(&query).await),
            false => Some(with_recursion_available(answer, true)),
        }
    }

    async fn recurse(&self, query: &[u8]) -> Vec<u8> {
        let mut order = self.recursors.clone();
        if self.random {
            order.shuffle(&mut rand::thread_rng());
        }
        for recursor in order {
            match exchange(recursor, query, self.timeout).await {
                Ok(answer) if matches!(rcode(&answer), Some(0 | 3)) => return answer,
                Ok(answer) => tracing::debug!(%recursor, rcode = ?rcode(&answer), "dns: recursor failed the query"),
                Err(e) => tracing::debug!(%recursor, error = %e, "dns: recursor did not answer"),
            }
        }
        tracing::warn!("dns: all recursors failed the query");
        server_failure(query)
    }
}

impl<D: Answerer> Answerer for Recursing<D> {
    fn answer(&self, query: Vec<u8>) -> futures::future::BoxFuture<'_, Option<Vec<u8>>> {
        Box::pin(self.respond(query))
    }
}

/// One query to one recursor: over UDP, again over TCP if the answer was
/// cut; the answer must carry the query's id.
async fn exchange(recursor: SocketAddr, query: &[u8], timeout: Duration) -> std::io::Result<Vec<u8>> {
    let answer = tokio::time::timeout(timeout, exchange_udp(recursor, query))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out"))??;
    if !truncated(&answer) {
        return Ok(answer);
    }
    tokio::time::timeout(timeout, exchange_tcp(recursor, query))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out over TCP"))?
}

async fn exchange_udp(recursor: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match recursor {
        SocketAddr::V4(_) => "0.0.0.0:0".parse().expect("literal"),
        SocketAddr::V6(_) => "[::]:0".parse().expect("literal"),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(recursor).await?;
    socket.send(query).await?;
    let mut buf = vec![0u8; UDP_READ_LIMIT];
    loop {
        let len = socket.recv(&mut buf).await?;
        // A stray datagram with another id is not the answer.
        if len >= 12 && buf[..2] == query[..2] {
            return Ok(buf[..len].to_vec());
        }
    }
}

async fn exchange_tcp(recursor: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(recursor).await?;
    stream.write_u16(query.len() as u16).await?;
    stream.write_all(query).await?;
    let len = stream.read_u16().await? as usize;
    let mut answer = vec![0u8; len];
    stream.read_exact(&mut answer).await?;
    Ok(answer)
}

/// The header's RCODE (the low 4 bits of byte 3).
fn rcode(message: &[u8]) -> Option<u8> {
    message.get(3).map(|b| b & 0x0f)
}

fn truncated(message: &[u8]) -> bool {
    message.get(2).is_some_and(|b| b & 0x02 != 0)
}

fn with_recursion_available(mut message: Vec<u8>, available: bool) -> Vec<u8> {
    if let Some(flags) = message.get_mut(3) {
        *flags = if available { *flags | 0x80 } else { *flags & !0x80 };
    }
    message
}

fn server_failure(query: &[u8]) -> Vec<u8> {
    let request = Message::from_vec(query).ok();
    let id = request.as_ref().map_or(0, |r| r.metadata.id);
    let mut response = Message::response(id, OpCode::Query);
    response.metadata.message_type = MessageType::Response;
    response.metadata.recursion_available = true;
    response.metadata.response_code = ResponseCode::ServFail;
    if let Some(request) = request {
        response.metadata.recursion_desired = request.metadata.recursion_desired;
        response.queries.extend(request.queries.first().cloned());
    }
    response.to_vec().unwrap_or_default()
}
