use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use cluster_tests::wait_until;
use cluster_tests::Cluster;
use cluster_tests::Http;

const FORM: Duration = Duration::from_secs(30);

/// Writes `w/<n>` keys round-robin over `targets` until stopped or bounded
/// (count and time), and records every write the cluster acknowledged.
struct Writer {
    acked: Arc<Mutex<BTreeSet<u64>>>,
    targets: Arc<Mutex<Vec<String>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

const MAX_WRITES: u64 = 20_000;
const MAX_WRITE_TIME: Duration = Duration::from_secs(180);

impl Writer {
    fn start(targets: Vec<String>) -> Writer {
        let acked = Arc::new(Mutex::new(BTreeSet::new()));
        let targets = Arc::new(Mutex::new(targets));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(Self::run(acked.clone(), targets.clone(), stopped));
        Writer { acked, targets, stop, task }
    }

    async fn run(
        acked: Arc<Mutex<BTreeSet<u64>>>,
        targets: Arc<Mutex<Vec<String>>>,
        stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        let http = Http::new();
        let started = Instant::now();
        for n in 0..MAX_WRITES {
            if *stopped.borrow() || started.elapsed() > MAX_WRITE_TIME {
                return;
            }
            let target = {
                let targets = targets.lock().unwrap();
                targets[n as usize % targets.len()].clone()
            };
            if http.kv_put(&target, &format!("w/{n}"), &format!("v{n}")).await {
                acked.lock().unwrap().insert(n);
            }
        }
    }

    fn acked_count(&self) -> usize {
        self.acked.lock().unwrap().len()
    }

    fn retarget(&self, targets: Vec<String>) {
        *self.targets.lock().unwrap() = targets;
    }

    async fn finish(self) -> BTreeSet<u64> {
        let _ = self.stop.send(true);
        self.task.await.expect("writer task");
        let acked = self.acked.lock().unwrap().clone();
        acked
    }
}

/// Every acknowledged key, read back from the agent at `addr` (`extra`: more query parameters).
async fn assert_all_readable(http: &Http, addr: &str, acked: &BTreeSet<u64>, extra: &str) {
    let (status, body) = http.get(addr, &format!("/v1/kv/w/?recurse{extra}")).await.expect("recursive read answered");
    assert_eq!(status, 200, "recursive read on {addr}: {body}");
    let entries: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let present: BTreeSet<u64> = entries
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["Key"].as_str()?.strip_prefix("w/")?.parse().ok())
        .collect();
    let missing: Vec<_> = acked.difference(&present).take(10).collect();
    assert!(missing.is_empty(), "{addr} lost acknowledged writes, e.g. {missing:?} ({} acked)", acked.len());
}

