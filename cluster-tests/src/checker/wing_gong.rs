//! The Wing–Gong linearizability search with Lowe's memoization, as
//! porcupine runs it: operations' calls and returns in one time-ordered
//! doubly linked list; the search linearizes the first call whose step the
//! model accepts (taking it and its return out of the list), and backtracks
//! when it meets a return whose call is not linearized yet. A (set of
//! linearized operations, state) pair seen before is never explored again,
//! which bounds the search by the number of distinct such pairs.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification: `step` answers the state after `op` (whose
/// recorded output is part of `op`), or None if `op` cannot happen in `state`.
pub trait Model {
    type State: Clone + Eq + Hash;
    type Op;
    fn init(&self) -> Self::State;
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// One operation with its call and return times (None: never returned,
/// so it may be linearized anywhere after its call, or not at all).
pub struct Timed<O> {
    pub call: u64,
    pub ret: Option<u64>,
    pub op: O,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Search {
    Linearizable,
    Violation,
    /// The step budget ran out first.
    Undecided,
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// The event list: node 0 is the head; each operation has a call node and
/// a return node.
struct Events {
    next: Vec<usize>,
    prev: Vec<usize>,
    /// For a call node, the operation; None for returns and the head.
    call_of: Vec<Option<usize>>,
    /// For a call node, its return node.
    ret_node: Vec<usize>,
}

impl Events {
    fn new<O>(ops: &[Timed<O>]) -> Events {
        // (time, 0 for a call / 1 for a return, op): on a tie the call comes
        // first, so operations that touch at an instant count as concurrent.
        let mut order: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
        for (i, op) in ops.iter().enumerate() {
            order.push((op.call, 0, i));
            order.push((op.ret.unwrap_or(u64::MAX), 1, i));
        }
        order.sort_unstable();
        let len = order.len() + 1;
        let mut events =
            Events { next: vec![NIL; len], prev: vec![NIL; len], call_of: vec![None; len], ret_node: vec![NIL; len] };
        let mut call_node = vec![NIL; ops.len()];
        for (pos, &(_, kind, op)) in order.iter().enumerate() {
            let node = pos + 1;
            events.prev[node] = pos;
            events.next[pos] = node;
            if kind == 0 {
                events.call_of[node] = Some(op);
                call_node[op] = node;
            } else {
                events.ret_node[call_node[op]] = node;
            }
        }
        events
    }

    fn unlink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, node: usize) {
        let (p, n) = (self.prev[node], self.next[node]);
        self.next[p] = node;
        if n != NIL {
            self.prev[n] = node;
        }
    }

    /// Takes a call and its return out of the list (undone by `unlift`, in
    /// last-out-first-in order, as dancing links require).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.ret_node[call]);
    }

    fn unlift(&mut self, call: usize) {
        self.relink(self.ret_node[call]);
        self.relink(call);
    }
}

fn set_bit(bits: &mut [u64], i: usize, on: bool) {
    let (word, mask) = (i / 64, 1u64 << (i % 64));
    if on {
        bits[word] |= mask;
    } else {
        bits[word] &= !mask;
    }
}

/// Whether `ops` has a linearization under `model`, giving up after
/// `max_steps` steps.
pub fn search<M: Model>(model: &M, ops: &[Timed<M::Op>], max_steps: u64) -> Search {
    let mut events = Events::new(ops);
    let mut linearized = vec![0u64; ops.len().div_ceil(64)];
    let mut seen: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut state = model.init();
    let mut entry = events.next[HEAD];
    let mut steps = 0u64;
    while events.next[HEAD] != NIL {
        steps += 1;
        if steps > max_steps {
            return Search::Undecided;
        }
        match events.call_of[entry] {
            Some(op) => {
                if let Some(after) = model.step(&state, &ops[op].op) {
                    let mut with = linearized.clone();
                    set_bit(&mut with, op, true);
                    if seen.insert((with.clone(), after.clone())) {
                        stack.push((entry, std::mem::replace(&mut state, after)));
                        linearized = with;
                        events.lift(entry);
                        entry = events.next[HEAD];
                        continue;
                    }
                }
                entry = events.next[entry];
            }
            // A return whose call is still in the list: every order tried
            // from here failed, so undo the last linearized operation.
            None => {
                let Some((call, before)) = stack.pop() else {
                    return Search::Violation;
                };
                state = before;
                set_bit(&mut linearized, events.call_of[call].expect("a call node"), false);
                events.unlift(call);
                entry = events.next[call];
            }
        }
    }
    Search::Linearizable
}
