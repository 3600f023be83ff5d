//! The agent's Connect state: the CA roots and intentions as last pushed by
//! the servers ([`feed`]), the leaf certificates of local services
//! ([`leaf`]), and authorization answered from that local copy. Sidecars
//! read all of it over HTTP or the [`proxy_api`] stream.

pub mod feed;
pub mod leaf;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use futures::future::BoxFuture;
use tessera_mesh::connect::intention;
use tessera_mesh::connect::Decision;
use tessera_mesh::connect::DefaultPolicy;
use tessera_mesh::connect::Intention;
use tessera_mesh::connect::ServiceIdentity;
use tessera_proto::v1::CaRoots;
use tessera_proto::v1::SignLeafResponse;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

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

pub struct AgentConnect {
    datacenter: String,
    default_policy: DefaultPolicy,
    roots: watch::Sender<Option<Arc<CaRoots>>>,
    intentions: watch::Sender<Arc<IntentionSet>>,
    leaves: Mutex<HashMap<String, watch::Receiver<Option<Arc<LeafView>>>>>,
    /// Why the last leaf manager of a service gave up, for its waiters.
    refusals: Mutex<HashMap<String, String>>,
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
    ) -> Arc<AgentConnect> {
        Arc::new(AgentConnect {
            datacenter: datacenter.to_string(),
            default_policy,
            roots: watch::Sender::new(None),
            intentions: watch::Sender::new(Arc::default()),
            leaves: Mutex::default(),
            refusals: Mutex::default(),
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
    /// time anyone asks for it. The channel closes if the CA refuses the
    /// service; [`AgentConnect::refusal`] then says why.
    pub fn leaf(self: &Arc<Self>, service: &str) -> watch::Receiver<Option<Arc<LeafView>>> {
        let mut leaves = self.leaves.lock().expect("leaf cache lock");
        if let Some(existing) = leaves.get(service).filter(|rx| rx.has_changed().is_ok()) {
            return existing.clone();
        }
        let (sender, receiver) = watch::channel(None);
        leaves.insert(service.to_string(), receiver.clone());
        let manager = leaf::Manager { connect: self.clone(), service: service.to_string(), out: sender };
        self.tasks.spawn(manager.run());
        receiver
    }

    /// Why the CA refused `service`'s leaf, if it did.
    pub fn refusal(&self, service: &str) -> Option<String> {
        self.refusals.lock().expect("refusals lock").get(service).cloned()
    }

    /// Called by a leaf manager that stops, before it closes its channel.
    fn record_refusal(&self, service: &str, refusal: Option<String>) {
        let mut refusals = self.refusals.lock().expect("refusals lock");
        match refusal {
            Some(reason) => refusals.insert(service.to_string(), reason),
            None => refusals.remove(service),
        };
    }

    /// Called by a leaf manager that stopped and closed its channel: later
    /// requests start afresh.
    fn manager_stopped(&self, service: &str) {
        let mut leaves = self.leaves.lock().expect("leaf cache lock");
        if leaves.get(service).is_some_and(|rx| rx.has_changed().is_err()) {
            leaves.remove(service);
        }
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
