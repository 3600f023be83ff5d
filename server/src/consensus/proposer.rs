//! Batches concurrent writes on the leader into one Raft entry.
//!
//! Each Raft entry costs a replication round trip and an fsync on a quorum
//! of servers. One entry is in flight at a time; writers that arrive
//! meanwhile queue, and the next entry takes all of them as one
//! `Command::Batch`. Under load the next entry also lingers (up to
//! [`LINGER`]) for the writers the last one just answered, who are usually
//! back within a fraction of a millisecond: otherwise closed-loop clients
//! split into two halves riding alternate entries, halving throughput.
//! A lone writer never waits.

use openraft::error::ClientWriteError;
use openraft::error::RaftError;
use tokio::sync::mpsc;
use tokio::sync::oneshot;

use std::sync::Arc;

use tokio::time::Instant;

use crate::metrics::Metrics;
use crate::tasks::Tasks;

use tessera_store::command::Command;
use tessera_store::command::CommandResponse;
use tessera_store::types::NodeId;
use tessera_store::types::Raft;
use tessera_store::types::ServerNode;

/// How long the next entry may wait for writers the last commit answered.
/// Only under load (the last entry carried more than one write); a lone
/// writer never waits.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);
const MAX_BATCH: usize = 1024;
const QUEUE: usize = 16 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("not the leader")]
    NotLeader,
    #[error("raft stopped: {0}")]
    Stopped(String),
}

/// A committed and applied write.
#[derive(Debug, Clone)]
pub struct Applied {
    pub response: CommandResponse,
    /// Raft index of the entry that carried it.
    pub index: u64,
}

struct Pending {
    command: Command,
    reply: oneshot::Sender<Result<Applied, ProposeError>>,
}

#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::Sender<Pending>,
}

impl Proposer {
    /// Starts the batching loop on `tasks`; it ends when every `Proposer`
    /// clone is dropped or the agent stops.
    pub fn start(raft: Raft, tasks: &Tasks, metrics: Arc<Metrics>) -> Proposer {
        let (queue, rx) = mpsc::channel(QUEUE);
        let shutdown = tasks.shutdown().clone();
        tasks.spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = batch_loop(raft, rx, metrics) => {}
            }
        });
        Proposer { queue }
    }

    pub async fn propose(&self, command: Command) -> Result<Applied, ProposeError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ProposeError::Stopped("proposer closed".into());
        self.queue.send(Pending { command, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn batch_loop(raft: Raft, mut rx: mpsc::Receiver<Pending>, metrics: Arc<Metrics>) {
    // Writers answered by the last commit; most will be back with their next
    // write within a moment, and should ride the next entry rather than the
    // one after it.
    let mut answered = 0;
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        drain_ready(&mut rx, &mut batch);
        if answered > 1 {
            let expected = answered.min(MAX_BATCH);
            linger(&mut rx, &mut batch, expected).await;
        }
        answered = batch.len();
        commit_batch(&raft, batch, &metrics).await;
    }
}

fn drain_ready(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(next) => batch.push(next),
            Err(_) => break,
        }
    }
}

/// Waits, at most [`LINGER`], until `expected` writes are queued.
async fn linger(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>, expected: usize) {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(next)) => {
                batch.push(next);
                drain_ready(rx, batch);
            }
            Ok(None) | Err(_) => return,
        }
    }
}

async fn commit_batch(raft: &Raft, mut batch: Vec<Pending>, metrics: &Metrics) {
    let command = if batch.len() == 1 {
        batch[0].command.clone()
    } else {
        Command::Batch { commands: batch.iter().map(|p| p.command.clone()).collect() }
    };
    let start = Instant::now();
    let result = raft.client_write(command).await;
    if result.is_ok() {
        metrics.raft.committed(batch.len(), start);
    }
    let answers: Vec<Result<Applied, ProposeError>> = match result {
        Ok(written) => {
            let index = written.log_id.index;
            let responses = match (batch.len(), written.data) {
                (1, single) => vec![single],
                (_, CommandResponse::Batch(many)) => many,
                (n, other) => vec![other; n],
            };
            responses.into_iter().map(|response| Ok(Applied { response, index })).collect()
        }
        Err(e) => vec![Err(propose_error(e)); batch.len()],
    };
    for (pending, answer) in batch.drain(..).zip(answers) {
        let _ = pending.reply.send(answer);
    }
}

fn propose_error(e: RaftError<NodeId, ClientWriteError<NodeId, ServerNode>>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => ProposeError::NotLeader,
        RaftError::APIError(other) => ProposeError::Stopped(other.to_string()),
        RaftError::Fatal(fatal) => ProposeError::Stopped(fatal.to_string()),
    }
}
