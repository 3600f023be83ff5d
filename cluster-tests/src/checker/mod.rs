//! A linearizability checker for KV histories recorded against a cluster:
//! porcupine's search (`wing_gong`) over a per-key register model
//! (`kv_model`), a weaker check for `?stale` reads (`stale`), and on a
//! violation the smallest failing prefix of the key's history, written out
//! with the whole history for a person to read.

pub mod history;
mod kv_model;
mod stale;
pub mod wing_gong;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

pub use history::Op;
pub use history::OpKind;
pub use history::Outcome;
pub use wing_gong::Search;

/// Steps one key's search may take before it is called undecided: far more
/// than a few thousand operations per key need with the memo, small enough
/// that a pathological history ends the test in seconds, not hours.
pub const MAX_STEPS: u64 = 20_000_000;

/// The checker's findings about one key.
#[derive(Debug)]
pub struct KeyVerdict {
    pub key: String,
    /// Default-consistency operations against the register model.
    pub search: Search,
    /// On a violation: the key's history cut at the earliest return after
    /// which no linearization exists (operations still running then are
    /// shown pending), i.e. the smallest failing prefix.
    pub window: Vec<Op>,
    /// `?stale` reads no write explains.
    pub stale_violations: Vec<Op>,
    /// On a violation: whether the history passes both models once every
    /// CAS answered `false` is taken as maybe applied. That is what a write
    /// retried after an ambiguous failure looks like (the first attempt
    /// applied, the retry found the index moved and answered false): the
    /// known duplicate-apply of tessera's forwarding retries, which are not
    /// exactly-once.
    pub explained_by_cas_retries: bool,
}

#[derive(Debug)]
pub struct Verdict {
    pub keys: Vec<KeyVerdict>,
}

impl Verdict {
    /// Every key's default-consistency operations linearize (none undecided).
    pub fn linearizable(&self) -> bool {
        self.keys.iter().all(|k| k.search == Search::Linearizable)
    }

    pub fn stale_ok(&self) -> bool {
        self.keys.iter().all(|k| k.stale_violations.is_empty())
    }

    pub fn failing(&self) -> impl Iterator<Item = &KeyVerdict> {
        self.keys.iter().filter(|k| k.failed())
    }

    /// Fails, and only because of CASes that may have been applied twice.
    pub fn only_cas_retries(&self) -> bool {
        self.failing().count() > 0 && self.failing().all(|k| k.explained_by_cas_retries)
    }
}

impl KeyVerdict {
    pub fn failed(&self) -> bool {
        self.search != Search::Linearizable || !self.stale_violations.is_empty()
    }
}

/// Checks every key of `history` (operations in any order).
pub fn check(history: &[Op], max_steps: u64) -> Verdict {
    let mut by_key: BTreeMap<&str, Vec<&Op>> = BTreeMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op);
    }
    let keys = by_key.into_iter().map(|(key, ops)| check_key(key, &ops, max_steps)).collect();
    Verdict { keys }
}

fn check_key(key: &str, ops: &[&Op], max_steps: u64) -> KeyVerdict {
    let search = wing_gong::search(&kv_model::KvModel, &kv_model::steps(ops), max_steps);
    let window = match search {
        Search::Violation => smallest_failing_prefix(ops, max_steps),
        _ => Vec::new(),
    };
    let stale_violations: Vec<Op> = stale::unexplained(ops).into_iter().cloned().collect();
    let mut verdict =
        KeyVerdict { key: key.to_string(), search, window, stale_violations, explained_by_cas_retries: false };
    if search == Search::Violation || !verdict.stale_violations.is_empty() {
        verdict.explained_by_cas_retries = passes_with_failed_cas_ambiguous(ops, max_steps);
    }
    verdict
}

fn passes_with_failed_cas_ambiguous(ops: &[&Op], max_steps: u64) -> bool {
    let relaxed: Vec<Op> = ops
        .iter()
        .map(|op| match (&op.kind, &op.outcome) {
            // Unknown, but answered: the effect, if any, was before `ret`.
            (OpKind::Cas { .. }, Outcome::Written(false)) => Op { outcome: Outcome::Unknown, ..(*op).clone() },
            _ => (*op).clone(),
        })
        .collect();
    let refs: Vec<&Op> = relaxed.iter().collect();
    let search = wing_gong::search(&kv_model::KvModel, &kv_model::steps(&refs), max_steps);
    search == Search::Linearizable && stale::unexplained(&refs).is_empty()
}

/// The history as it stood at `t`: operations called by then, those not
/// returned by then pending with an unknown outcome. Linearizability is
/// closed under this cut (a pending operation may still do anything), so a
/// cut that fails stays failing at every later `t`: binary search applies.
fn cut_at(ops: &[&Op], t: Duration) -> Vec<Op> {
    ops.iter()
        .filter(|op| op.call <= t)
        .map(|op| match op.ret {
            Some(ret) if ret <= t => (*op).clone(),
            _ => Op { ret: None, outcome: Outcome::Unknown, ..(*op).clone() },
        })
        .collect()
}

fn fails(ops: &[Op], max_steps: u64) -> bool {
    let refs: Vec<&Op> = ops.iter().collect();
    wing_gong::search(&kv_model::KvModel, &kv_model::steps(&refs), max_steps) == Search::Violation
}

fn smallest_failing_prefix(ops: &[&Op], max_steps: u64) -> Vec<Op> {
    let mut returns: Vec<Duration> = ops.iter().filter_map(|op| op.ret).collect();
    returns.sort_unstable();
    returns.dedup();
    // Invariant: the cut at returns[hi] fails (the last return's cut is the
    // whole history, which failed); a cut the search cannot decide counts
    // as passing, so the answer is always a confirmed violation.
    let (mut lo, mut hi) = (0, returns.len().saturating_sub(1));
    while lo < hi {
        let mid = (lo + hi) / 2;
        if fails(&cut_at(ops, returns[mid]), max_steps) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    match returns.get(hi) {
        Some(t) => cut_at(ops, *t),
        None => ops.iter().map(|op| (*op).clone()).collect(),
    }
}

/// The whole history (by call time), then each failing key's window and
/// unexplained stale reads, as text.
pub fn report(title: &str, history: &[Op], verdict: &Verdict) -> String {
    let mut text = format!("# {title}\n");
    for key in verdict.failing() {
        let _ = writeln!(text, "\n## key {}: {:?}", key.key, key.search);
        if key.explained_by_cas_retries {
            let _ = writeln!(text, "passes if CASes answered false may have applied: a retried CAS applied twice");
        }
        if !key.window.is_empty() {
            let _ = writeln!(text, "smallest failing prefix ({} operations):", key.window.len());
            for op in &key.window {
                let _ = writeln!(text, "  {op}");
            }
        }
        for op in &key.stale_violations {
            let _ = writeln!(text, "stale read no write explains: {op}");
        }
    }
    let mut sorted: Vec<&Op> = history.iter().collect();
    sorted.sort_by_key(|op| op.call);
    let _ = writeln!(text, "\n## history ({} operations)", sorted.len());
    for op in sorted {
        let _ = writeln!(text, "{op}");
    }
    text
}

/// Writes [`report`] to `path` (creating its directory).
pub fn write_report(path: &Path, title: &str, history: &[Op], verdict: &Verdict) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, report(title, history, verdict))
}
