//! Client agent mode: no Raft and no store. The agent owns this host's
//! services and checks and reaches the servers over gRPC ([`pool`]):
//! anti-entropy pushes this node's state ([`RemoteSink`]), leaves are signed
//! by the leader ([`RemoteLeafSigner`]), heartbeats keep the node alive, the
//! CA roots and intentions stream in ([`feed`]) and identical blocking
//! queries share one call ([`coalesce`]). Its HTTP API is `http::client`,
//! its DNS `dns::remote`; `start::client` wires them.

pub mod acl;
pub mod auto_encrypt;
pub mod coalesce;
pub mod feed;
pub mod pool;

use std::sync::Arc;
use std::time::Duration;

use tessera_store::command::Command;
use tokio_util::sync::CancellationToken;

use crate::agent::CatalogSink;
use crate::client_agent::pool::ServerPool;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
const LEARN_PEERS_EVERY: Duration = Duration::from_secs(10);

/// Anti-entropy through a server.
pub struct RemoteSink {
    pub servers: Arc<ServerPool>,
    pub node: String,
}

impl CatalogSink for RemoteSink {
    fn write(&self, command: Command) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(
            async move { self.servers.sync(&self.node, command.encode()).await.map_err(|s| s.message().to_string()) },
        )
    }
}

/// Leaf signing through a server, which checks that this node has the service.
pub struct RemoteLeafSigner {
    pub servers: Arc<ServerPool>,
    pub node: String,
}

impl crate::agent::connect::LeafSigner for RemoteLeafSigner {
    fn sign(
        &self,
        csr_pem: String,
    ) -> futures::future::BoxFuture<'_, Result<tessera_proto::v1::SignLeafResponse, crate::agent::connect::SignError>>
    {
        use crate::agent::connect::SignError;
        Box::pin(async move {
            let signed = self.servers.sign_leaf(&self.node, csr_pem).await;
            signed.map_err(|status| SignError::from(crate::consensus::ServerError::from(status)))
        })
    }
}

/// Tells the leader every second that this node is alive.
pub async fn heartbeats(servers: Arc<ServerPool>, node: String, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(HEARTBEAT_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        if let Err(status) = servers.heartbeat(&node).await {
            tracing::debug!(error = %status.message(), "heartbeat not delivered");
        }
    }
}

/// Learns every server from the Raft peers, so losing the -retry-join
/// server does not cut this agent off. Asks every second until it has an
/// answer, then every ten.
pub async fn learn_peers(servers: Arc<ServerPool>, shutdown: CancellationToken) {
    let mut learned = false;
    loop {
        let pause = if learned { LEARN_PEERS_EVERY } else { Duration::from_secs(1) };
        if let Ok(answer) = servers.forward("GET", "/v1/status/peers?stale", Vec::new(), None).await {
            if let Ok(peers) = serde_json::from_slice::<Vec<String>>(&answer.body) {
                learned = !peers.is_empty();
                servers.learn(peers);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}
