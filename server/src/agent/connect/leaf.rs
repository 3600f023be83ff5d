//! Leaf certificates of this host's services. The key pair is made here and
//! only the CSR goes to the servers. A leaf is renewed at a random moment
//! between 60 % and 90 % of its lifetime, and re-issued within the CA's
//! spread after the active root changes.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tessera_mesh::connect::csr;
use tessera_mesh::connect::ServiceIdentity;
use tessera_mesh::connect::TrustDomain;
use tessera_proto::v1::CaRoots;
use tokio::sync::watch;

use crate::agent::connect::AgentConnect;
use crate::agent::connect::SignError;
use crate::connect::ca::unix_now;

/// A leaf as the agent hands it out (Consul's leaf endpoint fields). Its
/// `Debug` leaves the private key out.
#[derive(Clone, PartialEq)]
pub struct LeafView {
    pub service: String,
    pub service_uri: String,
    pub cert_pem: String,
    pub private_key_pem: String,
    pub serial: String,
    pub valid_after: u64,
    pub valid_before: u64,
    pub root_id: String,
    /// Grows with every new leaf this agent gets, for blocking queries.
    pub modify_index: u64,
    pub create_index: u64,
}

impl std::fmt::Debug for LeafView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeafView")
            .field("service", &self.service)
            .field("service_uri", &self.service_uri)
            .field("cert_pem", &self.cert_pem)
            .field("private_key_pem", &tessera_mesh::connect::ca::REDACTED)
            .field("serial", &self.serial)
            .field("valid_after", &self.valid_after)
            .field("valid_before", &self.valid_before)
            .field("root_id", &self.root_id)
            .field("modify_index", &self.modify_index)
            .field("create_index", &self.create_index)
            .finish()
    }
}

static NEXT_LEAF_INDEX: AtomicU64 = AtomicU64::new(1);

const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

pub(super) struct Manager {
    pub connect: Arc<AgentConnect>,
    pub service: String,
    /// Tells this manager's map entry from a later one's for the same name.
    pub id: u64,
    pub out: watch::Sender<Option<Arc<LeafView>>>,
}

/// Why the manager woke up.
enum Wake {
    Renew,
    RootChanged,
    Stop,
}

/// Why the manager stopped.
enum Stop {
    Shutdown,
    Refused(String),
}

impl Manager {
    /// Keeps the leaf current until shutdown, a refusal, or nobody has used
    /// it for the idle period (then it is already out of the map).
    pub async fn run(self) {
        let Manager { connect, service, id, out } = self;
        let stop = tokio::select! {
            stop = Self::keep_current(&connect, &service, &out) => stop,
            () = connect.until_idle(&service, id, &out) => {
                tracing::debug!(service = %service, "leaf manager idle; stopped");
                return;
            }
        };
        let refusal = match stop {
            Stop::Shutdown => None,
            Stop::Refused(reason) => {
                tracing::warn!(service = %service, reason = %reason, "leaf certificate refused");
                Some(reason)
            }
        };
        // The reason is recorded before the channel closes: a reader woken by
        // the close asks for it at once.
        let refused = refusal.is_some();
        connect.manager_stopped(&service, id, refusal);
        drop(out);
        if refused && sleep(&connect, connect.leaf_limits().refusal_ttl).await {
            connect.forget_refusal(&service, id);
        }
    }

    async fn keep_current(
        connect: &Arc<AgentConnect>,
        service: &str,
        out: &watch::Sender<Option<Arc<LeafView>>>,
    ) -> Stop {
        let mut roots = connect.roots();
        let mut create_index = 0;
        loop {
            let Some(current_roots) = wait_for_roots(&mut roots, connect).await else { return Stop::Shutdown };
            let leaf = match issue(connect, service, &current_roots, create_index).await {
                Ok(leaf) => leaf,
                Err(stop) => return stop,
            };
            create_index = leaf.create_index;
            tracing::info!(service = %service, serial = %leaf.serial, "leaf certificate issued");
            let leaf = Arc::new(leaf);
            out.send_replace(Some(leaf.clone()));
            match wait_for_renewal(connect, &leaf, current_roots.index, &mut roots).await {
                Wake::Stop => return Stop::Shutdown,
                Wake::Renew => {}
                Wake::RootChanged => {
                    let delay = random_below(current_roots_spread(&roots));
                    tracing::info!(service = %service, ?delay, "CA root changed; re-issuing the leaf");
                    if !sleep(connect, delay).await {
                        return Stop::Shutdown;
                    }
                }
            }
        }
    }
}

