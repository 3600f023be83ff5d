//! Synthetic histories the checker must reject (each a bug a cluster could
//! have) and concurrent ones it must accept. Times are milliseconds.

use std::time::Duration;

use super::*;

fn op(client: usize, kind: OpKind, call: u64, ret: u64, outcome: Outcome) -> Op {
    let ms = Duration::from_millis;
    Op { client, key: "k".into(), kind, call: ms(call), ret: Some(ms(ret)), outcome, target: "a".into(), index: None }
}

fn put(client: usize, value: &str, call: u64, ret: u64) -> Op {
    op(client, OpKind::Put { value: value.into() }, call, ret, Outcome::Written(true))
}

fn get(client: usize, seen: Option<&str>, call: u64, ret: u64) -> Op {
    op(client, OpKind::Get { stale: false }, call, ret, Outcome::Read(seen.map(str::to_string)))
}

fn stale_get(client: usize, seen: Option<&str>, call: u64, ret: u64) -> Op {
    op(client, OpKind::Get { stale: true }, call, ret, Outcome::Read(seen.map(str::to_string)))
}

fn cas(client: usize, expect: Option<&str>, value: &str, call: u64, ret: u64, applied: bool) -> Op {
    let kind = OpKind::Cas { expect: expect.map(str::to_string), index: 0, value: value.into() };
    op(client, kind, call, ret, Outcome::Written(applied))
}

fn delete(client: usize, call: u64, ret: u64) -> Op {
    op(client, OpKind::Delete, call, ret, Outcome::Written(true))
}

/// The same operation, never answered.
fn unanswered(op: Op) -> Op {
    Op { ret: None, outcome: Outcome::Unknown, ..op }
}

fn on_key(key: &str, mut ops: Vec<Op>) -> Vec<Op> {
    ops.iter_mut().for_each(|op| op.key = key.into());
    ops
}

fn linearizable(history: &[Op]) -> bool {
    let verdict = check(history, MAX_STEPS);
    assert!(verdict.keys.iter().all(|k| k.search != Search::Undecided), "{verdict:?}");
    verdict.linearizable()
}

// ---- histories that must be rejected

#[test]
fn a_stale_read_at_default_consistency_is_rejected() {
    let history = [put(1, "a", 0, 10), put(1, "b", 20, 30), get(2, Some("a"), 40, 50)];
    assert!(!linearizable(&history));
}

#[test]
fn a_lost_acknowledged_write_is_rejected() {
    let history = [put(1, "a", 0, 10), get(2, None, 20, 30)];
    assert!(!linearizable(&history));
    assert!(!check(&history, MAX_STEPS).only_cas_retries());
    // Also when the loss shows only after other reads saw the write.
    let history = [put(1, "a", 0, 10), get(2, Some("a"), 20, 30), get(3, None, 40, 50)];
    assert!(!linearizable(&history));
}

#[test]
fn a_cas_that_succeeded_twice_is_rejected() {
    // Two clients CAS from the same value; both told they won.
    let history = [
        put(1, "a", 0, 10),
        cas(2, Some("a"), "b", 20, 40, true),
        cas(3, Some("a"), "c", 21, 41, true),
        get(1, Some("c"), 50, 60),
    ];
    assert!(!linearizable(&history));
    // A retried CAS applied twice: the retry fails and the client is told
    // false, yet its value is there.
    let history = [put(1, "a", 0, 10), cas(2, Some("a"), "b", 20, 40, false), get(1, Some("b"), 50, 60)];
    assert!(!linearizable(&history));
    // ...which the checker can tell from other violations.
    assert!(check(&history, MAX_STEPS).only_cas_retries());
    // Create-if-absent won by two clients.
    let history = [cas(1, None, "a", 0, 20, true), cas(2, None, "b", 5, 25, true)];
    assert!(!linearizable(&history));
    assert!(!check(&history, MAX_STEPS).only_cas_retries(), "two winners are not a retry");
}

#[test]
fn a_duplicated_put_that_reappears_after_a_later_write_is_rejected() {
    let history = [put(1, "a", 0, 10), put(2, "b", 20, 30), get(3, Some("b"), 40, 50), get(3, Some("a"), 60, 70)];
    assert!(!linearizable(&history));
}

#[test]
fn a_value_nobody_wrote_is_rejected_in_both_models() {
    let history = [put(1, "a", 0, 10), get(2, Some("z"), 20, 30)];
    assert!(!linearizable(&history));
    let history = [put(1, "a", 0, 10), stale_get(2, Some("z"), 20, 30)];
    let verdict = check(&history, MAX_STEPS);
    assert!(verdict.linearizable() && !verdict.stale_ok(), "{verdict:?}");
}

#[test]
fn a_stale_read_of_a_failed_cas_or_of_a_write_sent_after_it_is_rejected() {
    let failed = [put(1, "a", 0, 10), cas(1, Some("x"), "b", 20, 30, false), stale_get(2, Some("b"), 40, 50)];
    assert!(!check(&failed, MAX_STEPS).stale_ok());
    let future = [stale_get(2, Some("a"), 0, 10), put(1, "a", 20, 30)];
    assert!(!check(&future, MAX_STEPS).stale_ok());
}

#[test]
fn only_the_failing_key_is_named() {
    let mut history = on_key("good", vec![put(1, "a", 0, 10), get(2, Some("a"), 20, 30)]);
    history.extend(on_key("bad", vec![put(1, "x", 0, 10), get(2, None, 20, 30)]));
    let verdict = check(&history, MAX_STEPS);
    let failing: Vec<&str> = verdict.failing().map(|k| k.key.as_str()).collect();
    assert_eq!(failing, ["bad"]);
}

