//! A running server: the Raft node, its store, and the operations every API
//! reaches it through. Writes, linearizable reads and membership changes
//! all run on the leader; [`Server::on_leader`] finds it, forwards, and
//! holds the request while an election is under way.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::AgentConfig;
use crate::consensus::discovery::Discovery;
use crate::consensus::forward;
use crate::consensus::observe;
use crate::consensus::proposer::Applied;
use crate::consensus::proposer::ProposeError;
use crate::consensus::proposer::Proposer;
use crate::consensus::raft::ClusterStamp;
use crate::consensus::read_rounds::ReadRounds;
use crate::metrics::Metrics;
use crate::tasks::Tasks;
use crate::transport::ChannelPool;
use tessera_store::command::Command;
use tessera_store::command::CommandResponse;
use tessera_store::types::NodeId;
use tessera_store::types::Raft;
use tessera_store::types::ServerNode;
use tessera_store::Store;

use crate::consensus::error::Attempt;
use crate::consensus::error::ServerError;

/// How a read is served. Consul's `?stale` and `?consistent`; the default
/// here is linearizable too (Consul's default only trusts the leader's view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consistency {
    Linearizable,
    Stale,
}

/// What a server shares with the rest of its agent: pooled channels, the
/// cluster stamp, the task tracker and the metrics.
pub struct ServerParts {
    pub pool: ChannelPool,
    pub stamp: ClusterStamp,
    pub tasks: Tasks,
    pub metrics: Arc<Metrics>,
    /// Refuses writes while the data dir's disk is nearly full.
    pub disk: Option<crate::disk::DiskGuard>,
}

impl ServerParts {
    /// Fresh channels (over `pool`'s TLS) and stamp, with the agent's tasks and metrics.
    pub fn new(pool: ChannelPool, tasks: &Tasks, metrics: Arc<Metrics>) -> ServerParts {
        ServerParts { pool, stamp: ClusterStamp::default(), tasks: tasks.clone(), metrics, disk: None }
    }
}

/// A call on the leader made no progress in time.
struct Stalled;

pub struct Server {
    pub config: AgentConfig,
    pub me: ServerNode,
    pub raft_id: NodeId,
    pub raft: Raft,
    pub store: Arc<Store>,
    /// After `store`: tells a closing store when this server lets go of it.
    _store_release: tessera_store::Release,
    pub pool: ChannelPool,
    pub stamp: ClusterStamp,
    pub discovery: Discovery,
    /// Where this server's long-lived tasks run, and the token that stops them.
    pub tasks: Tasks,
    /// This agent's series, recorded into by every layer that holds the server.
    pub metrics: Arc<Metrics>,
    proposer: Proposer,
    /// This process's id as the client of its `Command::Once` writes:
    /// random, so a restarted server never reuses a (client, seq).
    once_client: u64,
    /// The last sequence number given to a write.
    once_seq: AtomicU64,
    read_rounds: ReadRounds,
    pub disk: Option<crate::disk::DiskGuard>,
}

impl Server {
    /// The running node; `parts` are what `start` built around Raft.
    pub fn new(config: AgentConfig, me: ServerNode, raft: Raft, store: Arc<Store>, parts: ServerParts) -> Self {
        let ServerParts { pool, stamp, tasks, metrics, disk } = parts;
        let raft_id = raft.metrics().borrow().id;
        let proposer = Proposer::start(raft.clone(), &tasks, metrics.clone());
        tasks.spawn(observe::follow(raft.clone(), metrics.clone(), tasks.shutdown().clone()));
        let discovery = Discovery::new(me.clone());
        let _store_release = store.release();
        let read_rounds = ReadRounds::default();
        Server {
            config,
            me,
            raft_id,
            raft,
            store,
            _store_release,
            pool,
            stamp,
            discovery,
            tasks,
            metrics,
            proposer,
            once_client: rand::random(),
            once_seq: AtomicU64::new(0),
            read_rounds,
            disk,
        }
    }

    /// The leader as this server currently knows it.
    pub fn leader(&self) -> Option<(NodeId, ServerNode)> {
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let id = metrics.current_leader?;
        let node = metrics.membership_config.membership().get_node(&id)?.clone();
        Some((id, node))
    }

    pub fn is_leader(&self) -> bool {
        self.leader().is_some_and(|(id, _)| id == self.raft_id)
    }

