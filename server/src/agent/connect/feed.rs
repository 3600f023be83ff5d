//! Keeps the agent's roots and intentions current. On a server they come
//! straight from the local store; a client agent holds a WatchConnect
//! stream to a server, which pushes each change with its Raft index and,
//! after a reconnect, resumes from the indexes the agent already holds.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

use tessera_proto::convert::connect::intentions_failing_closed;
use tessera_proto::v1::ConnectUpdate;
use tessera_proto::v1::Intentions;
use tessera_proto::v1::WatchConnectRequest;
use tokio_util::sync::CancellationToken;

use crate::agent::connect::AgentConnect;
use crate::agent::connect::IntentionSet;
use crate::client_agent::pool::ServerPool;
use crate::server::Server;
use tessera_store::Table;

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

pub fn intention_set(message: &Intentions) -> IntentionSet {
    let (intentions, unreadable) = intentions_failing_closed(&message.intentions);
    for reason in unreadable {
        tracing::error!("{reason}");
    }
    IntentionSet { index: message.index, intentions }
}

fn apply(connect: &AgentConnect, update: ConnectUpdate) {
    let (_, _, held_domain) = connect.held_indexes();
    let new_cluster = update.roots.as_ref().is_some_and(|r| !held_domain.is_empty() && r.trust_domain != held_domain);
    if let Some(roots) = update.roots {
        connect.publish_roots(roots);
    }
    if let Some(intentions) = update.intentions {
        connect.publish_intentions(intention_set(&intentions), new_cluster);
    }
}

/// Server mode: whenever the store's tables move, what a WatchConnect
/// stream from this server would send, applied in place.
pub async fn from_store(server: Weak<Server>, connect: Arc<AgentConnect>, shutdown: CancellationToken) {
    let Some(subscriptions) =
        server.upgrade().map(|s| (s.store.subscribe(Table::Roots), s.store.subscribe(Table::Intentions)))
    else {
        return;
    };
    let (mut roots, mut intentions) = subscriptions;
    let mut held = WatchConnectRequest::default();
    loop {
        let Some(server) = server.upgrade() else { return };
        match crate::cluster::agent_api::connect_update(&server, &mut held) {
            Ok(update) => apply(&connect, update),
            Err(e) => tracing::warn!(error = %e, "cannot read the CA roots or intentions"),
        }
        drop(server);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = roots.changed() => if changed.is_err() { return },
            changed = intentions.changed() => if changed.is_err() { return },
        }
    }
}

/// Client mode: one stream at a time, to whichever server answers.
pub async fn from_servers(servers: Arc<ServerPool>, connect: Arc<AgentConnect>, shutdown: CancellationToken) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let (roots_index, intentions_index, trust_domain) = connect.held_indexes();
        let request = WatchConnectRequest { roots_index, intentions_index, trust_domain };
        match servers.watch_connect(request).await {
            Ok(mut stream) => loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    message = stream.message() => match message {
                        Ok(Some(update)) => {
                            backoff = RECONNECT_MIN;
                            apply(&connect, update);
                        }
                        Ok(None) => break,
                        Err(status) => {
                            tracing::debug!(error = %status.message(), "connect watch stream ended");
                            break;
                        }
                    },
                }
            },
            Err(status) => tracing::debug!(error = %status.message(), "cannot open the connect watch stream"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(RECONNECT_MAX);
    }
}
