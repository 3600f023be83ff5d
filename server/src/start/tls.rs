//! The server port's TLS material for this agent, from its configuration:
//! files, or with `-dev` a CA and server certificate made in memory (so a
//! dev agent needs nothing and still speaks TLS), or nothing at all when
//! the operator opted out.

use std::sync::Arc;

use tessera_mesh::agent_tls;
use tessera_proto::transport::listener_tls::ListenerSettings;
use tessera_proto::transport::listener_tls::ListenerTls;
use tessera_proto::transport::tls::Names;
use tessera_proto::transport::tls::RpcTls;
use tessera_proto::transport::tls::Source;

use crate::config::AgentConfig;
use crate::config::MinVersion;
use crate::config::RpcTlsConfig;
use crate::start::AgentError;

/// How long `-dev`'s in-memory certificates are valid.
const DEV_DAYS: u32 = 30;

pub fn rpc_tls(config: &AgentConfig) -> Result<Option<Arc<RpcTls>>, AgentError> {
    let names = Names::new(&config.datacenter, &config.domain);
    let invalid = |e: tessera_proto::transport::tls::TlsError| AgentError::Tls(e.to_string());
    let (source, min_version) = match &config.rpc_tls {
        RpcTlsConfig::Plaintext => {
            tracing::warn!(
                "the server port runs WITHOUT TLS (-insecure-plaintext-rpc): anyone who reaches it can act as a \
                 server or any client agent"
            );
            return Ok(None);
        }
        RpcTlsConfig::Files { files, min_version } => (Source::Files(files.clone()), *min_version),
        RpcTlsConfig::Unset => (dev_material(&names)?, MinVersion::Tls12),
    };
    let tls = RpcTls::new(names, source, min_version, config.server).map_err(invalid)?;
    Ok(Some(Arc::new(tls)))
}

/// A throwaway agent CA and a server certificate for `-dev`, never written down.
fn dev_material(names: &Names) -> Result<Source, AgentError> {
    let failed = |e: agent_tls::AgentTlsError| AgentError::Tls(format!("making -dev certificates: {e}"));
    let ca = agent_tls::ca(&agent_tls::CaOptions {
        days: DEV_DAYS,
        domain: names.domain.clone(),
        common_name: None,
        permitted_dns: Vec::new(),
        cluster_id: None,
    })
    .map_err(failed)?;
    let request = agent_tls::CertOptions {
        kind: agent_tls::Kind::Server,
        dc: names.datacenter.clone(),
        domain: names.domain.clone(),
        days: DEV_DAYS,
        node: None,
        additional_dns: Vec::new(),
        additional_ips: Vec::new(),
    };
    let server = agent_tls::cert(&request, &ca.cert, &ca.key).map_err(failed)?;
    Ok(Source::Pem { ca: ca.cert, cert: Some(server.cert), key: Some(server.key) })
}

/// A client listener's TLS (HTTPS, gRPC TLS), its files read now: a
/// missing or bad file refuses the start, naming the listener.
pub fn listener_tls(
    what: &'static str,
    make: fn(ListenerSettings) -> Result<ListenerTls, tessera_proto::transport::tls::TlsError>,
    settings: &ListenerSettings,
) -> Result<Arc<ListenerTls>, AgentError> {
    make(settings.clone()).map(Arc::new).map_err(|e| AgentError::ListenerTls { what, reason: e.to_string() })
}
