//! Who a write is written by, for exactly-once: a server's own writes carry
//! its random client id and its next sequence number; a call a client agent
//! forwards carries the client agent's id and the call's number (the same
//! on every retry of the call, to whichever server), and the writes the
//! call makes are numbered within it. Either way a retry after an
//! ambiguous failure is the same (client, seq), which the state machine
//! answers once.

use std::cell::Cell;
use std::future::Future;

/// Writes one forwarded call may make; the call's number is shifted past
/// them so calls never share a seq.
const WRITES_PER_CALL: u64 = 16;

/// A forwarded call: its client and number, and how many writes it made.
struct ForwardedCall {
    client: u64,
    seq: u64,
    writes: Cell<u64>,
}

tokio::task_local! {
    static FORWARDED: ForwardedCall;
}

/// Runs `call` (the HTTP handler of a forwarded request) as call `seq` of
/// `client`.
pub async fn as_forwarded<F: Future>(client: u64, seq: u64, call: F) -> F::Output {
    FORWARDED.scope(ForwardedCall { client, seq, writes: Cell::new(0) }, call).await
}

/// The (client, seq) of the next write of the running forwarded call, if
/// this is one (None past [`WRITES_PER_CALL`] writes: those go as the
/// server's own).
pub fn forwarded_write() -> Option<(u64, u64)> {
    FORWARDED
        .try_with(|call| {
            let n = call.writes.get();
            call.writes.set(n + 1);
            (n < WRITES_PER_CALL).then(|| (call.client, call.seq.saturating_mul(WRITES_PER_CALL) + n))
        })
        .ok()
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_writes_of_a_forwarded_call_are_numbered_within_it() {
        assert_eq!(forwarded_write(), None, "outside a forwarded call");
        let seen = as_forwarded(7, 3, async { (forwarded_write(), forwarded_write()) }).await;
        assert_eq!(seen, (Some((7, 48)), Some((7, 49))));
        let again = as_forwarded(7, 3, async { forwarded_write() }).await;
        assert_eq!(again, Some((7, 48)), "a retry of the call numbers its writes the same");
    }
}
