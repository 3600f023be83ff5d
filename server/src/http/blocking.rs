//! Query options shared by reads: consistency (`?stale`, `?consistent`) and
//! blocking (`?index=&wait=`), as Consul defines them.

use std::time::Duration;

use rand::Rng;
use tessera_mesh::catalog::duration;

use crate::consensus::Consistency;
use crate::consensus::Server;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use tessera_store::Table;

const DEFAULT_WAIT: Duration = Duration::from_secs(300);
const MAX_WAIT: Duration = Duration::from_secs(600);

pub struct QueryOptions {
    pub consistency: Consistency,
    /// Block until the table's index exceeds this.
    pub min_index: Option<u64>,
    pub wait: Duration,
}

impl QueryOptions {
    pub fn parse(params: &QueryParams) -> Result<Self, ApiError> {
        let consistency = if params.contains_key("stale") { Consistency::Stale } else { Consistency::Linearizable };
        let min_index = match params.get("index") {
            None => None,
            Some(raw) => Some(raw.parse::<u64>().map_err(|_| ApiError::bad_request(format!("Invalid index {raw:?}")))?),
        };
        let wait = match params.get("wait") {
            None => DEFAULT_WAIT,
            Some(raw) => {
                duration::parse(raw).ok_or_else(|| ApiError::bad_request(format!("Invalid wait time {raw:?}")))?
            }
        };
        Ok(QueryOptions { consistency, min_index, wait: wait.min(MAX_WAIT) })
    }

    /// Waits (when asked) for `table` to change past `?index`, then makes the
    /// read consistent. A timeout is not an error: the caller answers with
    /// whatever is current, as Consul does.
    ///
    /// However the wait ends (a change, the timeout, or nothing to
    /// wait for), a default-consistency read then takes the read barrier:
    /// the change that woke a query is newer than what its caller had seen,
    /// not necessarily as new as what the cluster has acknowledged. A
    /// follower catching up after a partition applies one entry at a time,
    /// and answering from the first would return a value overwritten (and
    /// acknowledged) before the query was sent (t56 in cluster-tests).
    /// `?stale` stays local.
    pub async fn prepare(&self, server: &Server, table: Table) -> Result<(), ApiError> {
        if let Some(min_index) = self.min_index.filter(|i| *i > 0) {
            // Up to wait/16 of jitter spreads out watchers that all time out together.
            let jitter_ms = rand::thread_rng().gen_range(0..=(self.wait.as_millis() as u64 / 16).max(1));
            let deadline = self.wait + Duration::from_millis(jitter_ms);
            let mut changes = server.store.subscribe(table);
            // Already past the index: nothing to wait for.
            if *changes.borrow_and_update() <= min_index {
                let stopping = tokio::select! {
                    _ = server.tasks.shutdown().cancelled() => true,
                    _ = tokio::time::timeout(deadline, changes.wait_for(|index| *index > min_index)) => false,
                };
                // A stopping agent answers at once with what it has: nothing
                // newer than the caller's index (no change woke it), and
                // Raft may already be down, so no barrier is possible. The
                // store closes once every request has ended.
                if stopping {
                    return Ok(());
                }
            }
        }
        server.read_barrier(self.consistency).await?;
        Ok(())
    }
}

/// Waits as `params` ask on `table`; the read that follows reports the
/// index it was read at.
pub async fn prepare_table(server: &Server, params: &QueryParams, table: Table) -> Result<(), ApiError> {
    QueryOptions::parse(params)?.prepare(server, table).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_is_capped_and_index_must_be_a_number() {
        let params = QueryParams::parse("wait=1h");
        assert_eq!(QueryOptions::parse(&params).ok().unwrap().wait, MAX_WAIT);
        let params = QueryParams::parse("index=x");
        assert!(QueryOptions::parse(&params).is_err());
    }
}
