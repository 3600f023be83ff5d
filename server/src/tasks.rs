//! One tracker for an agent's long-lived tasks and the token that stops
//! them. Everything the agent spawns (listeners, loops, streams, checks, DNS
//! connections) is tracked here, so shutdown cancels once and then awaits
//! every task, instead of guessing when the last user of the store is gone.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TrackedFuture;
use tokio_util::task::TaskTracker;

#[derive(Clone)]
pub struct Tasks {
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Tasks {
    pub fn new(shutdown: CancellationToken) -> Tasks {
        Tasks { tracker: TaskTracker::new(), shutdown }
    }

    /// Spawns a tracked task.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tracker.spawn(task)
    }

    /// Tracks a future spawned elsewhere (a supervised task on a `JoinSet`).
    pub fn track<F: Future>(&self, task: F) -> TrackedFuture<F> {
        self.tracker.track_future(task)
    }

    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    /// Cancelled when the agent stops; long waits select on it.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Cancels every task and waits up to `grace` for all of them to end;
    /// false if some were still running then.
    pub async fn stop(&self, grace: Duration) -> bool {
        self.shutdown.cancel();
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }
}