#[test]
fn the_window_is_the_smallest_failing_prefix() {
    // Forty good operations, then a lost write, then more good ones.
    let mut history = Vec::new();
    for i in 0..40u64 {
        history.push(put(1, &format!("v{i}"), i * 100, i * 100 + 10));
        history.push(get(2, Some(&format!("v{i}")), i * 100 + 20, i * 100 + 30));
    }
    history.push(put(1, "lost", 5000, 5010));
    history.push(get(2, Some("v39"), 5020, 5030));
    history.push(put(1, "after", 6000, 6010));
    history.push(get(2, Some("after"), 6020, 6030));
    let verdict = check(&history, MAX_STEPS);
    let key = &verdict.keys[0];
    assert_eq!(key.search, Search::Violation);
    let last = key.window.iter().max_by_key(|op| op.ret).unwrap();
    assert_eq!(last.ret, Some(Duration::from_millis(5030)), "the window ends at the bad read: {:?}", key.window);
    assert_eq!(key.window.len(), 82);
    let text = report("lost write", &history, &verdict);
    assert!(text.contains("smallest failing prefix (82 operations)"), "{text}");
}

#[test]
fn a_bounded_search_says_undecided_rather_than_guessing() {
    let history = [put(1, "a", 0, 10), put(2, "b", 0, 10), get(3, Some("a"), 20, 30)];
    let verdict = check(&history, 2);
    assert_eq!(verdict.keys[0].search, Search::Undecided);
    assert!(!verdict.linearizable());
}

// ---- histories that must be accepted

#[test]
fn a_read_concurrent_with_a_write_may_see_either_side_but_not_go_back() {
    let history = [put(1, "a", 0, 100), get(2, None, 10, 20), get(2, Some("a"), 30, 40), get(3, Some("a"), 50, 60)];
    assert!(linearizable(&history));
    let back = [put(1, "a", 0, 100), get(2, Some("a"), 10, 20), get(2, None, 30, 40)];
    assert!(!linearizable(&back));
}

#[test]
fn an_unanswered_write_may_have_applied_or_not() {
    let applied = [unanswered(put(1, "a", 0, 10)), get(2, Some("a"), 50, 60)];
    assert!(linearizable(&applied));
    let not_applied = [unanswered(put(1, "a", 0, 10)), get(2, None, 50, 60)];
    assert!(linearizable(&not_applied));
    // ...even much later: it may take effect at any time after its call.
    let late =
        [put(2, "b", 0, 5), unanswered(put(1, "a", 1, 10)), get(2, Some("b"), 50, 60), get(2, Some("a"), 70, 80)];
    assert!(linearizable(&late));
    // But not before it was sent.
    let early = [get(2, Some("a"), 0, 10), unanswered(put(1, "a", 20, 30))];
    assert!(!linearizable(&early));
}

#[test]
fn an_unanswered_cas_applies_only_if_its_condition_held() {
    let history = [put(1, "a", 0, 10), unanswered(cas(2, Some("a"), "b", 20, 30, true)), get(1, Some("b"), 40, 50)];
    assert!(linearizable(&history));
    let history = [put(1, "a", 0, 10), unanswered(cas(2, Some("x"), "b", 20, 30, true)), get(1, Some("b"), 40, 50)];
    assert!(!linearizable(&history));
}

#[test]
fn concurrent_cas_from_one_value_has_one_winner() {
    let history = [
        put(1, "a", 0, 10),
        cas(2, Some("a"), "b", 20, 40, true),
        cas(3, Some("a"), "c", 21, 41, false),
        get(1, Some("b"), 50, 60),
        cas(1, None, "d", 61, 70, false),
        delete(2, 71, 80),
        cas(3, None, "e", 81, 90, true),
        get(1, Some("e"), 91, 95),
        stale_get(2, Some("a"), 96, 99),
    ];
    let verdict = check(&history, MAX_STEPS);
    assert!(verdict.linearizable() && verdict.stale_ok(), "{verdict:?}");
}

/// A register run sequentially at points 1 ms apart, each operation's
/// interval stretched around its point by a few ms (so up to ~8 overlap):
/// linearizable by construction, and far too many interleavings for a
/// search without the memo.
#[test]
fn a_long_concurrent_history_built_from_a_sequential_run_is_accepted_quickly() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut random = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    let mut state: Option<String> = None;
    let mut history = Vec::new();
    for i in 0..2000u64 {
        let point = 5000 + i * 1000;
        let (call, ret) = (point - random(4000), point + random(4000));
        let client = random(8) as usize;
        let value = format!("v{i}");
        let op = match random(5) {
            0 | 1 => {
                let seen = state.clone();
                get(client, seen.as_deref(), call, ret)
            }
            2 => {
                let expect = if random(2) == 0 { state.clone() } else { Some("nope".to_string()) };
                let applied = expect == state;
                if applied {
                    state = Some(value.clone());
                }
                cas(client, expect.as_deref(), &value, call, ret, applied)
            }
            3 if random(4) == 0 => {
                state = None;
                delete(client, call, ret)
            }
            _ => {
                state = Some(value.clone());
                put(client, &value, call, ret)
            }
        };
        // Microseconds: each point 1 ms apart, intervals up to +-4 ms.
        history.push(Op { call: op.call / 1000, ret: op.ret.map(|r| r / 1000), ..op });
    }
    let started = std::time::Instant::now();
    assert!(linearizable(&history));
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    // One read in the middle answering from 100 operations back: rejected.
    let old = history[900..1000].iter().find_map(|op| op.written_value().map(str::to_string)).unwrap();
    let read = (1000..).find(|i| matches!(history[*i].outcome, Outcome::Read(Some(_)))).unwrap();
    history[read].outcome = Outcome::Read(Some(old));
    assert!(!linearizable(&history));
}
