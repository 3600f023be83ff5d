//! The open inbound connections and who opened them, so that an intention
//! change can close those it now denies ("close-denied"). Each connection
//! registers after its handshake and is removed when its [`Registration`]
//! drops; closing one means cancelling its token, which its task selects on.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::sync::Mutex;

use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Entry>>,
}

#[derive(Debug)]
struct Entry {
    /// The peer's service name, as intentions name sources.
    source: String,
    cancel: CancellationToken,
}

/// Keeps a connection in the registry for as long as it lives.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register(self: &Arc<Self>, source: &str, cancel: CancellationToken) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Entry { source: source.to_string(), cancel });
        Registration { registry: self.clone(), id }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Cancels every open connection whose source `allowed` now refuses;
    /// returns how many. `allowed` is asked once per distinct source.
    pub fn close_denied(&self, mut allowed: impl FnMut(&str) -> bool) -> usize {
        let open = self.lock();
        let mut verdicts: HashMap<&str, bool> = HashMap::new();
        let mut closed = 0;
        for entry in open.values() {
            let ok = *verdicts.entry(entry.source.as_str()).or_insert_with(|| allowed(&entry.source));
            if !ok && !entry.cancel.is_cancelled() {
                entry.cancel.cancel();
                closed += 1;
            }
        }
        closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_only_denied_sources_and_forgets_dropped_connections() {
        let registry = Arc::new(Registry::default());
        let web = CancellationToken::new();
        let api = CancellationToken::new();
        let _w = registry.register("web", web.clone());
        let a = registry.register("api", api.clone());
        assert_eq!(registry.len(), 2);

        let mut asked = Vec::new();
        let closed = registry.close_denied(|source| {
            asked.push(source.to_string());
            source != "web"
        });
        assert_eq!(closed, 1);
        assert!(web.is_cancelled() && !api.is_cancelled());
        assert_eq!(asked.len(), 2);

        drop(a);
        assert_eq!(registry.len(), 1);
        assert_eq!(registry.close_denied(|_| false), 0, "already cancelled connections are not counted twice");
    }
}
