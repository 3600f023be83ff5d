//! Per-table modify indexes as watch channels: what blocking queries and
//! watch streams wait on. A table's index is the Raft index of its last
//! change; it only moves forward, except when a snapshot is installed.

use tokio::sync::watch;

/// The replicated tables. Each has its own modify index so that a change to
/// one does not wake watchers of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Kv,
    /// Nodes, services and checks together: a health answer depends on all three.
    Catalog,
    /// CA roots and the CA configuration.
    Roots,
    Intentions,
    /// ACL tokens, policies and roles.
    Acl,
}

impl Table {
    /// In declaration order, so `table as usize` is a table's position here.
    pub const ALL: [Table; 5] = [Table::Kv, Table::Catalog, Table::Roots, Table::Intentions, Table::Acl];

    pub fn name(self) -> &'static str {
        match self {
            Table::Kv => "kv",
            Table::Catalog => "catalog",
            Table::Roots => "roots",
            Table::Intentions => "intentions",
            Table::Acl => "acl",
        }
    }
}

/// One sender per table, at the table's position in [`Table::ALL`].
pub struct TableWatches {
    senders: [watch::Sender<u64>; Table::ALL.len()],
}

impl TableWatches {
    pub fn new(initial: impl Fn(Table) -> u64) -> Self {
        TableWatches { senders: Table::ALL.map(|table| watch::Sender::new(initial(table))) }
    }

    fn sender(&self, table: Table) -> &watch::Sender<u64> {
        &self.senders[table as usize]
    }

    /// Publishes a table's new index (after the change is written).
    pub fn publish(&self, table: Table, index: u64) {
        self.sender(table).send_replace(index);
    }

    pub fn current(&self, table: Table) -> u64 {
        *self.sender(table).borrow()
    }

    pub fn subscribe(&self, table: Table) -> watch::Receiver<u64> {
        self.sender(table).subscribe()
    }
}