#[tokio::test(flavor = "multi_thread")]
async fn t50_leader_sigkill_loses_no_acknowledged_write_and_the_node_catches_up_by_snapshot() {
    // Small snapshot settings so the log is compacted while the node is down
    // and it must catch up through a snapshot.
    let mut cluster = Cluster::servers(50, 3, 3, &["-raft-snapshot-threshold", "200", "-raft-trailing-logs", "20"]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let survivors: Vec<String> =
        cluster.agents.iter().enumerate().filter(|(i, _)| *i != leader).map(|(_, a)| a.http_addr()).collect();

    let writer = Writer::start(cluster.agents.iter().map(|a| a.http_addr()).collect());
    wait_until("writes flow before the kill", FORM, || {
        let n = writer.acked_count();
        async move { (n >= 100).then_some(()) }
    })
    .await;

    tracing_phase("kill the leader with SIGKILL");
    writer.retarget(survivors.clone());
    cluster.agents[leader].kill9();
    let before = writer.acked_count();
    let new_leader = cluster.wait_leader(FORM).await;
    assert_ne!(new_leader, leader);
    wait_until("writes resume after failover, past the next snapshot", FORM, || {
        let n = writer.acked_count();
        async move { (n >= before + 600).then_some(()) }
    })
    .await;
    let acked = writer.finish().await;

    tracing_phase("every acknowledged write is on every survivor");
    for addr in &survivors {
        assert_all_readable(&http, addr, &acked, "").await;
    }

    tracing_phase("the killed server restarts and catches up through a snapshot");
    cluster.agents[leader].start();
    let restarted = cluster.agents[leader].http_addr();
    let last = *acked.iter().next_back().unwrap();
    wait_until("the restarted server has the last acknowledged write", FORM, || {
        let http = &http;
        let restarted = &restarted;
        async move { http.kv_value(restarted, &format!("w/{last}"), "?stale").await }
    })
    .await;
    assert_all_readable(&http, &restarted, &acked, "&stale").await;
    assert!(cluster.agents[leader].log().contains("installed snapshot"), "caught up through a snapshot");
}

fn tracing_phase(name: &str) {
    eprintln!("=== {name}");
}

#[tokio::test(flavor = "multi_thread")]
async fn t51_without_a_quorum_writes_fail_with_no_cluster_leader_and_stale_reads_still_answer() {
    let mut cluster = Cluster::servers(51, 3, 3, &["-rpc-hold-timeout", "1s"]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let last = (leader + 1) % 3;
    let addr = cluster.agents[last].http_addr();
    assert!(http.kv_put(&addr, "before", "1").await);
    wait_until("the last server has applied the write", FORM, || {
        let (http, addr) = (&http, &addr);
        async move { http.kv_value(addr, "before", "?stale").await }
    })
    .await;
    for (i, agent) in cluster.agents.iter_mut().enumerate() {
        if i != last {
            agent.kill9();
        }
    }
    let (status, body) = wait_until("the lone server reports no leader", FORM, || {
        let (http, addr) = (&http, &addr);
        async move {
            let reply = http.put(addr, "/v1/kv/after", "2").await?;
            (reply.0 != 200).then_some(reply)
        }
    })
    .await;
    assert_eq!((status, body.trim()), (500, "No cluster leader"));
    assert_eq!(http.kv_value(&addr, "before", "?stale").await.as_deref(), Some("1"));
}

#[tokio::test(flavor = "multi_thread")]
async fn t52_a_leader_cut_off_from_its_quorum_answers_no_cluster_leader_instead_of_hanging() {
    let mut cluster = Cluster::servers(52, 3, 3, &["-rpc-hold-timeout", "1s"]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let addr = cluster.agents[leader].http_addr();
    assert!(http.kv_put(&addr, "before", "1").await);
    for (i, agent) in cluster.agents.iter_mut().enumerate() {
        if i != leader {
            agent.kill9();
        }
    }
    let started = Instant::now();
    let (status, body) = http.put(&addr, "/v1/kv/after", "2").await.expect("an answer, not a hang");
    assert_eq!((status, body.trim()), (500, "No cluster leader"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "answered within the hold timeout, took {:?}",
        started.elapsed()
    );
    // A default-consistency read with an index it has already passed is an
    // ordinary read: the cut-off leader cannot vouch for it either.
    let (status, body) = http.get(&addr, "/v1/kv/before?index=1").await.expect("an answer");
    assert_eq!((status, body.trim()), (500, "No cluster leader"), "not a stale answer: {body}");
    assert_eq!(http.kv_value(&addr, "before", "?stale").await.as_deref(), Some("1"), "?stale still answers");
}

/// A hundred concurrent writes of 500 KiB: without a byte cap they would
/// make one entry of ~50 MiB that followers refuse, and every write would
/// fail while leadership churned. openraft allows an AppendEntries one
/// heartbeat interval, which a megabyte entry on a debug build does not
/// meet at multiplier 1: these servers run at Consul's default, 5.
#[tokio::test(flavor = "multi_thread")]
async fn t53_a_burst_of_large_writes_replicates_without_losing_the_leader() {
    let mut cluster = Cluster::servers(49, 3, 3, &["-raft-multiplier", "5"]);
    cluster.start_all();
    let leader = cluster.wait_leader(Duration::from_secs(30)).await;
    let http = Http::new();
    let addr = cluster.agents[leader].http_addr();
    let term = |me: serde_json::Value| me["Stats"]["raft"]["term"].as_str().unwrap_or_default().to_string();
    let before = term(http.get_json(&addr, "/v1/agent/self").await.unwrap());
    let value = "x".repeat(500 * 1024);
    // 50 MB through Raft on a debug build takes a while: a patient client.
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
    let writes: Vec<_> = (0..100)
        .map(|i| {
            let (client, url, value) = (patient.clone(), format!("http://{addr}/v1/kv/big/{i}"), value.clone());
            tokio::spawn(async move {
                let response = client.put(url).body(value).send().await.map_err(|e| e.to_string())?;
                let status = response.status().as_u16();
                let text = response.text().await.map_err(|e| e.to_string())?;
                (status == 200 && text.trim() == "true").then_some(()).ok_or(format!("{status} {text}"))
            })
        })
        .collect();
    for (i, write) in writes.into_iter().enumerate() {
        write.await.unwrap().unwrap_or_else(|e| panic!("write {i} failed: {e}"));
    }
    assert_eq!(term(http.get_json(&addr, "/v1/agent/self").await.unwrap()), before, "leadership held");
    // Every server has them all.
    for agent in &cluster.agents {
        let a = agent.http_addr();
        wait_until("a server has all 100 values", Duration::from_secs(30), || {
            let (http, a) = (&http, &a);
            async move {
                let keys = http.get_json(a, "/v1/kv/big/?keys&stale").await?;
                (keys.as_array()?.len() == 100).then_some(())
            }
        })
        .await;
    }
}
