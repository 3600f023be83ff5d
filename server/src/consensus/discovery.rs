//! The servers this one has heard of, from -retry-join probes and from
//! what probed peers know. Views are exchanged both ways on every probe, so
//! every server converges on the same set.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tessera_store::types::ServerNode;

pub struct Discovery {
    known: Mutex<BTreeMap<String, ServerNode>>,
}

impl Discovery {
    pub fn new(me: ServerNode) -> Self {
        let mut known = BTreeMap::new();
        known.insert(me.node_id.clone(), me);
        Discovery { known: Mutex::new(known) }
    }

    pub fn merge(&self, nodes: impl IntoIterator<Item = ServerNode>) {
        let mut known = self.known.lock().expect("discovery lock");
        for node in nodes {
            if !node.node_id.is_empty() {
                known.insert(node.node_id.clone(), node);
            }
        }
    }

    /// Every known server, ordered by node id.
    pub fn servers(&self) -> Vec<ServerNode> {
        self.known.lock().expect("discovery lock").values().cloned().collect()
    }
}

/// Among servers that all see the same set, the one with the lowest node id
/// bootstraps: a choice every server makes alike without talking.
pub fn bootstrapper(servers: &[ServerNode]) -> Option<&ServerNode> {
    servers.iter().min_by(|a, b| a.node_id.cmp(&b.node_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str) -> ServerNode {
        ServerNode { node_id: id.into(), name: format!("n-{id}"), rpc_addr: format!("{id}:8300") }
    }

    #[test]
    fn merging_dedups_by_node_id_and_keeps_order() {
        let discovery = Discovery::new(node("b"));
        discovery.merge([node("c"), node("a"), node("b"), node("")]);
        let ids: Vec<_> = discovery.servers().into_iter().map(|n| n.node_id).collect();
        assert_eq!(ids, vec!["a", "b", "c"]);
    }

    #[test]
    fn the_lowest_id_bootstraps() {
        let servers = vec![node("b"), node("a"), node("c")];
        assert_eq!(bootstrapper(&servers).unwrap().node_id, "a");
        assert!(bootstrapper(&[]).is_none());
    }
}
