//! H2PING checks: an HTTP/2 connection (TLS with ALPN h2, or h2c with prior
//! knowledge) and one PING on it; the ack is passing, anything else
//! critical. Consul's messages.

use std::time::Duration;

use tessera_mesh::catalog::definition::CheckTls;
use tessera_mesh::catalog::CheckStatus;

use super::alongside;
use super::tls;
use super::tls::TlsDialer;
use super::Outcome;

#[derive(Clone)]
pub struct H2PingProbe {
    address: String,
    /// None: h2c. Some(Err): why TLS cannot be set up.
    tls: Option<Result<TlsDialer, String>>,
    timeout: Duration,
}

impl H2PingProbe {
    pub fn new(address: String, tls: Option<&CheckTls>, timeout: Duration) -> H2PingProbe {
        let tls = tls.map(|tls| TlsDialer::new(tls, tls::ALPN_H2));
        H2PingProbe { address, tls, timeout }
    }

    pub async fn run(&self) -> Outcome {
        let failed = |message: String| (CheckStatus::Critical, message);
        let outcome = tokio::time::timeout(self.timeout, async {
            let conn = self.dial().await.map_err(|e| format!("Failed to dial to {}: {e}", self.address))?;
            ping(conn).await.map_err(|e| format!("HTTP2 ping failed: {e}"))
        })
        .await;
        match outcome {
            Ok(Ok(())) => (CheckStatus::Passing, "HTTP2 ping was successful".to_string()),
            Ok(Err(message)) => failed(message),
            Err(_) => failed(format!("HTTP2 ping failed: timed out after {:?}", self.timeout)),
        }
    }

    async fn dial(&self) -> Result<tls::Conn, String> {
        let tls = match &self.tls {
            None => None,
            Some(tls) => Some(tls.clone()?),
        };
        tls::connect(&self.address, tls.as_ref()).await
    }
}

/// The HTTP/2 handshake, then one PING and its ack, with the connection
/// driven alongside.
async fn ping(conn: tls::Conn) -> Result<(), String> {
    let (_requests, mut connection) = h2::client::handshake(conn).await.map_err(|e| e.to_string())?;
    let mut ping_pong = connection.ping_pong().ok_or("the connection's PING handle was taken")?;
    let work = async move { ping_pong.ping(h2::Ping::opaque()).await.map(|_| ()).map_err(|e| e.to_string()) };
    alongside(connection, work).await
}
