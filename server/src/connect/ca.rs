//! The built-in CA. The first leader creates the first root; leaves are
//! signed by the leader from CSRs (the private key stays with whoever made
//! it); a configuration change with a new key rotates the root.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::SystemTime;

use tessera_mesh::connect::ca;
use tessera_mesh::connect::ca::LeafPolicy;
use tessera_mesh::connect::ca::RootKey;
use tessera_mesh::connect::ca::Signer;
use tessera_mesh::connect::TrustDomain;
use tessera_proto::v1::SignLeafRequest;
use tessera_proto::v1::SignLeafResponse;
use tokio::time::Instant;

use crate::consensus::forward;
use crate::consensus::Attempt;
use crate::consensus::Server;
use crate::consensus::ServerError;
use tessera_store::ca::CaConfig;
use tessera_store::ca::CaState;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;

/// The leader's signing state: what signing needs from the stored CA
/// (the parsed key above all; parsing it per CSR would cost more than
/// signing), rebuilt only when the roots table moves, and the rate limit.
#[derive(Default)]
pub struct SigningState {
    context: Mutex<Option<Arc<SigningContext>>>,
    bucket: Mutex<Option<(f64, Instant)>>,
}

pub struct SigningContext {
    roots_index: u64,
    pub signer: Signer,
    pub intermediate_pems: Vec<String>,
    pub policy: LeafPolicy,
    pub csr_max_per_second: f64,
}

pub fn signing_context(server: &Server, signing: &SigningState) -> Result<Arc<SigningContext>, ServerError> {
    let roots_index = server.store.table_index(tessera_store::Table::Roots);
    let mut cached = signing.context.lock().expect("signing context lock");
    if let Some(context) = cached.as_ref().filter(|c| c.roots_index == roots_index && roots_index > 0) {
        return Ok(context.clone());
    }
    let state = server.store.view().ca_state()?;
    let active = state.active().ok_or_else(|| ServerError::Internal("the CA has no root yet".into()))?;
    let config = state.config();
    let context = Arc::new(SigningContext {
        roots_index,
        signer: Signer::new(&active.root).map_err(|e| ServerError::Internal(format!("CA key unusable: {e}")))?,
        intermediate_pems: active.intermediate_pems.clone(),
        policy: LeafPolicy {
            trust_domain: trust_domain(server)?,
            datacenter: server.config.datacenter.clone(),
            ttl: config.leaf_ttl(),
        },
        csr_max_per_second: config.csr_max_per_second,
    });
    *cached = Some(context.clone());
    Ok(context)
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub fn trust_domain(server: &Server) -> Result<TrustDomain, ServerError> {
    let id = server.store.cluster_id()?.ok_or_else(|| ServerError::Internal("the cluster has no id yet".into()))?;
    Ok(TrustDomain::for_cluster(&id))
}

/// "Tessera CA <n>", one more than the highest number among current roots.
fn next_root_name(state: &CaState) -> String {
    let highest = state
        .roots
        .iter()
        .filter_map(|r| r.root.name.strip_prefix("Tessera CA ")?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    format!("Tessera CA {}", highest + 1)
}

/// Run by the leader once the cluster id exists: creates the first root.
pub async fn initialize_if_needed(server: &Server) -> Result<(), ServerError> {
    let state = server.store.view().ca_state()?;
    if !state.roots.is_empty() {
        return Ok(());
    }
    let config = state.config();
    let key = RootKey::Fresh(config.private_key_bits);
    let root = ca::generate_root(&trust_domain(server)?, &next_root_name(&state), key, config.root_ttl())
        .map_err(|e| ServerError::Internal(format!("cannot generate the CA root: {e}")))?;
    let applied = server.write(Command::CaInitialize { config, root: root.clone() }).await?;
    if applied.response == CommandResponse::Applied(true) {
        tracing::info!(root = %root.name, id = %root.id, "created the Connect CA root");
    }
    Ok(())
}

/// Signs a CSR on the leader. `caller_node` is the client agent asking, or
/// None for a server's own agent.
pub async fn sign(
    server: &Server,
    signing: &SigningState,
    csr_pem: &str,
    caller_node: Option<&str>,
) -> Result<SignLeafResponse, ServerError> {
    let request = SignLeafRequest { csr_pem: csr_pem.to_string(), caller_node: caller_node.unwrap_or("").to_string() };
    server
        .on_leader(
            "sign",
            || async { sign_here(server, signing, &request).map_err(Attempt::Fail) },
            |leader| {
                let request = request.clone();
                async move { forward::sign_leaf(&server.pool, &leader, request).await }
            },
        )
        .await
}

/// Signs with the active root of this server's state. Only the leader is
/// asked, so every leaf comes from the root the cluster last agreed on.
/// Every request that reaches here is counted and timed, refusals too.
pub fn sign_here(
    server: &Server,
    signing: &SigningState,
    request: &SignLeafRequest,
) -> Result<SignLeafResponse, ServerError> {
    let start = Instant::now();
    let signed = check_and_sign(server, signing, request);
    server.metrics.leaf.signed(start, signed.is_err());
    signed
}

fn check_and_sign(
    server: &Server,
    signing: &SigningState,
    request: &SignLeafRequest,
) -> Result<SignLeafResponse, ServerError> {
    let context = signing_context(server, signing)?;
    take_token(signing, context.csr_max_per_second)?;
    let may_claim = |identity: &tessera_mesh::connect::ServiceIdentity| {
        if identity.namespace != tessera_mesh::connect::spiffe::DEFAULT_NAMESPACE {
            return Err(format!("namespace {:?}: only \"default\" exists", identity.namespace));
        }
        if request.caller_node.is_empty() {
            return Ok(());
        }
        match node_may_claim(server, &request.caller_node, &identity.service) {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "node {:?} may not request a certificate for service {:?}: it is not registered there",
                request.caller_node, identity.service
            )),
            Err(e) => Err(e.to_string()),
        }
    };
    let leaf = context.signer.sign_for(&request.csr_pem, &context.policy, may_claim).map_err(|e| match e {
        ca::CsrError::NotAllowed(reason) => ServerError::Forbidden(reason),
        other => ServerError::BadRequest(other.to_string()),
    })?;
    let mut cert_pem = leaf.cert_pem;
    for intermediate in &context.intermediate_pems {
        cert_pem.push_str(intermediate);
    }
    Ok(SignLeafResponse {
        cert_pem,
        serial: leaf.serial,
        service_uri: leaf.identity.uri(),
        service: leaf.identity.service,
        valid_after: leaf.valid_after,
        valid_before: leaf.valid_before,
        root_id: context.signer.root_id().to_string(),
    })
}

