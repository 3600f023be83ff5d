//! What a workload records: one KV operation per entry, with the times the
//! client sent it and saw its answer, and what the answer was.

use std::fmt;
use std::time::Duration;

/// One operation on one key, as a client issued it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `PUT /v1/kv/<key>` with `value`.
    Put { value: String },
    /// `GET /v1/kv/<key>`; `stale` when sent with `?stale`.
    Get { stale: bool },
    /// `PUT /v1/kv/<key>?cas=<index>`: `expect` is the value the client read
    /// at that ModifyIndex (None with `?cas=0`: create only if absent).
    /// Workload values are unique, so "the entry is still at ModifyIndex
    /// `index`" is "the key still holds `expect`".
    Cas { expect: Option<String>, index: u64, value: String },
    /// `DELETE /v1/kv/<key>` (unconditional).
    Delete,
}

/// What the client learned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A write's answer body: `true` or `false` (a CAS that did not apply).
    Written(bool),
    /// A read's answer: the value, or None for a 404.
    Read(Option<String>),
    /// A timeout, a dropped connection or a 5xx: the write may or may not
    /// have taken effect (a read with no answer constrains nothing).
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub client: usize,
    pub key: String,
    pub kind: OpKind,
    /// Since the start of the history.
    pub call: Duration,
    /// None when the outcome is unknown: the operation may take effect at
    /// any time after its call (porcupine's return time of infinity).
    pub ret: Option<Duration>,
    pub outcome: Outcome,
    /// The agent it was sent to (for reading a failing history).
    pub target: String,
    /// The ModifyIndex a read saw (for reading a failing history; the
    /// model compares values, which the workload keeps unique).
    pub index: Option<u64>,
}

impl Op {
    pub fn is_write(&self) -> bool {
        !matches!(self.kind, OpKind::Get { .. })
    }

    /// A write the cluster acknowledged as applied.
    pub fn acknowledged_write(&self) -> bool {
        self.is_write() && self.outcome == Outcome::Written(true)
    }

    /// The value this operation may have stored (a failed CAS stored nothing).
    pub fn written_value(&self) -> Option<&str> {
        match (&self.kind, &self.outcome) {
            (_, Outcome::Written(false)) => None,
            (OpKind::Put { value } | OpKind::Cas { value, .. }, _) => Some(value),
            _ => None,
        }
    }
}

fn secs(d: Duration) -> String {
    format!("{:.4}", d.as_secs_f64())
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = self.ret.map_or("inf".to_string(), secs);
        write!(f, "c{} [{} .. {}] via {} {} ", self.client, secs(self.call), ret, self.target, self.key)?;
        match &self.kind {
            OpKind::Put { value } => write!(f, "put {value:?}")?,
            OpKind::Get { stale: false } => write!(f, "get")?,
            OpKind::Get { stale: true } => write!(f, "get?stale")?,
            OpKind::Cas { expect, index, value } => write!(f, "cas(index {index} = {expect:?}) {value:?}")?,
            OpKind::Delete => write!(f, "delete")?,
        }
        match &self.outcome {
            Outcome::Written(ok) => write!(f, " -> {ok}"),
            Outcome::Read(value) => match self.index {
                Some(index) => write!(f, " -> {value:?} at index {index}"),
                None => write!(f, " -> {value:?}"),
            },
            Outcome::Unknown => write!(f, " -> unknown"),
        }
    }
}
