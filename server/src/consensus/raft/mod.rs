//! Raft between servers over gRPC: [`network`] is the client side openraft
//! calls, [`service`] the server side that feeds peers' RPCs to openraft.

pub mod network;
pub mod service;

/// The cluster id a server stamps on its Raft traffic. Empty until the first
/// leader has recorded one.
#[derive(Clone, Default)]
pub struct ClusterStamp {
    id: std::sync::Arc<std::sync::RwLock<String>>,
}

impl ClusterStamp {
    pub fn get(&self) -> String {
        self.id.read().expect("cluster stamp lock").clone()
    }

    pub fn set(&self, id: &str) {
        *self.id.write().expect("cluster stamp lock") = id.to_string();
    }

    /// Whether traffic stamped `theirs` may be accepted: equal ids, or either
    /// side not yet knowing its cluster.
    pub fn accepts(&self, theirs: &str) -> bool {
        let ours = self.get();
        ours.is_empty() || theirs.is_empty() || ours == theirs
    }
}
