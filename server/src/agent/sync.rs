//! Anti-entropy: the catalog holds exactly what this agent has. Pushed at
//! once on every local change, and in full every minute so a server that
//! lost something gets it back. Failed pushes are retried with backoff and
//! logged; nothing is dropped.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::agent::Agent;

const FULL_SYNC_EVERY: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub async fn run(agent: Arc<Agent>, shutdown: CancellationToken) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let wait = match agent.sink().write(agent.catalog_payload()).await {
            Ok(()) => {
                backoff = Duration::from_millis(250);
                FULL_SYNC_EVERY
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?backoff, "catalog sync failed");
                let wait = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = agent.changed() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}
