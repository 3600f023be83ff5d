//! Raft's series: what openraft's metrics watch shows (term, indexes,
//! leadership), the transitions counted as they are seen, and the
//! proposer's writes and their commit time on the leader.

use std::sync::Mutex;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

use crate::metrics::millis_since;
use crate::metrics::timer;
use crate::metrics::Builder;

/// One reading of the Raft node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RaftSample {
    pub term: u64,
    pub last_index: u64,
    pub applied_index: u64,
    /// The leader this node knows, if any.
    pub leader: Option<u64>,
    pub is_leader: bool,
    pub is_candidate: bool,
}

#[derive(Debug)]
pub struct RaftMetrics {
    term: Gauge,
    last_index: Gauge,
    applied_index: Gauge,
    is_leader: Gauge,
    became_leader: Counter,
    became_candidate: Counter,
    leader_changes: Counter,
    applied: Counter,
    commit_time: Histogram,
    /// The last sample seen, to count transitions between two.
    last: Mutex<Option<RaftSample>>,
}

impl RaftMetrics {
    pub(crate) fn register(b: &mut Builder<'_>) -> RaftMetrics {
        let m = RaftMetrics {
            term: Gauge::default(),
            last_index: Gauge::default(),
            applied_index: Gauge::default(),
            is_leader: Gauge::default(),
            became_leader: Counter::default(),
            became_candidate: Counter::default(),
            leader_changes: Counter::default(),
            applied: Counter::default(),
            commit_time: timer(),
            last: Mutex::new(None),
        };
        b.register("consul.raft.term", "The current Raft term", m.term.clone());
        b.register("consul.raft.last_index", "The index of the last entry in the Raft log", m.last_index.clone());
        b.register("consul.raft.applied_index", "The index of the last entry applied", m.applied_index.clone());
        b.register("consul.server.isLeader", "1 while this server is the Raft leader, else 0", m.is_leader.clone());
        b.register("consul.raft.state.leader", "Times this server became the leader", m.became_leader.clone());
        b.register("consul.raft.state.candidate", "Elections this server started", m.became_candidate.clone());
        b.register("tessera.raft.leader_changes", "Changes of the leader this server knows", m.leader_changes.clone());
        b.register("consul.raft.apply", "Writes committed through Raft by this leader", m.applied.clone());
        let commit_help = "Milliseconds from proposing a batch of writes on the leader to its being applied";
        b.register("consul.raft.commitTime", commit_help, m.commit_time.clone());
        m
    }

    /// Takes a new reading: sets the gauges, counts the transitions since
    /// the last one (a first reading counts what it finds).
    pub fn observe(&self, now: RaftSample) {
        self.term.set(now.term as i64);
        self.last_index.set(now.last_index as i64);
        self.applied_index.set(now.applied_index as i64);
        self.is_leader.set(i64::from(now.is_leader));
        let mut last = self.last.lock().expect("raft metrics lock");
        let before = last.unwrap_or_default();
        if now.is_leader && !before.is_leader {
            self.became_leader.inc();
        }
        if now.is_candidate && !before.is_candidate {
            self.became_candidate.inc();
        }
        if now.leader.is_some() && now.leader != before.leader {
            self.leader_changes.inc();
        }
        *last = Some(now);
    }

    /// A batch of `writes` proposed at `start` has been applied.
    pub fn committed(&self, writes: usize, start: Instant) {
        self.applied.inc_by(writes as u64);
        self.commit_time.observe(millis_since(start));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    #[test]
    fn transitions_are_counted_once_each() {
        let metrics = Metrics::client();
        let raft = &metrics.raft;
        let follower = RaftSample { term: 1, leader: Some(2), ..RaftSample::default() };
        raft.observe(follower);
        raft.observe(follower);
        raft.observe(RaftSample { term: 2, is_candidate: true, ..RaftSample::default() });
        raft.observe(RaftSample { term: 2, leader: Some(1), is_leader: true, ..RaftSample::default() });
        assert_eq!(raft.leader_changes.get(), 2);
        assert_eq!(raft.became_candidate.get(), 1);
        assert_eq!(raft.became_leader.get(), 1);
        assert_eq!(raft.term.get(), 2);
        assert_eq!(raft.is_leader.get(), 1);
    }
}
