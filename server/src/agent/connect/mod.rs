//! The agent's Connect state: the CA roots and intentions as last pushed by
//! the servers ([`feed`]), the leaf certificates of local services
//! ([`leaf`]), and authorization answered from that local copy. Sidecars
//! read all of it over HTTP or the [`proxy_api`] stream.

pub mod feed;
pub mod leaf;

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;

use futures::future::BoxFuture;
use prometheus_client::metrics::gauge::Gauge;
use tessera_mesh::connect::intention;
use tessera_mesh::connect::Decision;
use tessera_mesh::connect::DefaultPolicy;
use tessera_mesh::connect::Intention;
use tessera_mesh::connect::ServiceIdentity;
use tessera_proto::v1::CaRoots;
use tessera_proto::v1::SignLeafResponse;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::LeafCacheLimits;
use crate::tasks::Tasks;

use crate::agent::connect::leaf::LeafView;

/// Where leaves get signed: the local server's CA in server mode; a server
/// over gRPC on client agents.
pub trait LeafSigner: Send + Sync + 'static {
    fn sign(&self, csr_pem: String) -> BoxFuture<'_, Result<SignLeafResponse, SignError>>;
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum SignError {
    /// The CA refused this identity or CSR; asking again will not help
    /// (unless the service gets registered meanwhile).
    #[error("{0}")]
    Refused(String),
    /// No answer (no leader, no server reachable): worth retrying.
    #[error("{0}")]
    Unavailable(String),
}

/// Both modes' signers end in a server's answer: a refusal of the request
/// itself is final, anything else may pass on a later try.
impl From<crate::consensus::ServerError> for SignError {
    fn from(e: crate::consensus::ServerError) -> Self {
        use crate::consensus::ServerError;
        match e {
            ServerError::Forbidden(m) | ServerError::BadRequest(m) => SignError::Refused(m),
            other => SignError::Unavailable(other.to_string()),
        }
    }
}

/// The intentions the agent holds, with the Raft index they reflect.
#[derive(Debug, Default, Clone)]
pub struct IntentionSet {
    pub index: u64,
    pub intentions: Vec<Intention>,
}

/// The receiving end of a leaf manager's channel.
pub type LeafReceiver = watch::Receiver<Option<Arc<LeafView>>>;

/// What the agent holds for one service name.
enum Held {
    /// A running manager (its task holds the sender), last asked for at
    /// `last_used` or last seen watched then.
    Live { id: u64, rx: LeafReceiver, last_used: Instant },
    /// The CA refused the name; answered from here until `until`.
    Refused { id: u64, reason: String, until: Instant },
}

impl Held {
    fn id(&self) -> u64 {
        match self {
            Held::Live { id, .. } | Held::Refused { id, .. } => *id,
        }
    }
}

/// What an idle check of a manager found.
enum IdleCheck {
    /// Watched, or asked for within the idle period: kept.
    Used,
    /// Idle: taken out of the map.
    Evicted,
    /// The entry is not this manager's (cannot happen while it runs).
    NotMine,
}

/// Why [`AgentConnect::leaf`] gives no channel.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LeafError {
    /// The CA refused the service a moment ago.
    #[error("{0}")]
    Refused(String),
    /// The agent holds as many service names as it may.
    #[error(
        "the agent already holds leaf certificates for {0} services, its limit; \
         names nobody uses are released after they have been idle"
    )]
    Full(usize),
}

