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
//!
//! An entry is capped in bytes as well as in writes ([`MAX_ENTRY_BYTES`]):
//! followers refuse an AppendEntries larger than the server port's message
//! limit, so an entry of a hundred 512 KiB values would never replicate and
//! every write would fail while leadership churned.

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
/// The encoded commands of one entry, at most (a single larger command
/// still goes alone). With one entry per AppendEntries
/// (`openraft_config`), a follower gets at most this much per round trip,
/// far under the 64 MiB a server accepts and quick to send.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;
const QUEUE: usize = 16 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("not the leader")]
    NotLeader,
    #[error("raft stopped: {0}")]
    Stopped(String),
    /// The leader's disk is under the reserve: it would append first.
    #[error("{0}")]
    DiskFull(String),
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
    /// The command's encoded size, what it adds to the entry.
    bytes: usize,
    reply: oneshot::Sender<Result<Applied, ProposeError>>,
}

/// The writes of the next entry.
struct Batch {
    items: Vec<Pending>,
    bytes: usize,
}

impl Batch {
    fn new(first: Pending) -> Batch {
        Batch { bytes: first.bytes, items: vec![first] }
    }

    fn len(&self) -> usize {
        self.items.len()
    }

    /// Adds `next` if it fits; hands it back if not (it opens the next entry).
    fn add(&mut self, next: Pending) -> Option<Pending> {
        if self.items.len() >= MAX_BATCH || self.bytes + next.bytes > MAX_ENTRY_BYTES {
            return Some(next);
        }
        self.bytes += next.bytes;
        self.items.push(next);
        None
    }
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
        let bytes = command.encode().len();
        self.queue.send(Pending { command, bytes, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn batch_loop(raft: Raft, mut rx: mpsc::Receiver<Pending>, metrics: Arc<Metrics>) {
    // Writers answered by the last commit; most will be back with their next
    // write within a moment, and should ride the next entry rather than the
    // one after it.
    let mut answered = 0;
    // A write that did not fit the last entry opens the next one.
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(first) => first,
            None => match rx.recv().await {
                Some(first) => first,
                None => return,
            },
        };
        let mut batch = Batch::new(first);
        carried = drain_ready(&mut rx, &mut batch);
        if carried.is_none() && answered > 1 {
            let expected = answered.min(MAX_BATCH);
            carried = linger(&mut rx, &mut batch, expected).await;
        }
        answered = batch.len();
        commit_batch(&raft, batch.items, &metrics).await;
    }
}

/// Takes what is queued while it fits; the first write that does not is handed back.
fn drain_ready(rx: &mut mpsc::Receiver<Pending>, batch: &mut Batch) -> Option<Pending> {
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(next) => {
                if let Some(left) = batch.add(next) {
                    return Some(left);
                }
            }
            Err(_) => break,
        }
    }
    None
}

/// Waits, at most [`LINGER`], until `expected` writes are queued.
async fn linger(rx: &mut mpsc::Receiver<Pending>, batch: &mut Batch, expected: usize) -> Option<Pending> {
    let deadline = tokio::time::Instant::now() + LINGER;
    while batch.len() < expected {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(next)) => {
                if let Some(left) = batch.add(next) {
                    return Some(left);
                }
                if let Some(left) = drain_ready(rx, batch) {
                    return Some(left);
                }
            }
            Ok(None) | Err(_) => return None,
        }
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(bytes: usize) -> Pending {
        let (reply, _) = oneshot::channel();
        Pending { command: Command::Batch { commands: Vec::new() }, bytes, reply }
    }

    #[test]
    fn an_entry_stops_at_its_byte_cap_and_hands_the_rest_on() {
        let mut batch = Batch::new(pending(600 << 10));
        assert!(batch.add(pending(300 << 10)).is_none());
        let left = batch.add(pending(200 << 10)).expect("past 1 MiB: the next entry's");
        assert_eq!((batch.len(), left.bytes), (2, 200 << 10));
        // One command larger than the cap still goes, alone.
        let alone = Batch::new(pending(3 << 20));
        assert_eq!(alone.len(), 1);
        let mut many = Batch::new(pending(1));
        for _ in 1..MAX_BATCH {
            assert!(many.add(pending(1)).is_none());
        }
        assert!(many.add(pending(1)).is_some(), "and at most {MAX_BATCH} writes");
    }
}