/// A client agent may claim the identity of a service registered on its
/// node, or the destination of a sidecar registered there.
fn node_may_claim(server: &Server, node: &str, service: &str) -> Result<bool, ServerError> {
    let services = server.store.view().node_services(node)?;
    Ok(services.iter().any(|row| {
        row.value.name == service || row.value.proxy.as_ref().is_some_and(|p| p.destination_service_name == service)
    }))
}

/// A token bucket of `per_second` tokens (burst of one second's worth).
pub fn take_token(state: &SigningState, per_second: f64) -> Result<(), ServerError> {
    if per_second <= 0.0 {
        return Ok(());
    }
    let mut bucket = state.bucket.lock().expect("rate bucket lock");
    let now = Instant::now();
    let (tokens, at) = bucket.get_or_insert((per_second, now));
    *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(per_second.max(1.0));
    *at = now;
    if *tokens < 1.0 {
        return Err(ServerError::RateLimited("CSR rate limit exceeded (csr_max_per_second); retry later".into()));
    }
    *tokens -= 1.0;
    Ok(())
}

/// What `PUT /v1/connect/ca/configuration` asks for.
pub struct ConfigChange {
    pub config: CaConfig,
    /// A key to rotate to (PEM), if given.
    pub private_key: Option<String>,
}

/// Applies a configuration change; rotates the root when the key changes
/// (a given key, or a new key type/size). Returns whether it rotated.
pub async fn set_config(server: &Server, change: ConfigChange) -> Result<bool, ServerError> {
    change.config.validate().map_err(ServerError::BadRequest)?;
    server.read_barrier(crate::consensus::Consistency::Linearizable).await?;
    let state = server.store.view().ca_state()?;
    let active = state.active().ok_or_else(|| ServerError::Internal("the CA has no root yet".into()))?;
    let current = state.config();
    let new_key_kind = (current.private_key_type.as_str(), current.private_key_bits)
        != (change.config.private_key_type.as_str(), change.config.private_key_bits);
    let given_key = change.private_key.filter(|k| !k.trim().is_empty() && *k != active.root.key_pem);
    if given_key.is_none() && !new_key_kind {
        server.write(Command::CaSetConfig { config: change.config }).await?;
        return Ok(false);
    }
    let command = rotation(server, &state, change.config, given_key.as_deref())?;
    let applied = server.write(command).await?;
    if applied.response != CommandResponse::Applied(true) {
        return Err(ServerError::Conflict("the active root changed during the rotation; try again".into()));
    }
    Ok(true)
}

