//! Exactly-once `Once` writes through the state machine: a repeated
//! (client, seq) is answered what it first answered and changes nothing,
//! the table of answers survives a snapshot, and it stays bounded.

use std::collections::BTreeMap;

use openraft::CommittedLeaderId;
use tessera_mesh::connect::Action;
use tessera_mesh::connect::Intention;

use super::*;
use crate::engine::Reads;
use crate::tables::once::Seen;

const CLIENT: u64 = 0xfeed_f00d_dead_beef;

struct Node {
    _dir: tempfile::TempDir,
    store: Arc<Store>,
    sm: StateMachine,
    next: u64,
}

impl Node {
    fn open() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let sm = store.state_machine();
        Node { _dir: dir, store, sm, next: 1 }
    }

    fn log_id(index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(1, 1), index)
    }

    async fn apply(&mut self, command: Command) -> CommandResponse {
        let index = self.next;
        self.next += 1;
        let entry = Entry { log_id: Self::log_id(index), payload: EntryPayload::Normal(command) };
        self.sm.apply([entry]).await.unwrap().pop().unwrap()
    }

    async fn blanks(&mut self, count: u64) {
        let entries: Vec<Entry> =
            (0..count).map(|i| Entry { log_id: Self::log_id(self.next + i), payload: EntryPayload::Blank }).collect();
        self.next += count;
        self.sm.apply(entries).await.unwrap();
    }

    fn seen(&self, client: u64, seq: u64) -> Seen {
        once::seen(&Txn::new(self.store.engine()), client, seq).unwrap()
    }
}

fn once(seq: u64, command: Command) -> Command {
    Command::Once { client: CLIENT, seq, command: Box::new(command) }
}

fn kv_create(key: &str, value: &str) -> Command {
    Command::KvSet { key: key.into(), value: value.as_bytes().to_vec(), flags: 0, cas: Some(0) }
}

fn intention(id: &str) -> Intention {
    Intention {
        id: id.into(),
        source: "web".into(),
        destination: "db".into(),
        action: Action::Allow,
        description: String::new(),
        meta: BTreeMap::new(),
        create_index: 0,
        modify_index: 0,
    }
}

fn run<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn a_repeated_cas_create_answers_true_again_and_applies_once() {
    run(async {
        let mut node = Node::open();
        assert_eq!(node.apply(once(1, kv_create("app/color", "blue"))).await, CommandResponse::Applied(true));
        // The retry of the same write, with another value to show it is not applied.
        assert_eq!(node.apply(once(1, kv_create("app/color", "red"))).await, CommandResponse::Applied(true));
        let entry = node.store.view().kv_get("app/color").unwrap().unwrap();
        assert_eq!((entry.value.as_slice(), entry.modify_index), (&b"blue"[..], 1));
        assert_eq!(node.store.view().index(Table::Kv).unwrap(), 1, "the retry changed nothing");

        // A new write (next seq) is applied, and its CAS fails as it should.
        assert_eq!(node.apply(once(2, kv_create("app/color", "red"))).await, CommandResponse::Applied(false));
        // Without the envelope, a repeat is applied again, as before.
        assert_eq!(node.apply(kv_create("app/shape", "round")).await, CommandResponse::Applied(true));
        assert_eq!(node.apply(kv_create("app/shape", "round")).await, CommandResponse::Applied(false));
    });
}

#[test]
fn a_repeated_intention_create_does_not_conflict() {
    run(async {
        let mut node = Node::open();
        let create = || once(7, Command::IntentionUpsert { intention: intention("i-1"), replace: false });
        assert_eq!(node.apply(create()).await, CommandResponse::Applied(true));
        assert_eq!(node.apply(create()).await, CommandResponse::Applied(true));
        let stored = node.store.view().intention("web", "db").unwrap().unwrap();
        assert_eq!((stored.id.as_str(), stored.modify_index), ("i-1", 1));
        let other = once(8, Command::IntentionUpsert { intention: intention("i-2"), replace: false });
        assert_eq!(node.apply(other).await, CommandResponse::Applied(false));
    });
}

#[test]
fn once_writes_inside_a_batch_are_answered_one_by_one() {
    run(async {
        let mut node = Node::open();
        let batch = || Command::Batch { commands: vec![once(1, kv_create("a", "1")), once(2, kv_create("a", "2"))] };
        let first = CommandResponse::Batch(vec![CommandResponse::Applied(true), CommandResponse::Applied(false)]);
        assert_eq!(node.apply(batch()).await, first);
        assert_eq!(node.apply(batch()).await, first);
        assert_eq!(node.store.view().kv_get("a").unwrap().unwrap().value, b"1");
    });
}

