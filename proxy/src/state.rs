//! The current snapshot and what is derived from it, as one immutable value
//! ([`Current`]) that a connection takes once (an `Arc` clone) and keeps.
//! [`Snapshots`] rebuilds it lazily when the agent's watch has moved on, and
//! rebuilds the TLS configs only when the identity, leaf or roots changed:
//! an intention change must not throw away the session-ticket keys.

use std::sync::Arc;
use std::sync::Mutex;

use tessera_mesh::connect::intention::DestinationRules;
use tessera_mesh::connect::Decision;
use tokio::sync::watch;

use crate::config::ProxySnapshot;
use crate::tls::TlsConfigs;
use crate::tls::TlsError;

/// One snapshot version: the snapshot as received and the TLS configs that
/// serve it (possibly those of an earlier snapshot, when this one's leaf or
/// roots could not be used).
#[derive(Debug)]
pub struct Current {
    pub snapshot: ProxySnapshot,
    pub tls: Arc<TlsConfigs>,
    /// The snapshot's intentions for this service, sorted once here rather
    /// than on every connection.
    rules: DestinationRules,
}

impl Current {
    fn new(snapshot: ProxySnapshot, tls: Arc<TlsConfigs>) -> Current {
        let rules = DestinationRules::new(&snapshot.intentions, &snapshot.identity.service, snapshot.default_policy);
        Current { snapshot, tls, rules }
    }

    /// May `source` open a connection to this service, under this snapshot's
    /// intentions? The same decision the servers and the CLI make.
    pub fn allows(&self, source: &str) -> bool {
        self.rules.allows(source)
    }

    /// [`Current::allows`] with the reason and the deciding intention.
    pub fn authorize(&self, source: &str) -> Decision {
        self.rules.decide(source)
    }

    fn derive(snapshot: ProxySnapshot, previous: &Arc<TlsConfigs>) -> Current {
        if previous.built_from(&snapshot) {
            return Current::new(snapshot, previous.clone());
        }
        match TlsConfigs::build(&snapshot) {
            Ok(tls) => {
                // The feed already logged the change at info ("TLS Identity",
                // "TLS Roots"); this marks when new connections start using it.
                tracing::debug!(
                    identity = %tls.identity(),
                    roots = ?tls.root_names(),
                    serial = %snapshot.leaf.serial,
                    "TLS configuration updated"
                );
                Current::new(snapshot, Arc::new(tls))
            }
            Err(err) => {
                // Keep serving with the last good certificates; intentions
                // still follow the new snapshot.
                tracing::error!(error = %err, "new snapshot's certificates unusable, keeping the previous ones");
                Current::new(snapshot, previous.clone())
            }
        }
    }
}

/// A snapshot watch with the derived [`Current`] cached per version.
#[derive(Debug)]
pub struct Snapshots {
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    rx: watch::Receiver<ProxySnapshot>,
    current: Arc<Current>,
}

impl Snapshots {
    /// Fails if the first snapshot's certificates are unusable: there is no
    /// earlier one to fall back on.
    pub fn new(mut rx: watch::Receiver<ProxySnapshot>) -> Result<Snapshots, TlsError> {
        let snapshot = rx.borrow_and_update().clone();
        let tls = Arc::new(TlsConfigs::build(&snapshot)?);
        let current = Arc::new(Current::new(snapshot, tls));
        Ok(Snapshots { inner: Mutex::new(Inner { rx, current }) })
    }

    /// The newest snapshot's derived state. Cheap when nothing changed: a
    /// lock, a version comparison and an `Arc` clone.
    pub fn current(&self) -> Arc<Current> {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(snapshot) = unseen(&mut inner.rx) {
            inner.current = Arc::new(Current::derive(snapshot, &inner.current.tls));
        }
        inner.current.clone()
    }
}

/// The watch's value if this receiver has not seen it yet, without waiting.
/// A closed watch still yields the last value its sender put in.
pub fn unseen<T: Clone>(rx: &mut watch::Receiver<T>) -> Option<T> {
    if let Ok(false) = rx.has_changed() {
        return None;
    }
    let value = rx.borrow_and_update();
    value.has_changed().then(|| value.clone())
}
