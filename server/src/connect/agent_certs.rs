//! auto_encrypt on servers: client agents' own certificates, signed by the
//! Connect CA for their node's agent SPIFFE id (Consul signs them so too),
//! and the Connect roots trusted for client certificates on the server
//! port, kept current through rotations.
//!
//! Until ACLs exist, any caller that reaches the server port over TLS and
//! trusts the agent CA may ask for a certificate for any node name: the
//! certificate then binds what that caller may do to that one node.

use std::sync::Arc;
use std::sync::Weak;

use tessera_proto::transport::peer::agent_uri;
use tessera_proto::transport::tls::RpcTls;
use tessera_proto::v1::AutoEncryptResponse;
use tessera_store::Table;
use tokio_util::sync::CancellationToken;

use crate::connect::ca::signing_context;
use crate::connect::ca::take_token;
use crate::connect::ca::SigningState;
use crate::consensus::Server;
use crate::consensus::ServerError;

/// Signs a client agent's certificate for `node` of `datacenter`.
pub fn sign_agent(
    server: &Server,
    signing: &SigningState,
    node: &str,
    datacenter: &str,
    csr_pem: &str,
) -> Result<AutoEncryptResponse, ServerError> {
    if !server.config.auto_encrypt.allow_tls {
        return Err(ServerError::Forbidden(
            "auto_encrypt is not allowed on this server (auto_encrypt.allow_tls)".into(),
        ));
    }
    if !datacenter.eq_ignore_ascii_case(&server.config.datacenter) {
        return Err(ServerError::BadRequest(format!(
            "datacenter {datacenter:?}: this server is in {:?}",
            server.config.datacenter
        )));
    }
    check_node_name(node)?;
    let context = signing_context(server, signing)?;
    take_token(signing, context.csr_max_per_second)?;
    let uri = agent_uri(context.policy.trust_domain.as_str(), &server.config.datacenter, node);
    let signed = context
        .signer
        .sign_agent(csr_pem, &uri, context.policy.ttl)
        .map_err(|e| ServerError::BadRequest(e.to_string()))?;
    let mut cert_pem = signed.cert_pem;
    for intermediate in &context.intermediate_pems {
        cert_pem.push_str(intermediate);
    }
    tracing::info!(%node, "signed a client agent certificate (auto_encrypt)");
    Ok(AutoEncryptResponse { cert_pem, valid_before: signed.valid_before })
}

/// Node names as Consul takes them in a SPIFFE path: no slash, nothing empty.
fn check_node_name(node: &str) -> Result<(), ServerError> {
    let fine = !node.is_empty()
        && node.len() <= 128
        && node.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    match fine {
        true => Ok(()),
        false => Err(ServerError::BadRequest(format!("node name {node:?} is not a valid agent name"))),
    }
}

/// Trusts the Connect CA's roots (every one still listed) for client
/// certificates on the server port, from now on and after each rotation.
pub async fn trust_connect_roots(server: Weak<Server>, tls: Arc<RpcTls>, shutdown: CancellationToken) {
    let Some(mut roots) = server.upgrade().map(|s| s.store.subscribe(Table::Roots)) else { return };
    loop {
        let Some(strong) = server.upgrade() else { return };
        match strong.store.view().ca_state() {
            Ok(state) => {
                let pems: Vec<String> = state.roots.iter().map(|r| r.root.cert_pem.clone()).collect();
                if let Err(e) = tls.set_extra_roots(&pems) {
                    tracing::warn!(error = %e, "cannot trust the Connect roots for client certificates");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the Connect roots"),
        }
        drop(strong);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = roots.changed() => if changed.is_err() { return },
        }
    }
}
