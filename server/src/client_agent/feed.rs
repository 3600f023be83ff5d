//! A client agent's copy of the CA roots and intentions: one WatchConnect
//! stream at a time, to whichever server answers, resumed from the indexes
//! the agent holds.

use std::sync::Arc;
use std::time::Duration;

use tessera_proto::v1::WatchConnectRequest;
use tokio_util::sync::CancellationToken;

use crate::agent::connect::feed::apply;
use crate::agent::connect::AgentConnect;
use crate::client_agent::acl::RemoteResolver;
use crate::client_agent::pool::ServerPool;

const RECONNECT_MIN: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(5);

/// Client mode: one stream at a time, to whichever server answers.
/// ACL changes ride the same stream: `acl` resolves its tokens again.
pub async fn from_servers(
    servers: Arc<ServerPool>,
    (connect, acl): (Arc<AgentConnect>, Arc<RemoteResolver>),
    shutdown: CancellationToken,
) {
    let mut backoff = RECONNECT_MIN;
    loop {
        let (roots_index, intentions_index, trust_domain) = connect.held_indexes();
        let acl_index = acl.acl_index();
        let request = WatchConnectRequest { roots_index, intentions_index, trust_domain, acl_index };
        match servers.watch_connect(request).await {
            Ok(mut stream) => loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    message = stream.message() => match message {
                        Ok(Some(update)) => {
                            if let Some(foreign) = foreign_trust_domain(&connect, &update) {
                                tracing::error!(
                                    theirs = %foreign,
                                    "a server sent roots of another trust domain: ignored (this agent keeps the \
                                     cluster it joined; restart it to join a new one)"
                                );
                                break;
                            }
                            backoff = RECONNECT_MIN;
                            if update.acl_index != 0 {
                                acl.acl_changed(update.acl_index);
                            }
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

/// The trust domain of `update`'s roots when it is not the one this agent
/// already holds: one server alone cannot move a client agent to another
/// cluster.
fn foreign_trust_domain(connect: &AgentConnect, update: &tessera_proto::v1::ConnectUpdate) -> Option<String> {
    let (_, _, held) = connect.held_indexes();
    let theirs = &update.roots.as_ref()?.trust_domain;
    (!held.is_empty() && *theirs != held).then(|| theirs.clone())
}
