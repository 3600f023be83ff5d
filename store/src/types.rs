//! The Raft type configuration and the identity of a server in the cluster.

use std::fmt;
use std::io::Cursor;

use serde::Deserialize;
use serde::Serialize;

use crate::command::Command;
use crate::command::CommandResponse;

/// openraft's numeric node id: the first 8 bytes of the server's UUID
/// ([`ServerNode::node_id`]), so both names stay tied together.
pub type NodeId = u64;

/// A server as the Raft membership records it.
///
/// Stored format: written in Raft log entries and table rows, read back by
/// later versions; fields are only ever added (new ones with a default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerNode {
    /// The UUID made when the server's data dir was created (Consul's node ID).
    pub node_id: String,
    /// The node name (`-node`).
    pub name: String,
    /// host:port of the server RPC (gRPC) listener.
    pub rpc_addr: String,
}

impl fmt::Display for ServerNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.rpc_addr)
    }
}

/// Derives openraft's numeric id from a server UUID.
pub fn raft_id_of(node_uuid: &str) -> Option<NodeId> {
    let uuid = uuid::Uuid::parse_str(node_uuid).ok()?;
    let bytes = uuid.as_bytes();
    let mut first = [0u8; 8];
    first.copy_from_slice(&bytes[..8]);
    Some(u64::from_be_bytes(first))
}

openraft::declare_raft_types!(
    /// Tessera's Raft: commands in, command responses out, snapshots in memory.
    pub TypeConfig:
        D = Command,
        R = CommandResponse,
        NodeId = NodeId,
        Node = ServerNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, ServerNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, ServerNode>;
pub type Snapshot = openraft::storage::Snapshot<TypeConfig>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type Vote = openraft::Vote<NodeId>;
