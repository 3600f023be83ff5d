//! Read barriers share rounds. A barrier needs one read-index round (a
//! quorum check on the leader, or the leader's read index on a follower
//! and the wait to apply it) that *starts after* the read was asked for;
//! any such round serves every read that was waiting when it started. So
//! one round runs at a time, and the reads that arrive while it runs share
//! the next one: a thousand blocking queries woken by one change cost two
//! rounds, not a thousand.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering;

use tokio::sync::watch;

use crate::consensus::error::ServerError;

pub struct ReadRounds {
    /// Held by the caller running a round.
    running: tokio::sync::Mutex<()>,
    /// Rounds started; a round's number is given as it starts.
    started: AtomicU64,
    /// The last round finished, and whether it succeeded.
    finished: watch::Sender<(u64, bool)>,
}

impl Default for ReadRounds {
    fn default() -> Self {
        ReadRounds {
            running: tokio::sync::Mutex::new(()),
            started: AtomicU64::new(0),
            finished: watch::channel((0, false)).0,
        }
    }
}

impl ReadRounds {
    /// Returns once a round that started after this call has succeeded:
    /// the caller's own `round`, or another caller's. A caller that sees a
    /// shared round fail runs its own, so each gets its own error.
    pub async fn barrier<F, Fut>(&self, round: F) -> Result<(), ServerError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), ServerError>>,
    {
        // Every round numbered from `ticket` on starts after this point.
        let ticket = self.started.load(Ordering::SeqCst) + 1;
        let mut finished = self.finished.subscribe();
        loop {
            // Copied out first: the watch's guard must not be held across an await.
            let last = *finished.borrow_and_update();
            if let Some(ok) = Self::served(last, ticket) {
                return if ok { Ok(()) } else { round().await };
            }
            tokio::select! {
                guard = self.running.lock() => {
                    let last = *self.finished.borrow();
                    if let Some(ok) = Self::served(last, ticket) {
                        drop(guard);
                        return if ok { Ok(()) } else { round().await };
                    }
                    let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
                    let result = round().await;
                    self.finished.send_replace((number, result.is_ok()));
                    return result;
                }
                // Someone else's round ended: maybe one that serves this call.
                _ = finished.changed() => {}
            }
        }
    }

    /// Whether the last finished round started after the call with `ticket`,
    /// and if so whether it succeeded.
    fn served((last, ok): (u64, bool), ticket: u64) -> Option<bool> {
        (last >= ticket).then_some(ok)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    /// A round that counts itself and waits for a permit, failing if `fail`.
    fn gated(rounds: &Arc<AtomicUsize>, gate: &Arc<tokio::sync::Semaphore>, fail: bool) -> impl Fn() -> BoxedRound {
        let (rounds, gate) = (rounds.clone(), gate.clone());
        move || {
            let (rounds, gate) = (rounds.clone(), gate.clone());
            Box::pin(async move {
                rounds.fetch_add(1, Ordering::SeqCst);
                gate.acquire().await.unwrap().forget();
                if fail {
                    Err(ServerError::NoLeader)
                } else {
                    Ok(())
                }
            })
        }
    }

    type BoxedRound = std::pin::Pin<Box<dyn Future<Output = Result<(), ServerError>> + Send>>;

    async fn until(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "timed out waiting until {what}");
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_that_arrive_during_a_round_share_the_next_one_and_not_the_running_one() {
        let shared = Arc::new(ReadRounds::default());
        let (rounds, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let first = {
            let (shared, round) = (shared.clone(), gated(&rounds, &gate, false));
            tokio::spawn(async move { shared.barrier(round).await })
        };
        until("the first round runs", || rounds.load(Ordering::SeqCst) == 1).await;
        let waiting: Vec<_> = (0..100)
            .map(|_| {
                let (shared, round) = (shared.clone(), gated(&rounds, &gate, false));
                tokio::spawn(async move { shared.barrier(round).await })
            })
            .collect();
        // Let them all reach their wait, then end the first round only.
        for _ in 0..50 {
            tokio::task::yield_now().await;
        }
        gate.add_permits(1);
        first.await.unwrap().unwrap();
        until("a second round runs", || rounds.load(Ordering::SeqCst) == 2).await;
        assert!(waiting.iter().all(|w| !w.is_finished()), "a read was served by a round that began before it");
        gate.add_permits(1);
        for w in waiting {
            w.await.unwrap().unwrap();
        }
        assert_eq!(rounds.load(Ordering::SeqCst), 2, "one round served all hundred");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_shared_round_makes_each_reader_try_its_own() {
        let shared = Arc::new(ReadRounds::default());
        let (rounds, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let failing = {
            let (shared, round) = (shared.clone(), gated(&rounds, &gate, true));
            tokio::spawn(async move { shared.barrier(round).await })
        };
        until("the failing round runs", || rounds.load(Ordering::SeqCst) == 1).await;
        gate.add_permits(1);
        assert!(failing.await.unwrap().is_err());
        // A later read is not told of the earlier failure: it runs a round.
        gate.add_permits(1);
        shared.barrier(gated(&rounds, &gate, false)).await.unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 2);
    }
}
