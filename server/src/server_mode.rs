//! Server mode's side of the agent: a server's own agent writes, signs and
//! follows the store in-process, through this server, where a client agent
//! would go over gRPC (`client_agent`).

use std::sync::Arc;
use std::sync::Weak;

use tessera_proto::v1::WatchConnectRequest;
use tessera_store::command::Command;
use tessera_store::Table;
use tokio_util::sync::CancellationToken;

use crate::agent::connect::feed::apply;
use crate::agent::connect::AgentConnect;
use crate::connect::ca::SigningState;
use crate::consensus::Server;

/// The agent's catalog writes on a server go through this server's own
/// write path (forwarded to the leader like any other). Weak, so the agent
/// does not keep the server (and its store) alive at shutdown.
pub struct LocalCatalogSink(pub Weak<Server>);

impl crate::agent::CatalogSink for LocalCatalogSink {
    fn write(&self, command: Command) -> futures::future::BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            let server = self.0.upgrade().ok_or_else(|| "the server is shutting down".to_string())?;
            server.write(command).await.map(|_| ()).map_err(|e| e.to_string())
        })
    }
}

/// The agent's leaf signing on a server: this server's CA path (forwarded
/// to the leader like any other server's). A server's own agent may ask for
/// any identity: it holds the CA key anyway.
pub struct LocalLeafSigner(pub Weak<Server>, pub Arc<SigningState>);

impl crate::agent::connect::LeafSigner for LocalLeafSigner {
    fn sign(
        &self,
        csr_pem: String,
    ) -> futures::future::BoxFuture<'_, Result<tessera_proto::v1::SignLeafResponse, crate::agent::connect::SignError>>
    {
        use crate::agent::connect::SignError;
        Box::pin(async move {
            let server =
                self.0.upgrade().ok_or_else(|| SignError::Unavailable("the server is shutting down".into()))?;
            Ok(crate::connect::ca::sign(&server, &self.1, &csr_pem, None).await?)
        })
    }
}

/// Server mode: whenever the store's tables move, what a WatchConnect
/// stream from this server would send, applied in place.
pub async fn from_store(server: Weak<Server>, connect: Arc<AgentConnect>, shutdown: CancellationToken) {
    let Some(subscriptions) =
        server.upgrade().map(|s| (s.store.subscribe(Table::Roots), s.store.subscribe(Table::Intentions)))
    else {
        return;
    };
    let (mut roots, mut intentions) = subscriptions;
    let mut held = WatchConnectRequest::default();
    loop {
        let Some(server) = server.upgrade() else { return };
        match crate::connect::update::connect_update(&server, &mut held) {
            Ok(update) => apply(&connect, update),
            Err(e) => tracing::warn!(error = %e, "cannot read the CA roots or intentions"),
        }
        drop(server);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = roots.changed() => if changed.is_err() { return },
            changed = intentions.changed() => if changed.is_err() { return },
        }
    }
}
