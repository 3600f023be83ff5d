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
    /// The last round finished, and what it answered.
    finished: watch::Sender<(u64, Result<(), ServerError>)>,
}

impl Default for ReadRounds {
    fn default() -> Self {
        ReadRounds {
            running: tokio::sync::Mutex::new(()),
            started: AtomicU64::new(0),
            finished: watch::channel((0, Ok(()))).0,
        }
    }
}

impl ReadRounds {
    /// Answers what a round that started after this call answered: the
    /// caller's own `round`, or another caller's. (A round's failure is
    /// every sharer's: it is what each would have met running it alone.)
    pub async fn barrier<F, Fut>(&self, round: F) -> Result<(), ServerError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<(), ServerError>>,
    {
        // Every round numbered from `ticket` on starts after this point.
        let ticket = self.started.load(Ordering::SeqCst) + 1;
        let mut finished = self.finished.subscribe();
        loop {
            // Cloned out first: the watch's guard must not be held across an await.
            let last = finished.borrow_and_update().clone();
            if let Some(answer) = Self::served(last, ticket) {
                return answer;
            }
            tokio::select! {
                guard = self.running.lock() => {
                    let last = self.finished.borrow().clone();
                    if let Some(answer) = Self::served(last, ticket) {
                        drop(guard);
                        return answer;
                    }
                    let number = self.started.fetch_add(1, Ordering::SeqCst) + 1;
                    let answer = round().await;
                    // The previous round's answer, replaced: nobody needs it any more.
                    let _previous = self.finished.send_replace((number, answer.clone()));
                    return answer;
                }
                // Someone else's round ended: maybe one that serves this call.
                _ = finished.changed() => {}
            }
        }
    }

    /// The last finished round's answer, if it started after the call
    /// with `ticket`.
    fn served((last, answer): (u64, Result<(), ServerError>), ticket: u64) -> Option<Result<(), ServerError>> {
        (last >= ticket).then_some(answer)
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

    /// A reader on its own task, counted in `arrived` once its barrier has
    /// been polled (so has taken its ticket: a task only spawned might run
    /// after the round it is meant to wait behind has begun).
    fn reader(
        shared: &Arc<ReadRounds>,
        round: impl Fn() -> BoxedRound + Send + 'static,
        arrived: &Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<Result<(), ServerError>> {
        let (shared, arrived) = (shared.clone(), arrived.clone());
        tokio::spawn(async move {
            let barrier = shared.barrier(round);
            tokio::pin!(barrier);
            tokio::select! {
                biased;
                done = &mut barrier => return done,
                _ = std::future::ready(()) => {}
            }
            arrived.fetch_add(1, Ordering::SeqCst);
            barrier.await
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_that_arrive_during_a_round_share_the_next_one_and_not_the_running_one() {
        let shared = Arc::new(ReadRounds::default());
        let (rounds, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let arrived = Arc::new(AtomicUsize::new(0));
        let first = reader(&shared, gated(&rounds, &gate, false), &arrived);
        until("the first round runs", || rounds.load(Ordering::SeqCst) == 1).await;
        let waiting: Vec<_> = (0..100).map(|_| reader(&shared, gated(&rounds, &gate, false), &arrived)).collect();
        // Once they all wait, end the first round only.
        until("every reader waits", || arrived.load(Ordering::SeqCst) == 101).await;
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
    async fn readers_sharing_a_failed_round_get_its_error_and_a_later_reader_tries_afresh() {
        let shared = Arc::new(ReadRounds::default());
        let (rounds, gate) = (Arc::new(AtomicUsize::new(0)), Arc::new(tokio::sync::Semaphore::new(0)));
        let arrived = Arc::new(AtomicUsize::new(0));
        let first = reader(&shared, gated(&rounds, &gate, false), &arrived);
        until("the first round runs", || rounds.load(Ordering::SeqCst) == 1).await;
        let sharers: Vec<_> = (0..10).map(|_| reader(&shared, gated(&rounds, &gate, true), &arrived)).collect();
        until("every reader waits", || arrived.load(Ordering::SeqCst) == 11).await;
        gate.add_permits(2);
        first.await.unwrap().unwrap();
        for sharer in sharers {
            assert!(matches!(sharer.await.unwrap(), Err(ServerError::NoLeader)));
        }
        assert_eq!(rounds.load(Ordering::SeqCst), 2, "the ten shared one failed round");
        // A later read is not told of the earlier failure: it runs a round.
        gate.add_permits(1);
        shared.barrier(gated(&rounds, &gate, false)).await.unwrap();
        assert_eq!(rounds.load(Ordering::SeqCst), 3);
    }
}
