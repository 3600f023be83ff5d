//! `/v1/catalog/services` read cost against catalog size, on a real store:
//! the same 1,000 service names spread over more and more instances. The
//! per-name summaries should cost the same at every size; the scan of every
//! instance they replaced grows with it. Both answers are checked equal.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Duration;
use std::time::Instant;

use openraft::storage::RaftStateMachine;
use openraft::CommittedLeaderId;
use openraft::EntryPayload;
use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;
use tessera_store::command::Command;
use tessera_store::types::Entry;
use tessera_store::types::LogId;
use tessera_store::Store;
use tessera_store::View;

const NAMES: usize = 1_000;
const PER_NODE: usize = 50;
const ROUNDS: usize = 15;

pub async fn services_list(sizes: &[usize]) {
    println!(
        "{:>10} {:>8} {:>12} {:>14} {:>14} {:>7}",
        "instances", "names", "answer bytes", "summaries ms", "full scan ms", "ratio"
    );
    for &instances in sizes.iter().filter(|&&n| n >= NAMES) {
        let dir = tempfile::tempdir().expect("temp dir");
        fill(&Store::open(dir.path()).expect("store"), instances).await;
        // Reopened: recovery flushes the memtable, dropping the versions each
        // summary row went through while the catalog filled, as a running
        // server's flushes do. Both reads are timed on the flushed state.
        let store = Store::open(dir.path()).expect("store");
        let view = store.view();
        let summaries = median(|| view.service_names().expect("read").len());
        let scan = median(|| by_scan(&view).len());
        let answer = view.service_names().expect("read");
        assert_eq!(answer, by_scan(&view), "both reads give the same answer");
        let (s, f) = (summaries.as_secs_f64() * 1e3, scan.as_secs_f64() * 1e3);
        let bytes = serde_json::to_vec(&answer).expect("json").len();
        println!("{instances:>10} {:>8} {bytes:>12} {s:>14.3} {f:>14.3} {:>7.1}", answer.len(), f / s);
    }
}

/// Nodes of `PER_NODE` instances each, names cycling over `NAMES`, applied
/// through the state machine as Raft would.
async fn fill(store: &std::sync::Arc<Store>, instances: usize) {
    let mut machine = store.state_machine();
    let entries: Vec<Entry> = (0..instances.div_ceil(PER_NODE))
        .map(|n| {
            let node = Node { name: format!("node-{n}"), address: "10.0.0.1".into(), ..Node::default() };
            let services = (0..PER_NODE)
                .map(|i| n * PER_NODE + i)
                .take_while(|&k| k < instances)
                .map(|k| Service {
                    id: format!("svc-{k}"),
                    name: format!("name-{}", k % NAMES),
                    // A tag per name, so every size gives the same answer.
                    tags: vec![format!("t{}", (k % NAMES) % 7)],
                    port: 80,
                    ..Service::default()
                })
                .collect();
            let command = Command::CatalogSyncNode { node, services, checks: Vec::new() };
            Entry {
                log_id: LogId::new(CommittedLeaderId::new(1, 0), n as u64 + 1),
                payload: EntryPayload::Normal(command),
            }
        })
        .collect();
    for chunk in entries.chunks(100) {
        machine.apply(chunk.to_vec()).await.expect("apply");
    }
}

/// What the endpoint did before the summaries: every instance, folded.
fn by_scan(view: &View<'_>) -> BTreeMap<String, BTreeSet<String>> {
    let mut names: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, row) in view.all_services().expect("read") {
        names.entry(row.value.name.clone()).or_default().extend(row.value.tags.iter().cloned());
    }
    names
}

fn median<T>(mut read: impl FnMut() -> T) -> Duration {
    let mut times: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(read());
            started.elapsed()
        })
        .collect();
    times.sort();
    times[ROUNDS / 2]
}
