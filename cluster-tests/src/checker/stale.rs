//! The weaker model for `?stale` reads: a server may answer from any state
//! it has applied, so a stale read need not be recent, but it must return a
//! state the key really had: absent (every key of a history starts absent)
//! or a value some write that could have applied (acknowledged or unknown,
//! not a failed CAS) had stored by then, i.e. was called before the read
//! returned. A value from nowhere, from a failed CAS, or from a write sent
//! only after the read returned is a violation.

use super::history::Op;
use super::history::OpKind;
use super::history::Outcome;

/// The stale reads of one key's operations that no write explains.
pub fn unexplained<'a>(ops: &[&'a Op]) -> Vec<&'a Op> {
    ops.iter()
        .copied()
        .filter(|read| matches!(read.kind, OpKind::Get { stale: true }))
        .filter(|read| match (&read.outcome, read.ret) {
            (Outcome::Read(Some(seen)), Some(ret)) => {
                !ops.iter().any(|w| w.written_value() == Some(seen.as_str()) && w.call <= ret)
            }
            _ => false,
        })
        .collect()
}