    /// Runs `local` if this server leads, `remote` against the leader
    /// otherwise, retrying through elections until the hold timeout.
    pub async fn on_leader<T, L, R, LF, RF>(&self, what: &str, local: L, remote: R) -> Result<T, ServerError>
    where
        L: Fn() -> LF,
        LF: Future<Output = Result<T, Attempt>>,
        R: Fn(ServerNode) -> RF,
        RF: Future<Output = Result<T, Attempt>>,
    {
        let deadline = Instant::now() + self.config.rpc_hold_timeout;
        let mut metrics = self.raft.metrics();
        loop {
            // Bounded too: a leader cut off from its quorum never commits.
            // But only while nothing commits: behind a backlog of large
            // writes the wait is long and the leader is fine.
            let attempt = match self.leader() {
                Some((id, _)) if id == self.raft_id => {
                    Some(self.while_committing(local(), self.config.rpc_hold_timeout).await)
                }
                Some((_, node)) => Some(tokio::time::timeout_at(deadline, remote(node)).await.map_err(|_| Stalled)),
                None => None,
            };
            match attempt {
                Some(Ok(Ok(value))) => return Ok(value),
                Some(Ok(Err(Attempt::Fail(e)))) => return Err(e),
                Some(Ok(Err(Attempt::Retry(reason)))) => tracing::debug!(what, reason, "retrying on the leader"),
                Some(Err(_stalled)) => return Err(ServerError::NoLeader),
                None => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ServerError::NoLeader);
            }
            // Wake on any Raft state change (a new leader), or re-try soon.
            let pause = Duration::from_millis(50).min(deadline - now);
            // A closed metrics channel (Raft stopped) must not turn this into a busy loop.
            if let Ok(Err(_closed)) = tokio::time::timeout(pause, metrics.changed()).await {
                tokio::time::sleep(pause).await;
            }
        }
    }

    /// Awaits `work` as long as this server keeps applying entries: it fails
    /// once nothing has been applied for `stall` (a leader without its
    /// quorum applies nothing).
    async fn while_committing<F: Future>(&self, work: F, stall: Duration) -> Result<F::Output, Stalled> {
        let applied = |server: &Server| server.raft.metrics().borrow().last_applied.map_or(0, |l| l.index);
        tokio::pin!(work);
        let mut seen = applied(self);
        loop {
            match tokio::time::timeout(stall, &mut work).await {
                Ok(done) => return Ok(done),
                Err(_) => {
                    let now = applied(self);
                    if now == seen {
                        return Err(Stalled);
                    }
                    seen = now;
                }
            }
        }
    }

    /// Commits `command` through Raft and returns what applying it answered.
    ///
    /// Exactly once: the command goes in a `Command::Once` with this
    /// server's client id and the next sequence number, the same on every
    /// retry of it, so a retry after an ambiguous failure (a forward that
    /// timed out after the leader applied it, a leader that lost its
    /// leadership after committing) is answered what the first attempt was.
    pub async fn write(&self, command: Command) -> Result<Applied, ServerError> {
        let (client, seq) = crate::consensus::once::forwarded_write()
            .unwrap_or_else(|| (self.once_client, self.once_seq.fetch_add(1, Ordering::Relaxed) + 1));
        let command = Command::Once { client, seq, command: Box::new(command) };
        let applied = self.write_as_is(command).await?;
        if applied.response == CommandResponse::Forgotten {
            return Err(ServerError::Unavailable(format!(
                "write {seq} of this server was retried too late to know whether it applied"
            )));
        }
        Ok(applied)
    }

    async fn write_as_is(&self, command: Command) -> Result<Applied, ServerError> {
        // Forwards so far: each retry waits twice as long for the answer.
        let forwarded = std::sync::atomic::AtomicU32::new(0);
        let attempts = std::sync::atomic::AtomicU32::new(0);
        self.on_leader(
            "write",
            || async {
                let first = attempts.fetch_add(1, Ordering::Relaxed) == 0;
                match self.propose_local(command.clone()).await {
                    Ok(applied) => Ok(applied),
                    Err(ProposeError::NotLeader) => Err(Attempt::Retry("leadership moved".into())),
                    Err(ProposeError::Stopped(reason)) => Err(Attempt::Fail(ServerError::Unavailable(reason))),
                    Err(ProposeError::DiskFull(message)) => Err(Attempt::Fail(no_room(message, first))),
                }
            },
            |leader| {
                let command = command.clone();
                let first = attempts.fetch_add(1, Ordering::Relaxed) == 0;
                let tries = forwarded.fetch_add(1, Ordering::Relaxed).min(16);
                let timeout = self.config.forward_timeout.saturating_mul(1 << tries);
                async move {
                    match forward::apply(&self.pool, &leader, &command, timeout).await {
                        Err(Attempt::Fail(ServerError::InsufficientStorage(message))) => {
                            Err(Attempt::Fail(no_room(message, first)))
                        }
                        other => other,
                    }
                }
            },
        )
        .await
    }

    /// Commits a write on this server, the leader (its own, or one a peer
    /// forwarded); never forwards. The leader appends first, so it refuses
    /// before its disk fills (the reserve is far above the largest entry,
    /// so the entry's own size need not be computed), except a retry of a
    /// write that has applied: that gets its first answer, not a refusal
    /// it would take for "not written". A server that no longer leads
    /// says so (the caller retries on the leader) whatever its disk.
    /// (Membership changes, rare and small, are not held to the reserve.)
    pub async fn propose_local(&self, command: Command) -> Result<Applied, ProposeError> {
        if let Some(Err(full)) = self.disk.as_ref().map(|disk| disk.check(0)) {
            if self.is_leader() {
                return self.answered_before(&command).ok_or(ProposeError::DiskFull(full));
            }
        }
        self.proposer.propose(command).await
    }

    /// What a `Once` write answered when it applied here, if remembered;
    /// with the last applied index, at or past the write's own (which is
    /// not kept), as its `X-Consul-Index`.
    fn answered_before(&self, command: &Command) -> Option<Applied> {
        let Command::Once { client, seq, .. } = command else { return None };
        let response = self.store.once_answer(*client, *seq).ok()??;
        let index = self.raft.metrics().borrow().last_applied.map_or(0, |log_id| log_id.index);
        Some(Applied { response, index })
    }

    /// Returns once this server's state machine reflects every write
    /// acknowledged before the call (read-index through the leader), in a
    /// round shared with the reads waiting beside it.
    pub async fn read_barrier(&self, consistency: Consistency) -> Result<(), ServerError> {
        if consistency == Consistency::Stale {
            return Ok(());
        }
        self.read_rounds.barrier(|| self.read_round()).await
    }

    /// Returns once this server's state machine reflects every write the
    /// cluster acknowledged before the call, for a check made against it
    /// before a request is served (the rules of the token it presents,
    /// the names a write refers to): a deleted token is then refused here
    /// as on the leader. A follower asks the leader for its read index (in
    /// a round shared with the reads beside it). A leader that has applied
    /// an entry of its own term has applied everything committed before
    /// it, and it applies each write before acknowledging it; and while a
    /// quorum acknowledged it within the shortest election timeout, no
    /// other leader can have been elected (a follower votes only after the
    /// longest): it has nothing to wait for. A leader just elected, or one
    /// that has not heard from its quorum (cut off, or handing leadership
    /// over), takes the round to the quorum instead.
    pub async fn catch_up(&self) -> Result<(), ServerError> {
        if self.is_leader() && self.leads_current_state() {
            return Ok(());
        }
        self.read_barrier(Consistency::Linearizable).await
    }

    fn leads_current_state(&self) -> bool {
        let lease = self.raft.config().election_timeout_min;
        let metrics = self.raft.metrics();
        let metrics = metrics.borrow();
        let heard = metrics.millis_since_quorum_ack.is_some_and(|ms| ms < lease);
        heard && metrics.last_applied.is_some_and(|log_id| log_id.leader_id.term == metrics.current_term)
    }

    async fn read_round(&self) -> Result<(), ServerError> {
        self.on_leader(
            "read",
            || async {
                match self.raft.ensure_linearizable().await {
                    Ok(_) => Ok(()),
                    // Raft stops at shutdown: no leader will come back here.
                    Err(_) if self.tasks.shutdown().is_cancelled() => {
                        Err(Attempt::Fail(ServerError::Unavailable("this agent is shutting down".into())))
                    }
                    Err(e) => Err(Attempt::Retry(e.to_string())),
                }
            },
            |leader| async move {
                let index = forward::read_index(&self.pool, &leader).await?;
                self.wait_applied(index).await
            },
        )
        .await
    }

    async fn wait_applied(&self, index: u64) -> Result<(), Attempt> {
        let wait = self.raft.wait(Some(self.config.rpc_hold_timeout));
        wait.applied_index_at_least(Some(index), "read index")
            .await
            .map(|_| ())
            .map_err(|e| Attempt::Retry(format!("waiting to apply {index}: {e}")))
    }
}

/// A full disk's refusal of a write. It means "not written" only on the
/// first attempt: a retry follows one that went unanswered and may yet
/// apply (the leader had not applied it when it looked), so then the
/// answer is as ambiguous as that attempt was.
fn no_room(message: String, first_attempt: bool) -> ServerError {
    match first_attempt {
        true => ServerError::InsufficientStorage(message),
        false => ServerError::Unavailable(crate::consensus::error::refusal_after_unanswered(&message)),
    }
}