pub struct AgentConnect {
    datacenter: String,
    default_policy: DefaultPolicy,
    roots: watch::Sender<Option<Arc<CaRoots>>>,
    intentions: watch::Sender<Arc<IntentionSet>>,
    /// One entry per service name: its manager, or why the CA refused it.
    /// Looked up by name only; nothing scans it.
    leaves: Mutex<HashMap<String, Held>>,
    next_manager: AtomicU64,
    limits: LeafCacheLimits,
    /// Kept at the number of live managers.
    managers: Gauge,
    signer: Arc<dyn LeafSigner>,
    tasks: Tasks,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthorizeError {
    #[error("ClientCertURI: {0}")]
    BadUri(String),
    #[error("Target service must be specified")]
    NoTarget,
}

impl AgentConnect {
    pub fn new(
        datacenter: &str,
        default_policy: DefaultPolicy,
        signer: Arc<dyn LeafSigner>,
        tasks: Tasks,
        limits: LeafCacheLimits,
        managers: Gauge,
    ) -> Arc<AgentConnect> {
        Arc::new(AgentConnect {
            datacenter: datacenter.to_string(),
            default_policy,
            roots: watch::Sender::new(None),
            intentions: watch::Sender::new(Arc::default()),
            leaves: Mutex::default(),
            next_manager: AtomicU64::new(1),
            limits,
            managers,
            signer,
            tasks,
        })
    }

    pub fn default_policy(&self) -> DefaultPolicy {
        self.default_policy
    }

    pub fn datacenter(&self) -> &str {
        &self.datacenter
    }

    /// Takes roots pushed by a server; older ones than held are ignored,
    /// unless they are another cluster's (its servers were rebuilt).
    pub fn publish_roots(&self, roots: CaRoots) {
        self.roots.send_if_modified(|held| {
            let newer = held.as_ref().is_none_or(|h| roots.index > h.index || roots.trust_domain != h.trust_domain);
            if newer {
                *held = Some(Arc::new(roots));
            }
            newer
        });
    }

    /// Takes intentions pushed by a server; with `new_cluster` whatever is
    /// held is replaced, whatever its index.
    pub fn publish_intentions(&self, set: IntentionSet, new_cluster: bool) {
        self.intentions.send_if_modified(|held| {
            let newer = new_cluster || set.index > held.index || (set.index == 0 && held.index == 0);
            if newer {
                *held = Arc::new(set);
            }
            newer
        });
    }

    pub fn roots(&self) -> watch::Receiver<Option<Arc<CaRoots>>> {
        self.roots.subscribe()
    }

    pub fn intentions(&self) -> watch::Receiver<Arc<IntentionSet>> {
        self.intentions.subscribe()
    }

    /// Roots index, intentions index and the trust domain they belong to.
    pub fn held_indexes(&self) -> (u64, u64, String) {
        let (roots, trust_domain) =
            self.roots.borrow().as_ref().map_or((0, String::new()), |r| (r.index, r.trust_domain.clone()));
        (roots, self.intentions.borrow().index, trust_domain)
    }

    /// The leaf of `service`, fetched and then kept renewed from the first
    /// time anyone asks for it until nobody has for [`LeafCacheLimits::idle`]
    /// (an open receiver counts as asking). The channel closes if the CA
    /// refuses the service; [`AgentConnect::refusal`] then says why, and
    /// for [`LeafCacheLimits::refusal_ttl`] this answers the refusal at once.
    /// One map lookup under a lock: no scan, whatever the number of names.
    pub fn leaf(self: &Arc<Self>, service: &str) -> Result<LeafReceiver, LeafError> {
        let now = Instant::now();
        let mut leaves = self.leaves.lock().expect("leaf cache lock");
        match leaves.get_mut(service) {
            Some(Held::Live { rx, last_used, .. }) => {
                *last_used = now;
                return Ok(rx.clone());
            }
            Some(Held::Refused { reason, until, .. }) if *until > now => {
                return Err(LeafError::Refused(reason.clone()))
            }
            Some(Held::Refused { .. }) => {
                leaves.remove(service);
            }
            None => {}
        }
        if leaves.len() >= self.limits.max_services {
            return Err(LeafError::Full(self.limits.max_services));
        }
        let id = self.next_manager.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = watch::channel(None);
        leaves.insert(service.to_string(), Held::Live { id, rx: receiver.clone(), last_used: now });
        self.managers.inc();
        let manager = leaf::Manager { connect: self.clone(), service: service.to_string(), id, out: sender };
        self.tasks.spawn(manager.run());
        Ok(receiver)
    }