fn rotation(server: &Server, state: &CaState, config: CaConfig, key: Option<&str>) -> Result<Command, ServerError> {
    let old = state.active().expect("checked by the caller");
    let bad = |e: ca::CaError| ServerError::BadRequest(format!("PrivateKey: {e}"));
    let key = key.map_or(RootKey::Fresh(config.private_key_bits), RootKey::Given);
    let new_root =
        ca::generate_root(&trust_domain(server)?, &next_root_name(state), key, config.root_ttl()).map_err(bad)?;
    // The cross-signed certificate only has to outlive the old root's leaves.
    let cross_ttl = config.leaf_ttl().saturating_mul(2).max(Duration::from_secs(7 * 24 * 3600));
    let cross = ca::cross_sign(&new_root, &old.root, cross_ttl)
        .map_err(|e| ServerError::Internal(format!("cannot cross-sign the new root: {e}")))?;
    tracing::info!(old = %old.root.name, new = %new_root.name, "rotating the Connect CA root");
    Ok(Command::CaRotate {
        expect_active: old.root.id.clone(),
        config,
        new_root,
        cross_signed_pem: cross,
        rotated_at: unix_now(),
    })
}

/// Inactive roots whose leaves have all expired: rotated out more than two
/// leaf lifetimes ago (Consul's rule).
pub fn prunable(state: &CaState, now: u64) -> Vec<String> {
    let keep_for = state.config().leaf_ttl().as_secs().saturating_mul(2);
    state
        .roots
        .iter()
        .filter(|r| !r.active && r.rotated_out_at.is_some_and(|at| now >= at.saturating_add(keep_for)))
        .map(|r| r.root.id.clone())
        .collect()
}

/// Run by the leader from time to time.
pub async fn prune(server: &Server) -> Result<(), ServerError> {
    let ids = prunable(&server.store.view().ca_state()?, unix_now());
    if ids.is_empty() {
        return Ok(());
    }
    tracing::info!(roots = ?ids, "pruning CA roots whose leaves have expired");
    server.write(Command::CaPruneRoots { root_ids: ids }).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_store::ca::StoredRoot;

    #[test]
    fn the_csr_rate_limit_allows_a_burst_then_refuses() {
        let state = SigningState::default();
        assert!((0..100).all(|_| take_token(&state, 0.0).is_ok()), "0 turns the limit off");
        let allowed = (0..20).filter(|_| take_token(&state, 5.0).is_ok()).count();
        assert_eq!(allowed, 5, "one second's worth, then 429s");
        assert!(matches!(take_token(&state, 5.0), Err(ServerError::RateLimited(_))));
    }

    /// A stored root with only what pruning and naming look at.
    fn root(id: &str, active: bool, rotated_out_at: Option<u64>) -> StoredRoot {
        let root = tessera_mesh::connect::ca::RootCa {
            id: id.into(),
            name: format!("Tessera CA {id}"),
            serial: String::new(),
            signing_key_id: String::new(),
            not_before: 0,
            not_after: 0,
            cert_pem: String::new(),
            key_pem: String::new(),
        };
        StoredRoot { root, active, intermediate_pems: vec![], rotated_out_at, create_index: 1, modify_index: 1 }
    }

    #[test]
    fn retired_roots_are_pruned_two_leaf_lifetimes_after_rotation() {
        let config = CaConfig { leaf_cert_ttl: "1h".into(), ..CaConfig::default() };
        let state = CaState {
            config: Some((config, 1, 1)),
            roots: vec![root("new", true, None), root("old", false, Some(1_000)), root("older", false, Some(100))],
        };
        assert!(prunable(&state, 1_000 + 7_199).iter().all(|id| id == "older"));
        assert_eq!(prunable(&state, 1_000 + 7_200), vec!["old".to_string(), "older".to_string()]);
        assert!(!prunable(&state, u64::MAX / 2).contains(&"new".to_string()), "the active root stays");
    }

    #[test]
    fn root_names_count_up() {
        let state = CaState { config: None, roots: vec![root("a", false, Some(1)), root("b", true, None)] };
        // Fixture names are "Tessera CA a/b", which carry no number.
        assert_eq!(next_root_name(&state), "Tessera CA 1");
        let mut numbered = root("c", true, None);
        numbered.root.name = "Tessera CA 7".into();
        assert_eq!(next_root_name(&CaState { config: None, roots: vec![numbered] }), "Tessera CA 8");
    }
}
