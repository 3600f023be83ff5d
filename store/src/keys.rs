//! Every column family and key layout of the data dir, defined once.
//!
//! Integers in keys are big-endian so that RocksDB's byte order is numeric
//! order (log entries iterate by index).

/// The column families. `Raft*` hold openraft's log and vote; `Sm*` and the
/// tables hold the replicated state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Cf {
    /// Vote and last purged log id (openraft's log store metadata).
    RaftMeta,
    /// Raft log entries by index.
    RaftLogs,
    /// State machine metadata: last applied log id, membership, cluster id,
    /// and each table's modify index.
    SmMeta,
    /// The KV table: key -> [`crate::tables::kv::KvEntry`].
    Kv,
    /// The most recent state machine snapshot, as sent to lagging followers.
    Snapshot,
    /// The service catalog: nodes, services, checks and their derived rows
    /// (name and Connect indexes, name summaries; see [`crate::tables::catalog`]).
    Catalog,
    /// Connect: CA roots and configuration, and intentions
    /// (see [`crate::tables::connect`]).
    Connect,
    /// ACL tokens, policies and roles, and the ACL system's settings
    /// (see [`crate::tables::acl`]).
    Acl,
}

impl Cf {
    pub const ALL: [Cf; 8] =
        [Cf::RaftMeta, Cf::RaftLogs, Cf::SmMeta, Cf::Kv, Cf::Snapshot, Cf::Catalog, Cf::Connect, Cf::Acl];

    /// The column families a state machine snapshot carries.
    pub const STATE: [Cf; 5] = [Cf::SmMeta, Cf::Kv, Cf::Catalog, Cf::Connect, Cf::Acl];

    /// Whether this column family holds a replicated table (read by key).
    pub fn is_table(self) -> bool {
        matches!(self, Cf::Kv | Cf::Catalog | Cf::Connect | Cf::Acl)
    }

    pub fn name(self) -> &'static str {
        match self {
            Cf::RaftMeta => "raft_meta",
            Cf::RaftLogs => "raft_logs",
            Cf::SmMeta => "sm_meta",
            Cf::Kv => "kv",
            Cf::Snapshot => "snapshot",
            Cf::Catalog => "catalog",
            Cf::Connect => "connect",
            Cf::Acl => "acl",
        }
    }

    /// A stable one-byte tag used in the snapshot format.
    pub fn tag(self) -> u8 {
        match self {
            Cf::RaftMeta => 1,
            Cf::RaftLogs => 2,
            Cf::SmMeta => 3,
            Cf::Kv => 4,
            Cf::Snapshot => 5,
            Cf::Catalog => 6,
            Cf::Connect => 7,
            Cf::Acl => 8,
        }
    }

    pub fn from_tag(tag: u8) -> Option<Cf> {
        Cf::ALL.into_iter().find(|cf| cf.tag() == tag)
    }
}

/// Keys in [`Cf::RaftMeta`].
pub mod raft_meta {
    pub const VOTE: &[u8] = b"vote";
    pub const LAST_PURGED: &[u8] = b"last_purged";
}

/// Keys in [`Cf::SmMeta`].
pub mod sm_meta {
    pub const LAST_APPLIED: &[u8] = b"last_applied";
    pub const MEMBERSHIP: &[u8] = b"membership";
    pub const CLUSTER_ID: &[u8] = b"cluster_id";
    /// Autopilot's configuration (`tables::autopilot`).
    pub const AUTOPILOT_CONFIG: &[u8] = b"autopilot_config";
    /// Prefix of `table_index/<table>`: the Raft index of the table's last change.
    pub const TABLE_INDEX_PREFIX: &str = "table_index/";
    /// Which version of the derived rows (secondary indexes rebuilt from the
    /// primary ones) the tables hold, and as of which applied index; see
    /// `tables::ensure_derived`.
    pub const DERIVED_VERSION: &[u8] = b"derived_version";
    /// Prefix of `once/client/<client u64 BE>`: a `Once` client's newest
    /// sequence number and last write's index (`tables::once`).
    pub const ONCE_CLIENT_PREFIX: &[u8] = b"once/client/";
    /// Prefix of `once/answer/<client u64 BE><first seq u64 BE>`: the
    /// answers of one applied batch of that client's writes, from that seq on.
    pub const ONCE_ANSWER_PREFIX: &[u8] = b"once/answer/";
}

/// Keys in [`Cf::Snapshot`].
pub mod snapshot {
    pub const CURRENT: &[u8] = b"current";
}

/// Raft log key: the entry index, big-endian.
pub fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

pub fn log_index(key: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&key[..8]);
    u64::from_be_bytes(buf)
}

pub fn once_client_key(client: u64) -> Vec<u8> {
    [sm_meta::ONCE_CLIENT_PREFIX, &client.to_be_bytes()].concat()
}

/// The answers of one client, all under this prefix.
#[cfg(test)]
pub fn once_answer_prefix(client: u64) -> Vec<u8> {
    [sm_meta::ONCE_ANSWER_PREFIX, &client.to_be_bytes()].concat()
}

/// The row of the batch whose first write was `seq`.
pub fn once_answer_key(client: u64, seq: u64) -> Vec<u8> {
    [sm_meta::ONCE_ANSWER_PREFIX, &client.to_be_bytes(), &seq.to_be_bytes()].concat()
}

/// The sequence number at the end of an answer key.
pub fn once_answer_seq(key: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(&key[key.len() - 8..]);
    u64::from_be_bytes(buf)
}

pub fn table_index_key(table: &str) -> Vec<u8> {
    format!("{}{table}", sm_meta::TABLE_INDEX_PREFIX).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_numerically() {
        assert!(log_key(255) < log_key(256));
        assert!(log_key(1) < log_key(u64::MAX));
        assert_eq!(log_index(&log_key(4242)), 4242);
    }

    #[test]
    fn snapshot_tags_round_trip() {
        for cf in Cf::ALL {
            assert_eq!(Cf::from_tag(cf.tag()), Some(cf));
        }
    }
}