/// Makes a key and CSR and has them signed, retrying with backoff while
/// the servers do not answer, or refuse for less than the refusal grace (a
/// client agent's new registration reaches the catalog a moment after it is
/// made; a refusal, "not registered on this node", is final only once it
/// has lasted that long).
async fn issue(connect: &AgentConnect, service: &str, roots: &CaRoots, create_index: u64) -> Result<LeafView, Stop> {
    let trust_domain =
        TrustDomain::parse(&roots.trust_domain).map_err(|e| Stop::Refused(format!("bad trust domain: {e}")))?;
    let identity = ServiceIdentity::new(&trust_domain, connect.datacenter(), service);
    let mut backoff = RETRY_MIN;
    let mut refused_since = None;
    loop {
        match try_issue(connect, service, &identity).await {
            Ok(mut leaf) => {
                leaf.create_index = if create_index == 0 { leaf.modify_index } else { create_index };
                return Ok(leaf);
            }
            Err(SignError::Refused(reason)) => {
                let since = *refused_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() >= connect.leaf_limits().refusal_grace {
                    return Err(Stop::Refused(reason));
                }
            }
            Err(SignError::Unavailable(e)) => {
                refused_since = None;
                tracing::warn!(service = %service, error = %e, "leaf certificate not signed yet");
            }
        }
        // While refused, ask every second: the registration may land any moment.
        let pause = if refused_since.is_some() { backoff.min(Duration::from_secs(1)) } else { backoff };
        if !sleep(connect, pause).await {
            return Err(Stop::Shutdown);
        }
        backoff = (backoff * 2).min(RETRY_MAX);
    }
}

async fn try_issue(connect: &AgentConnect, service: &str, identity: &ServiceIdentity) -> Result<LeafView, SignError> {
    let request = csr::leaf_request(identity).map_err(|e| SignError::Refused(e.to_string()))?;
    let signed = connect.signer().sign(request.csr_pem).await?;
    Ok(LeafView {
        service: service.to_string(),
        service_uri: signed.service_uri,
        cert_pem: signed.cert_pem,
        private_key_pem: request.key_pem,
        serial: signed.serial,
        valid_after: signed.valid_after,
        valid_before: signed.valid_before,
        root_id: signed.root_id,
        modify_index: NEXT_LEAF_INDEX.fetch_add(1, Ordering::Relaxed),
        create_index: 0,
    })
}

/// Waits for the renewal moment, or for a root change that arrived after
/// the roots this leaf was issued under (a feed that lags the leader must
/// not make the manager re-issue in a loop).
async fn wait_for_renewal(
    connect: &AgentConnect,
    leaf: &LeafView,
    issued_under_index: u64,
    roots: &mut watch::Receiver<Option<Arc<CaRoots>>>,
) -> Wake {
    let renew_in = renewal_delay(leaf.valid_after, leaf.valid_before, unix_now());
    let renew_at = tokio::time::Instant::now() + renew_in;
    loop {
        let root_changed = roots
            .borrow_and_update()
            .as_ref()
            .is_some_and(|r| r.index > issued_under_index && r.active_root_id != leaf.root_id);
        if root_changed {
            return Wake::RootChanged;
        }
        tokio::select! {
            _ = connect.shutdown().cancelled() => return Wake::Stop,
            _ = tokio::time::sleep_until(renew_at) => return Wake::Renew,
            changed = roots.changed() => if changed.is_err() { return Wake::Stop },
        }
    }
}

async fn sleep(connect: &AgentConnect, delay: Duration) -> bool {
    tokio::select! {
        _ = connect.shutdown().cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

async fn wait_for_roots(
    roots: &mut watch::Receiver<Option<Arc<CaRoots>>>,
    connect: &AgentConnect,
) -> Option<Arc<CaRoots>> {
    tokio::select! {
        _ = connect.shutdown().cancelled() => None,
        held = roots.wait_for(|r| r.is_some()) => held.ok().and_then(|r| r.clone()),
    }
}

fn current_roots_spread(roots: &watch::Receiver<Option<Arc<CaRoots>>>) -> Duration {
    roots.borrow().as_ref().map_or(Duration::ZERO, |r| Duration::from_millis(r.reissue_spread_ms))
}

fn random_below(limit: Duration) -> Duration {
    if limit.is_zero() {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::thread_rng().gen_range(0..limit.as_millis() as u64))
}

/// How long until renewal: a random point between 60 % and 90 % of the
/// lifetime; at once if that point has passed.
pub fn renewal_delay(valid_after: u64, valid_before: u64, now: u64) -> Duration {
    let lifetime = valid_before.saturating_sub(valid_after) as f64;
    let fraction = rand::thread_rng().gen_range(0.6..0.9);
    let renew_at = valid_after as f64 + lifetime * fraction;
    Duration::from_secs_f64((renew_at - now as f64).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renewal_falls_between_60_and_90_percent() {
        for _ in 0..1000 {
            let delay = renewal_delay(1000, 2000, 1000).as_secs_f64();
            assert!((600.0..=900.0).contains(&delay), "{delay}");
        }
        assert_eq!(renewal_delay(1000, 2000, 1950), Duration::ZERO);
    }
}