#[test]
fn the_answers_survive_a_snapshot_and_its_install() {
    run(async {
        let mut leader = Node::open();
        assert_eq!(leader.apply(once(1, kv_create("k", "v"))).await, CommandResponse::Applied(true));
        let snapshot = leader.sm.get_snapshot_builder().await.build_snapshot().await.unwrap();

        let mut follower = Node::open();
        follower.sm.install_snapshot(&snapshot.meta, snapshot.snapshot).await.unwrap();
        follower.next = 2;
        assert_eq!(follower.seen(CLIENT, 1), Seen::Answered(CommandResponse::Applied(true)));
        assert_eq!(follower.apply(once(1, kv_create("k", "other"))).await, CommandResponse::Applied(true));
        let entry = follower.store.view().kv_get("k").unwrap().unwrap();
        assert_eq!((entry.value.as_slice(), entry.modify_index), (&b"v"[..], 1));
    });
}

#[test]
fn a_client_keeps_its_last_window_of_answers() {
    run(async {
        let mut node = Node::open();
        let total = once::WINDOW + 5;
        for seq in 1..=total {
            node.apply(once(seq, kv_create(&format!("k/{seq}"), "v"))).await;
        }
        // One row per applied batch (one write each here), those wholly
        // out of the window deleted.
        let prefix = keys::once_answer_prefix(CLIENT);
        let rows = node.store.engine().scan_prefix(Cf::SmMeta, &prefix).unwrap();
        assert_eq!(rows.len() as u64, once::WINDOW);
        assert_eq!(node.seen(CLIENT, 5), Seen::Forgotten);
        assert_eq!(node.seen(CLIENT, 6), Seen::Answered(CommandResponse::Applied(true)));
        assert_eq!(node.seen(CLIENT, total + 1), Seen::New);
        // A write that fell out of the window is not applied: its outcome is unknown.
        assert_eq!(node.apply(once(2, kv_create("k/2", "again"))).await, CommandResponse::Forgotten);
        assert_eq!(node.store.view().kv_get("k/2").unwrap().unwrap().value, b"v");
    });
}

#[test]
fn idle_clients_are_pruned_at_the_same_index_everywhere() {
    run(async {
        let mut node = Node::open();
        node.apply(once(1, kv_create("k", "v"))).await;
        node.apply(Command::Once { client: 9, seq: 1, command: Box::new(kv_create("j", "v")) }).await;
        // Up to just before the first prune point past the idle limit.
        // CLIENT last wrote at index 1: dropped at the first prune point
        // at least IDLE_ENTRIES past it.
        let prune_at = (1 + once::IDLE_ENTRIES).div_ceil(once::PRUNE_EVERY) * once::PRUNE_EVERY;
        node.blanks(prune_at - 1 - node.next).await;
        node.apply(Command::Once { client: 9, seq: 2, command: Box::new(kv_create("j2", "v")) }).await;
        assert_eq!(node.seen(CLIENT, 1), Seen::Answered(CommandResponse::Applied(true)));
        node.blanks(1).await; // index prune_at: CLIENT's last write (1) is IDLE_ENTRIES behind
        assert_eq!(node.seen(CLIENT, 1), Seen::New);
        let txn = Txn::new(node.store.engine());
        assert_eq!(once::client(&txn, CLIENT).unwrap(), None);
        assert!(node.store.engine().scan_prefix(Cf::SmMeta, &keys::once_answer_prefix(CLIENT)).unwrap().is_empty());
        assert_eq!(once::client(&txn, 9).unwrap().map(|r| r.max_seq), Some(2), "a recent client stays");
    });
}

#[test]
fn a_batch_of_writes_is_remembered_in_one_row() {
    run(async {
        let mut node = Node::open();
        let writes = (1..=3).map(|seq| once(seq, kv_create(&format!("b/{seq}"), "v"))).collect();
        node.apply(Command::Batch { commands: writes }).await;
        let rows = node.store.engine().scan_prefix(Cf::SmMeta, &keys::once_answer_prefix(CLIENT)).unwrap();
        assert_eq!(rows.len(), 1, "one row for the batch, not one per write");
        for seq in 1..=3 {
            assert_eq!(
                node.seen(CLIENT, seq),
                Seen::Answered(CommandResponse::Applied(true)),
                "read back from the row"
            );
        }
    });
}