    /// Why the CA refused `service`'s leaf, if it did last time it was asked.
    pub fn refusal(&self, service: &str) -> Option<String> {
        match self.leaves.lock().expect("leaf cache lock").get(service) {
            Some(Held::Refused { reason, .. }) => Some(reason.clone()),
            _ => None,
        }
    }

    pub fn leaf_limits(&self) -> &LeafCacheLimits {
        &self.limits
    }

    /// Called by manager `id` that stops: with a refusal, the name is
    /// answered with it for a while; otherwise forgotten. Before the
    /// manager closes its channel, so a reader woken by the close finds the
    /// reason.
    fn manager_stopped(&self, service: &str, id: u64, refusal: Option<String>) {
        let mut leaves = self.leaves.lock().expect("leaf cache lock");
        if !leaves.get(service).is_some_and(|held| matches!(held, Held::Live { id: i, .. } if *i == id)) {
            return;
        }
        self.managers.dec();
        match refusal {
            Some(reason) => {
                let until = Instant::now() + self.limits.refusal_ttl;
                leaves.insert(service.to_string(), Held::Refused { id, reason, until });
            }
            None => {
                leaves.remove(service);
            }
        }
    }

    /// Forgets manager `id`'s refusal once it has expired, if nobody asked
    /// again meanwhile (the entry is then another manager's).
    fn forget_refusal(&self, service: &str, id: u64) {
        let mut leaves = self.leaves.lock().expect("leaf cache lock");
        if leaves.get(service).is_some_and(|held| held.id() == id && matches!(held, Held::Refused { .. })) {
            leaves.remove(service);
        }
    }

    /// Returns once manager `id` has had no watcher but the map's own
    /// receiver, and no request, for the idle period; it is then already
    /// out of the map (under the lock [`AgentConnect::leaf`] clones
    /// receivers under, so none can appear after the check). Checks four
    /// times per idle period: a manager goes between 1 and 1.25 idle
    /// periods after its last use. Never returns on shutdown.
    async fn until_idle(&self, service: &str, id: u64, out: &watch::Sender<Option<Arc<LeafView>>>) {
        let idle = self.limits.idle;
        let every = (idle / 4).max(std::time::Duration::from_millis(10));
        loop {
            tokio::select! {
                _ = self.shutdown().cancelled() => return std::future::pending().await,
                _ = tokio::time::sleep(every) => {}
            }
            match self.idle_check(service, id, out) {
                IdleCheck::Used => {}
                IdleCheck::Evicted => return,
                IdleCheck::NotMine => return std::future::pending().await,
            }
        }
    }

    fn idle_check(&self, service: &str, id: u64, out: &watch::Sender<Option<Arc<LeafView>>>) -> IdleCheck {
        let now = Instant::now();
        let mut leaves = self.leaves.lock().expect("leaf cache lock");
        let Some(Held::Live { id: held, last_used, .. }) = leaves.get_mut(service) else { return IdleCheck::NotMine };
        if *held != id {
            return IdleCheck::NotMine;
        }
        if out.receiver_count() > 1 {
            *last_used = now;
        } else if now.duration_since(*last_used) >= self.limits.idle {
            leaves.remove(service);
            self.managers.dec();
            return IdleCheck::Evicted;
        }
        IdleCheck::Used
    }

    /// May the holder of `client_uri` connect to `target`? Answered from the
    /// intentions this agent holds, without asking a server.
    pub fn authorize(&self, target: &str, client_uri: &str) -> Result<Decision, AuthorizeError> {
        if target.is_empty() {
            return Err(AuthorizeError::NoTarget);
        }
        let source = ServiceIdentity::parse(client_uri).map_err(|e| AuthorizeError::BadUri(e.to_string()))?;
        let set = self.intentions.borrow().clone();
        Ok(intention::evaluate(&set.intentions, &source.service, target, self.default_policy))
    }

    pub fn signer(&self) -> &Arc<dyn LeafSigner> {
        &self.signer
    }

    pub fn shutdown(&self) -> &CancellationToken {
        self.tasks.shutdown()
    }

    /// Where the agent's Connect tasks (leaf managers, sidecar streams) run.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }
}
