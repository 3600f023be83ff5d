//! gRPC checks: grpc.health.v1 `Health/Check` on a fresh connection per
//! run, as Consul dials one per run. SERVING is passing; any other status,
//! or an error, critical.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use tessera_mesh::catalog::definition::CheckTls;
use tessera_mesh::catalog::CheckStatus;
use tonic::transport::Endpoint;
use tonic::transport::Uri;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

use super::tls;
use super::tls::TlsDialer;
use super::Outcome;

#[derive(Clone)]
pub struct GrpcProbe {
    address: String,
    service: String,
    /// None: plaintext. Some(Err): why TLS cannot be set up.
    tls: Option<Result<TlsDialer, String>>,
    timeout: Duration,
}

impl GrpcProbe {
    pub fn new(address: String, service: String, tls: Option<&CheckTls>, timeout: Duration) -> GrpcProbe {
        let tls = tls.map(|tls| TlsDialer::new(tls, tls::ALPN_H2));
        GrpcProbe { address, service, tls, timeout }
    }

    /// Consul's target in its messages: `host:port` or `host:port/service`.
    fn target(&self) -> String {
        match self.service.as_str() {
            "" => self.address.clone(),
            service => format!("{}/{service}", self.address),
        }
    }

    pub async fn run(&self) -> Outcome {
        let target = self.target();
        match tokio::time::timeout(self.timeout, self.check()).await {
            Ok(Ok(ServingStatus::Serving)) => (CheckStatus::Passing, format!("gRPC check {target}: success")),
            Ok(Ok(status)) => {
                (CheckStatus::Critical, format!("gRPC {target} serving status: {}", status.as_str_name()))
            }
            Ok(Err(e)) => (CheckStatus::Critical, format!("gRPC {target}: {e}")),
            Err(_) => (CheckStatus::Critical, format!("gRPC {target}: timed out after {:?}", self.timeout)),
        }
    }

    async fn check(&self) -> Result<ServingStatus, String> {
        let tls = match &self.tls {
            None => None,
            Some(tls) => Some(tls.clone()?),
        };
        // The scheme only names the `:scheme` sent; the connector below
        // makes the connection (and its TLS) itself.
        let scheme = if tls.is_some() { "https" } else { "http" };
        let endpoint = Endpoint::from_shared(format!("{scheme}://{}", self.address)).map_err(|e| e.to_string())?;
        let address = self.address.clone();
        let connector = tower::service_fn(move |_: Uri| {
            let (address, tls) = (address.clone(), tls.clone());
            async move { tls::connect(&address, tls.as_ref()).await.map(TokioIo::new) }
        });
        let channel = endpoint.connect_with_connector(connector).await.map_err(|e| error_text(&e))?;
        let request = HealthCheckRequest { service: self.service.clone() };
        let response = HealthClient::new(channel).check(request).await.map_err(|status| status.to_string())?;
        Ok(response.into_inner().status())
    }
}

/// A transport error with its causes, which hold the useful part
/// ("connection refused").
fn error_text(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
