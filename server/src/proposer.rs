//! Batches concurrent writes on the leader into one Raft entry.
//!
//! Each Raft entry costs an fsync on a quorum of servers. Writers that arrive
//! while earlier batches are in flight wait in a queue, and the next batch
//! takes all of them as one `Command::Batch`: under load, one fsync serves
//! hundreds of writes; alone, a write goes out at once.

use std::sync::Arc;

use openraft::error::ClientWriteError;
use openraft::error::RaftError;
use tokio::sync::mpsc;
use tokio::sync::oneshot;
use tokio::sync::Semaphore;

use crate::command::Command;
use crate::command::CommandResponse;
use crate::types::NodeId;
use crate::types::Raft;
use crate::types::ServerNode;

/// Batches in flight at once: enough to keep the pipeline full while the
/// next batch fills.
const MAX_IN_FLIGHT: usize = 4;
const MAX_BATCH: usize = 1024;
const QUEUE: usize = 16 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProposeError {
    #[error("not the leader")]
    NotLeader { leader: Option<(NodeId, ServerNode)> },
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
    /// Starts the batching loop; it ends when every `Proposer` clone is dropped.
    pub fn start(raft: Raft) -> Proposer {
        let (queue, rx) = mpsc::channel(QUEUE);
        tokio::spawn(batch_loop(raft, rx));
        Proposer { queue }
    }

    pub async fn propose(&self, command: Command) -> Result<Applied, ProposeError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || ProposeError::Stopped("proposer closed".into());
        self.queue
            .send(Pending { command, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn batch_loop(raft: Raft, mut rx: mpsc::Receiver<Pending>) {
    let permits = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let permit = permits.clone().acquire_owned().await.expect("semaphore never closed");
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit_batch(&raft, batch).await;
            drop(permit);
        });
    }
}

async fn commit_batch(raft: &Raft, mut batch: Vec<Pending>) {
    let command = if batch.len() == 1 {
        batch[0].command.clone()
    } else {
        Command::Batch {
            commands: batch.iter().map(|p| p.command.clone()).collect(),
        }
    };
    let result = raft.client_write(command).await;
    let answers: Vec<Result<Applied, ProposeError>> = match result {
        Ok(written) => {
            let index = written.log_id.index;
            let responses = match (batch.len(), written.data) {
                (1, single) => vec![single],
                (_, CommandResponse::Batch(many)) => many,
                (n, other) => vec![other; n],
            };
            responses
                .into_iter()
                .map(|response| Ok(Applied { response, index }))
                .collect()
        }
        Err(e) => vec![Err(propose_error(e)); batch.len()],
    };
    for (pending, answer) in batch.drain(..).zip(answers) {
        let _ = pending.reply.send(answer);
    }
}

fn propose_error(e: RaftError<NodeId, ClientWriteError<NodeId, ServerNode>>) -> ProposeError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => ProposeError::NotLeader {
            leader: f.leader_id.zip(f.leader_node),
        },
        RaftError::APIError(other) => ProposeError::Stopped(other.to_string()),
        RaftError::Fatal(fatal) => ProposeError::Stopped(fatal.to_string()),
    }
}
