//! A leader whose data dir's disk is under the reserve refuses every write
//! (it appends each one first), so one full server that leads would stop
//! the whole cluster's writes. It hands leadership to another voter
//! instead: as a follower it refuses entries until space returns while the
//! others make the quorum, and then catches up.

use std::sync::Weak;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::consensus::Server;

/// How often a leader looks at its disk when no write was refused.
const LOOK_EVERY: Duration = Duration::from_secs(1);
/// After a transfer that failed (no other voter, none caught up), the
/// next try waits this long.
const AFTER_FAILURE: Duration = Duration::from_secs(10);

/// Runs until shutdown or until the server is gone.
pub async fn step_down_while_full(server: Weak<Server>, shutdown: CancellationToken) {
    let Some(disk) = server.upgrade().and_then(|s| s.disk.clone()) else { return };
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = disk.refused() => {}
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
        let Some(server) = server.upgrade() else { return };
        if !server.is_leader() || !disk.under_reserve() {
            continue;
        }
        tracing::warn!("the data dir's disk is under the reserve: handing leadership to another server");
        let handed = tokio::select! {
            _ = shutdown.cancelled() => return,
            handed = server.transfer_leader(None) => handed,
        };
        drop(server);
        if let Err(e) = handed {
            tracing::warn!(error = %e, "could not hand leadership over; writes stay refused until space is freed");
            // Refusals meanwhile do not shorten this: with no other voter
            // every write would start another try at once.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(AFTER_FAILURE) => {}
            }
        }
    }
}
