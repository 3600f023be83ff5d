//! Leaf certificates of this host's services. The key pair is made here and
//! only the CSR goes to the servers. A leaf is renewed at a random moment
//! between 60 % and 90 % of its lifetime, and re-issued within the CA's
//! spread after the active root changes.

use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tessera_proto::connect::csr;
use tessera_proto::connect::ServiceIdentity;
use tessera_proto::connect::TrustDomain;
use tessera_proto::v1::CaRoots;
use tokio::sync::watch;

use crate::agent::connect::AgentConnect;
use crate::connect::ca::unix_now;

/// A leaf as the agent hands it out (Consul's leaf endpoint fields).
#[derive(Debug, Clone, PartialEq)]
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

static NEXT_LEAF_INDEX: AtomicU64 = AtomicU64::new(1);

const RETRY_MIN: Duration = Duration::from_millis(200);
const RETRY_MAX: Duration = Duration::from_secs(10);

pub(super) struct Manager {
    pub connect: Arc<AgentConnect>,
    pub service: String,
    pub out: watch::Sender<Option<Arc<LeafView>>>,
}

/// Why the manager woke up.
enum Wake {
    Renew,
    RootChanged,
    Stop,
}

impl Manager {
    pub async fn run(self) {
        let mut roots = self.connect.roots();
        let mut create_index = 0;
        loop {
            let Some(current_roots) = wait_for_roots(&mut roots, &self.connect).await else { return };
            let Some(leaf) = self.issue(&current_roots, create_index).await else { return };
            create_index = leaf.create_index;
            tracing::info!(service = %self.service, serial = %leaf.serial, "leaf certificate issued");
            let leaf = Arc::new(leaf);
            self.out.send_replace(Some(leaf.clone()));
            match self.wait_for_renewal(&leaf, &mut roots).await {
                Wake::Stop => return,
                Wake::Renew => {}
                Wake::RootChanged => {
                    let spread = current_roots_spread(&roots);
                    let delay = random_below(spread);
                    tracing::info!(service = %self.service, ?delay, "CA root changed; re-issuing the leaf");
                    if !self.sleep(delay).await {
                        return;
                    }
                }
            }
        }
    }

    /// Makes a key and CSR and has them signed, retrying with backoff.
    async fn issue(&self, roots: &CaRoots, create_index: u64) -> Option<LeafView> {
        let trust_domain = TrustDomain::parse(&roots.trust_domain).ok()?;
        let identity = ServiceIdentity::new(&trust_domain, self.connect.datacenter(), &self.service);
        let mut backoff = RETRY_MIN;
        loop {
            match self.try_issue(&identity).await {
                Ok(mut leaf) => {
                    leaf.create_index = if create_index == 0 { leaf.modify_index } else { create_index };
                    return Some(leaf);
                }
                Err(e) => tracing::warn!(service = %self.service, error = %e, "leaf certificate not signed yet"),
            }
            if !self.sleep(backoff).await {
                return None;
            }
            backoff = (backoff * 2).min(RETRY_MAX);
        }
    }

    async fn try_issue(&self, identity: &ServiceIdentity) -> Result<LeafView, String> {
        let request = csr::leaf_request(identity).map_err(|e| e.to_string())?;
        let signed = self.connect.signer().sign(request.csr_pem).await?;
        Ok(LeafView {
            service: self.service.clone(),
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

    async fn wait_for_renewal(&self, leaf: &LeafView, roots: &mut watch::Receiver<Option<Arc<CaRoots>>>) -> Wake {
        let renew_in = renewal_delay(leaf.valid_after, leaf.valid_before, unix_now());
        let renew_at = tokio::time::Instant::now() + renew_in;
        loop {
            let root_changed = roots.borrow_and_update().as_ref().is_some_and(|r| r.active_root_id != leaf.root_id);
            if root_changed {
                return Wake::RootChanged;
            }
            tokio::select! {
                _ = self.connect.shutdown().cancelled() => return Wake::Stop,
                _ = tokio::time::sleep_until(renew_at) => return Wake::Renew,
                changed = roots.changed() => if changed.is_err() { return Wake::Stop },
            }
        }
    }

    async fn sleep(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.connect.shutdown().cancelled() => false,
            _ = tokio::time::sleep(delay) => true,
        }
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
