//! The servers a client agent talks to: its -retry-join addresses plus the
//! peers it learns, tried in turn when one does not answer.

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::sync::RwLock;
use std::time::Duration;

use tessera_proto::v1::agent_api_client::AgentApiClient;
use tessera_proto::v1::AgentWrite;
use tessera_proto::v1::ConnectUpdate;
use tessera_proto::v1::DnsMessage;
use tessera_proto::v1::HeartbeatRequest;
use tessera_proto::v1::HttpRequest;
use tessera_proto::v1::HttpResponse;
use tessera_proto::v1::ResolveTokenRequest;
use tessera_proto::v1::ResolveTokenResponse;
use tessera_proto::v1::SignLeafRequest;
use tessera_proto::v1::SignLeafResponse;
use tessera_proto::v1::WatchConnectRequest;
use tonic::transport::Channel;
use tonic::Status;
use tonic::Streaming;

use crate::acl::tokens::LocalTokens;
use crate::transport::ChannelPool;

/// Longer than the longest blocking query (10 minutes plus jitter).
const FORWARD_TIMEOUT: Duration = Duration::from_secs(11 * 60);
const SHORT_TIMEOUT: Duration = Duration::from_secs(5);
/// A request waits on its token: with servers away, down_policy should
/// decide after a few seconds, not after 5 s per known server.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct ServerPool {
    channels: ChannelPool,
    servers: Mutex<Vec<String>>,
    /// The server that answered last; tried first next time.
    preferred: AtomicUsize,
    /// The agent's tokens: `agent` (else `default`) is presented on its
    /// own calls (sync, leaves, auto_encrypt).
    tokens: RwLock<Option<LocalTokens>>,
    /// This agent as the client of exactly-once writes, and its last call
    /// number: a write forwarded again to another server after no answer
    /// is the same call, applied once.
    once_client: u64,
    once_seq: std::sync::atomic::AtomicU64,
}

fn retriable(status: &Status) -> bool {
    crate::consensus::error::is_transient(status.code())
}

fn request<T>(message: T, timeout: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(timeout);
    request
}

