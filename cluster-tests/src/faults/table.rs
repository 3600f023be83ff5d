//! One row per fault run: what the workload did and what the checker found.

use std::path::PathBuf;
use std::time::Duration;

use super::revocation::Revocation;
use super::workload::Recorded;
use super::Fault;
use crate::checker::Outcome;
use crate::checker::Search;
use crate::checker::Verdict;

#[derive(Debug)]
pub struct Row {
    pub fault: Fault,
    /// Register operations recorded (final reads included).
    pub ops: usize,
    /// Writes acknowledged as applied (register and log keys).
    pub acked: usize,
    /// Operations whose outcome is unknown.
    pub unknown: usize,
    /// Acknowledged log-key writes missing afterwards.
    pub lost: usize,
    /// Default-consistency operations linearize, on every key.
    pub linearizable: bool,
    /// A key whose search ran out of steps (counted as not linearizable).
    pub undecided: bool,
    /// Every `?stale` read returns a state the key had.
    pub stale_ok: bool,
    /// Not linearizable, but only because CASes answered false may have
    /// applied: the known duplicate apply of a retried write.
    pub cas_retries_only: bool,
    /// The longest time between two acknowledged writes.
    pub write_gap: Duration,
    /// The token-revocation fault's probes, judged.
    pub revocation: Option<Revocation>,
    /// Where the failing history was written.
    pub report: Option<PathBuf>,
}

impl Row {
    pub fn new(fault: Fault, recorded: &Recorded, verdict: &Verdict, lost: usize) -> Row {
        Row {
            fault,
            ops: recorded.history.len(),
            acked: recorded.ack_times.len(),
            unknown: recorded.history.iter().filter(|op| op.outcome == Outcome::Unknown).count(),
            lost,
            linearizable: verdict.linearizable(),
            undecided: verdict.keys.iter().any(|k| k.search == Search::Undecided),
            stale_ok: verdict.stale_ok(),
            cas_retries_only: verdict.only_cas_retries(),
            write_gap: longest_gap(&recorded.ack_times),
            revocation: None,
            report: None,
        }
    }

    pub fn passed(&self) -> bool {
        self.lost == 0 && self.linearizable && self.stale_ok && self.revocation.as_ref().is_none_or(Revocation::held)
    }
}

fn longest_gap(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort_unstable();
    sorted.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default()
}

pub const HEADER: &str =
    "fault              ops  acked  unknown  lost  linearizable  stale-ok  longest-write-gap  revoked-accepted";

pub fn line(row: &Row) -> String {
    let yes = |b: bool| if b { "yes" } else { "NO" };
    let linearizable = match (row.undecided, row.linearizable, row.cas_retries_only) {
        (true, _, _) => "undecided",
        (_, true, _) => "yes",
        (_, false, true) => "NO (dup CAS)",
        _ => "NO",
    };
    let mut line = format!(
        "{:<17} {:>5}  {:>5}  {:>7}  {:>4}  {:>12}  {:>8}  {:>14.2}s",
        row.fault.name(),
        row.ops,
        row.acked,
        row.unknown,
        row.lost,
        linearizable,
        yes(row.stale_ok),
        row.write_gap.as_secs_f64()
    );
    // Probes accepted after the revocation was acknowledged ("-": no revocation).
    let revoked = match &row.revocation {
        None => "-".to_string(),
        Some(r) if r.never_accepted.is_empty() => r.accepted_after.len().to_string(),
        Some(r) => format!("{} (token never worked at {})", r.accepted_after.len(), r.never_accepted.join(" ")),
    };
    line.push_str(&format!("  {revoked:>16}"));
    if let Some(path) = &row.report {
        line.push_str(&format!("  history: {}", path.display()));
    }
    line
}
