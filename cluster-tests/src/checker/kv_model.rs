//! The sequential specification of one KV key (per-key decomposition: keys
//! are independent, so a history is linearizable iff each key's is), with
//! values interned to small numbers so states hash cheaply.

use std::collections::HashMap;

use super::history::Op;
use super::history::OpKind;
use super::history::Outcome;
use super::wing_gong::Model;
use super::wing_gong::Timed;

/// A key's state: absent, or holding an interned value.
pub type State = Option<u32>;

/// One operation with its recorded result, in interned form.
#[derive(Debug, Clone)]
pub enum Step {
    /// A put or delete (new state) that applied, or whose outcome is unknown.
    Set(State),
    Read(State),
    /// A CAS from `expect` to `new`: `applied` as answered, None if unknown.
    Cas {
        expect: State,
        new: State,
        applied: Option<bool>,
    },
    /// An operation that certainly changed nothing (a put answered false).
    Nothing,
}

pub struct KvModel;

impl Model for KvModel {
    type State = State;
    type Op = Step;

    fn init(&self) -> State {
        None
    }

    fn step(&self, state: &State, op: &Step) -> Option<State> {
        match *op {
            Step::Set(new) => Some(new),
            Step::Read(seen) => (seen == *state).then_some(*state),
            Step::Nothing => Some(*state),
            Step::Cas { expect, new, applied } => {
                let holds = expect == *state;
                match applied {
                    Some(true) => holds.then_some(new),
                    Some(false) => (!holds).then_some(*state),
                    // Unknown: it applied iff its condition held when it took
                    // effect; "never took effect" is linearizing it last.
                    None => Some(if holds { new } else { *state }),
                }
            }
        }
    }
}

#[derive(Default)]
struct Interner(HashMap<String, u32>);

impl Interner {
    fn id(&mut self, value: &str) -> u32 {
        let next = self.0.len() as u32;
        *self.0.entry(value.to_string()).or_insert(next)
    }

    fn state(&mut self, value: Option<&str>) -> State {
        value.map(|v| self.id(v))
    }
}

/// The timed steps for one key's default-consistency operations, with times
/// in nanoseconds; stale reads and unanswered reads are left out (the first
/// are checked by `stale`, the second constrain nothing).
pub fn steps(ops: &[&Op]) -> Vec<Timed<Step>> {
    let mut values = Interner::default();
    let mut out = Vec::new();
    for op in ops {
        let step = match (&op.kind, &op.outcome) {
            (OpKind::Get { stale: true }, _) | (OpKind::Get { .. }, Outcome::Unknown) => continue,
            (OpKind::Get { .. }, Outcome::Read(seen)) => Step::Read(values.state(seen.as_deref())),
            (OpKind::Get { .. }, Outcome::Written(_)) => continue,
            (OpKind::Put { .. } | OpKind::Delete, Outcome::Written(false)) => Step::Nothing,
            (OpKind::Put { value }, _) => Step::Set(Some(values.id(value))),
            (OpKind::Delete, _) => Step::Set(None),
            (OpKind::Cas { expect, value, .. }, outcome) => Step::Cas {
                expect: values.state(expect.as_deref()),
                new: Some(values.id(value)),
                applied: match outcome {
                    Outcome::Written(applied) => Some(*applied),
                    _ => None,
                },
            },
        };
        let nanos = |d: std::time::Duration| d.as_nanos() as u64;
        out.push(Timed { call: nanos(op.call), ret: op.ret.map(nanos), op: step });
    }
    out
}