impl ServerPool {
    /// The servers at `servers`, reached over `channels` (TLS or the opt-out).
    pub fn new(servers: Vec<String>, channels: ChannelPool) -> ServerPool {
        ServerPool {
            channels,
            servers: Mutex::new(servers),
            preferred: AtomicUsize::new(0),
            tokens: RwLock::new(None),
            once_client: rand::random::<u64>().max(1),
            once_seq: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn set_tokens(&self, tokens: LocalTokens) {
        *self.tokens.write().expect("agent tokens lock") = Some(tokens);
    }

    fn agent_call<T>(&self, message: T, timeout: Duration) -> tonic::Request<T> {
        let token = self.tokens.read().expect("agent tokens lock").as_ref().and_then(LocalTokens::agent_token);
        crate::transport::with_token(request(message, timeout), token.as_deref())
    }

    /// The server addresses known now.
    pub fn known(&self) -> Vec<String> {
        self.servers.lock().expect("server pool lock").clone()
    }

    /// `agent/join` on a client agent: `addr` must be a server of this
    /// datacenter that answers; it is then one of the servers used.
    pub async fn join(&self, addr: &str, datacenter: &str) -> Result<(), String> {
        let timeout = Duration::from_secs(3);
        let peer = crate::consensus::forward::status(&self.channels, addr, timeout)
            .await
            .map_err(|e| format!("Failed to join {addr}: {}", e.message()))?;
        let dc = peer.server.map(|s| s.datacenter).unwrap_or_default();
        if dc != datacenter {
            return Err(format!("Failed to join {addr}: it is in datacenter {dc:?}, this agent in {datacenter:?}"));
        }
        self.learn([addr.to_string()]);
        Ok(())
    }

    /// Adds servers learnt from the cluster (the Raft peers).
    pub fn learn(&self, addrs: impl IntoIterator<Item = String>) {
        let mut servers = self.servers.lock().expect("server pool lock");
        let before = servers.len();
        for addr in addrs {
            if !servers.contains(&addr) {
                servers.push(addr);
            }
        }
        if servers.len() > before {
            tracing::info!(servers = ?*servers, "learned servers");
        }
    }

    /// Runs `call` on the preferred server, then on each other one while
    /// they fail to answer.
    async fn with_server<T, F, Fut>(&self, call: F) -> Result<T, Status>
    where
        F: Fn(AgentApiClient<Channel>) -> Fut,
        Fut: Future<Output = Result<T, Status>>,
    {
        let servers = self.servers.lock().expect("server pool lock").clone();
        let start = self.preferred.load(Ordering::Relaxed);
        let mut last = Status::unavailable("no servers known (give -retry-join)");
        for i in 0..servers.len() {
            let at = (start + i) % servers.len();
            let channel = match self.channels.channel(&servers[at]) {
                Ok(channel) => channel,
                Err(e) => {
                    last = Status::invalid_argument(e.to_string());
                    continue;
                }
            };
            match call(AgentApiClient::new(channel).max_decoding_message_size(64 << 20)).await {
                Ok(value) => {
                    self.preferred.store(at, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(status) if retriable(&status) => last = status,
                Err(status) => return Err(status),
            }
        }
        Err(last)
    }

    /// One HTTP API call on a server, as the caller presenting `token`.
    pub async fn forward(
        &self,
        method: &str,
        path_and_query: &str,
        body: Vec<u8>,
        token: Option<&str>,
    ) -> Result<HttpResponse, Status> {
        // Reads need no number; every other call is numbered once, here,
        // not per attempt.
        let once_seq = match method {
            "GET" | "HEAD" => 0,
            _ => self.once_seq.fetch_add(1, Ordering::Relaxed) + 1,
        };
        let once_client = if once_seq == 0 { 0 } else { self.once_client };
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let answer = self
            .with_server(|mut client| {
                attempts.fetch_add(1, Ordering::Relaxed);
                let message = HttpRequest {
                    method: method.to_string(),
                    path_and_query: path_and_query.to_string(),
                    body: body.clone(),
                    token: token.unwrap_or_default().to_string(),
                    once_client,
                    once_seq,
                };
                async move { Ok(client.forward(request(message, FORWARD_TIMEOUT)).await?.into_inner()) }
            })
            .await?;
        let retried = attempts.load(Ordering::Relaxed) > 1;
        match (answer.status, retried && once_seq != 0) {
            (507, true) => {
                let body = crate::consensus::error::refusal_after_unanswered(&String::from_utf8_lossy(&answer.body));
                Ok(HttpResponse { status: 500, headers: Default::default(), body: body.into_bytes() })
            }
            _ => Ok(answer),
        }
    }

    pub async fn dns(&self, data: Vec<u8>, token: Option<&str>) -> Option<Vec<u8>> {
        let answer = self
            .with_server(|mut client| {
                let message = DnsMessage { data: data.clone() };
                let call = crate::transport::with_token(request(message, SHORT_TIMEOUT), token);
                async move { Ok(client.dns(call).await?.into_inner().data) }
            })
            .await;
        answer.ok()
    }

    pub async fn heartbeat(&self, node: &str) -> Result<(), Status> {
        self.with_server(|mut client| {
            let message = HeartbeatRequest { node: node.to_string() };
            async move { client.heartbeat(request(message, SHORT_TIMEOUT)).await.map(|_| ()) }
        })
        .await
    }

    pub async fn sync(&self, node: &str, command: Vec<u8>) -> Result<(), Status> {
        self.with_server(|mut client| {
            let message = AgentWrite { node: node.to_string(), command: command.clone() };
            let call = self.agent_call(message, FORWARD_TIMEOUT);
            async move { client.sync(call).await.map(|_| ()) }
        })
        .await
    }

    pub async fn sign_leaf(&self, node: &str, csr_pem: String) -> Result<SignLeafResponse, Status> {
        self.with_server(|mut client| {
            let message = SignLeafRequest { csr_pem: csr_pem.clone(), caller_node: node.to_string() };
            let call = self.agent_call(message, SHORT_TIMEOUT * 2);
            async move { Ok(client.sign_leaf(call).await?.into_inner()) }
        })
        .await
    }

    /// auto_encrypt: a certificate for this agent's own key (its CSR).
    pub async fn auto_encrypt(
        &self,
        node: &str,
        datacenter: &str,
        csr_pem: String,
    ) -> Result<tessera_proto::v1::AutoEncryptResponse, Status> {
        self.with_server(|mut client| {
            let message = tessera_proto::v1::AutoEncryptRequest {
                node: node.to_string(),
                datacenter: datacenter.to_string(),
                csr_pem: csr_pem.clone(),
            };
            let call = self.agent_call(message, SHORT_TIMEOUT * 2);
            async move { Ok(client.auto_encrypt(call).await?.into_inner()) }
        })
        .await
    }

    /// A token's rules, as a server resolves them.
    pub async fn resolve_token(&self, secret: &str) -> Result<ResolveTokenResponse, Status> {
        self.with_server(|mut client| {
            let message = ResolveTokenRequest { secret: secret.to_string() };
            async move { Ok(client.resolve_token(request(message, RESOLVE_TIMEOUT)).await?.into_inner()) }
        })
        .await
    }

    /// Drops open connections to servers: the next calls present this
    /// agent's current certificate.
    pub fn reconnect(&self) {
        self.channels.reconnect();
    }

    /// Opens the roots-and-intentions stream on the first server that answers.
    pub async fn watch_connect(&self, message: WatchConnectRequest) -> Result<Streaming<ConnectUpdate>, Status> {
        self.with_server(|mut client| {
            let message = message.clone();
            async move { Ok(client.watch_connect(message).await?.into_inner()) }
        })
        .await
    }
}
