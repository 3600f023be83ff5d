//! Keeps the agent's roots and intentions current. On a server they come
//! straight from the local store; a client agent holds a WatchConnect
//! stream to a server, which pushes each change with its Raft index and,
//! after a reconnect, resumes from the indexes the agent already holds.

use tessera_proto::convert::connect::intentions_failing_closed;
use tessera_proto::v1::ConnectUpdate;
use tessera_proto::v1::Intentions;

use crate::agent::connect::AgentConnect;
use crate::agent::connect::IntentionSet;

pub fn intention_set(message: &Intentions) -> IntentionSet {
    let (intentions, unreadable) = intentions_failing_closed(&message.intentions);
    for reason in unreadable {
        tracing::error!("{reason}");
    }
    IntentionSet { index: message.index, intentions }
}

/// Applies one WatchConnect update, from a stream or from the store.
pub fn apply(connect: &AgentConnect, update: ConnectUpdate) {
    let (_, _, held_domain) = connect.held_indexes();
    let new_cluster = update.roots.as_ref().is_some_and(|r| !held_domain.is_empty() && r.trust_domain != held_domain);
    if let Some(roots) = update.roots {
        connect.publish_roots(roots);
    }
    if let Some(intentions) = update.intentions {
        connect.publish_intentions(intention_set(&intentions), new_cluster);
    }
}
