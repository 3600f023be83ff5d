//! auto_encrypt on a client agent: with only the CA, it makes a key here,
//! has a server sign a certificate for its node's agent identity, and
//! presents it from then on; renewed at half its life. Until it has one,
//! its calls to servers are refused (they need a client certificate).

use std::sync::Arc;
use std::time::Duration;

use tessera_mesh::connect::csr::agent_request;
use tessera_proto::transport::tls::RpcTls;
use tokio_util::sync::CancellationToken;

use crate::client_agent::pool::ServerPool;

pub struct AutoEncrypt {
    pub servers: Arc<ServerPool>,
    pub tls: Arc<RpcTls>,
    pub node: String,
    pub datacenter: String,
    /// Between failed attempts.
    pub retry: Duration,
}

impl AutoEncrypt {
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            let wait = match self.renew().await {
                Ok(valid_for) => valid_for / 2,
                Err(e) => {
                    tracing::warn!(error = %e, "auto_encrypt: no certificate yet; retrying");
                    self.retry
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One certificate: a fresh key, signed; returns how long it is valid.
    async fn renew(&self) -> Result<Duration, String> {
        let request = agent_request(&self.node).map_err(|e| e.to_string())?;
        let signed = self
            .servers
            .auto_encrypt(&self.node, &self.datacenter, request.csr_pem)
            .await
            .map_err(|s| s.message().to_string())?;
        self.tls.set_identity(&signed.cert_pem, &request.key_pem).map_err(|e| e.to_string())?;
        self.servers.reconnect();
        let now = crate::connect::ca::unix_now();
        let valid_for = Duration::from_secs(signed.valid_before.saturating_sub(now).max(60));
        tracing::info!(node = %self.node, valid_for = ?valid_for, "auto_encrypt: got this agent's certificate");
        Ok(valid_for)
    }
}
