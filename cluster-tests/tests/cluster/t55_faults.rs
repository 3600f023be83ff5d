//! The fault suite: every fault of `cluster_tests::faults` once (or
//! `TESSERA_FAULT_ROUNDS` times, within `TESSERA_FAULT_TIME_LIMIT` seconds:
//! bench/faults.sh) under a recording workload, each history checked for
//! linearizability; and the read barrier a blocking query must take.

use std::time::Duration;
use std::time::Instant;

use cluster_tests::faults::partition::Partition;
use cluster_tests::faults::table;
use cluster_tests::faults::Fault;
use cluster_tests::faults::Hosts;
use cluster_tests::faults::Timing;
use cluster_tests::netns::TestNet;
use cluster_tests::Agent;
use cluster_tests::Http;

const SETTLE: Duration = Duration::from_secs(60);

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread")]
async fn t55_under_every_fault_no_acknowledged_write_is_lost_and_default_reads_are_linearizable() {
    let rounds = env_number("TESSERA_FAULT_ROUNDS", 1) as usize;
    let long = rounds > 1;
    // The long run holds faults longer, and stops starting rounds at its limit.
    let limit = Duration::from_secs(env_number("TESSERA_FAULT_TIME_LIMIT", if long { 3600 } else { 600 }));
    let timing = Timing {
        hold: Duration::from_millis(env_number("TESSERA_FAULT_HOLD_MS", if long { 4000 } else { 2000 })),
        flaps: if long { 6 } else { 3 },
        flap: Duration::from_millis(300),
        writes_around: 30,
        settle: SETTLE,
    };
    let report_dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("faults");
    let started = Instant::now();
    let mut hosts = Hosts::start(55, SETTLE).await;
    let mut rows = Vec::new();
    // TESSERA_FAULTS=leader-sigkill,flapping-link runs only those.
    let only = std::env::var("TESSERA_FAULTS").unwrap_or_default();
    let faults: Vec<Fault> = Fault::ALL.into_iter().filter(|f| only.is_empty() || only.contains(f.name())).collect();
    'rounds: for round in 1..=rounds {
        for &fault in &faults {
            if started.elapsed() > limit {
                eprintln!("=== time limit {limit:?} reached in round {round}");
                break 'rounds;
            }
            eprintln!("=== round {round}: {}", fault.name());
            let row = hosts.run_phase(fault, round, &timing, &report_dir).await;
            eprintln!("{}", table::line(&row));
            rows.push(row);
        }
    }
    println!("{}", table::HEADER);
    rows.iter().for_each(|row| println!("{}", table::line(row)));
    eprintln!("{} fault runs in {:?}", rows.len(), started.elapsed());
    // Writes are exactly-once, so a CAS retried after an ambiguous failure
    // (labelled `NO (dup CAS)` when that alone explains a failure) fails
    // the run like any other violation.
    let failed: Vec<String> = rows.iter().filter(|r| !r.passed()).map(table::line).collect();
    assert!(failed.is_empty(), "faults that lost writes or broke linearizability:\n{}", failed.join("\n"));
}

/// A follower cut off from the other servers misses writes; a blocking
/// query parked on it (at the index it has) is woken when it catches up,
/// one entry at a time. Without a read barrier after the wake it would
/// answer the first value it applies, though the client's write of the
/// last one was acknowledged before the query was sent.
#[tokio::test(flavor = "multi_thread")]
async fn t56_a_blocking_read_on_a_follower_that_was_cut_off_confirms_with_the_leader_before_answering() {
    let net = TestNet::create(56, 3);
    let dir = tempfile::tempdir().unwrap();
    let mut servers = net.servers(3, None, dir.path(), &["-rpc-hold-timeout", "1s"]);
    servers.iter_mut().for_each(Agent::start);
    let http = Http::new();
    let leader = net.leader_host(&http, &servers[0].http_addr(), SETTLE).await;
    let follower = (1..=3).find(|h| *h != leader).unwrap();
    let (leader_addr, follower_addr) = (servers[leader - 1].http_addr(), servers[follower - 1].http_addr());
    assert!(http.kv_put(&leader_addr, "k", "v0").await);
    cluster_tests::wait_until("the follower has v0", SETTLE, || http.kv_value(&follower_addr, "k", "?stale")).await;

    eprintln!("=== the follower is cut off from the other servers (the test still reaches it)");
    let others: Vec<usize> = (1..=3).filter(|h| *h != follower).collect();
    let cut = Partition::split(&net, &[follower], &others);
    // An index it has passed: an ordinary read, which it cannot vouch for.
    let (status, body) = http.get(&follower_addr, "/v1/kv/k?index=1").await.expect("an answer");
    assert_ne!(status, 200, "a cut-off follower answered a default read from its own state: {body}");
    let last = 40;
    for n in 1..=last {
        let written = cluster_tests::wait_until("the majority acknowledges a write", SETTLE, || {
            let (http, leader_addr) = (&http, &leader_addr);
            async move { http.kv_put(leader_addr, "k", &format!("v{n}")).await.then_some(()) }
        });
        written.await;
    }
    let (index, _) = http.get_indexed(&follower_addr, "/v1/kv/k?stale").await.expect("a stale read answers");
    let patient = reqwest::Client::builder().timeout(Duration::from_secs(90)).build().unwrap();
    let url = format!("http://{follower_addr}/v1/kv/k?index={index}&wait=60s");
    let parked = tokio::spawn(async move {
        let response = patient.get(url).send().await.expect("the blocking query answers");
        (response.status().as_u16(), response.text().await.unwrap())
    });

    eprintln!("=== healed: the follower catches up and the parked query wakes");
    cut.heal();
    let (status, body) = parked.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let entries: serde_json::Value = serde_json::from_str(&body).unwrap();
    let value = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        entries[0]["Value"].as_str().expect("a value"),
    )
    .unwrap();
    assert_eq!(String::from_utf8(value).unwrap(), format!("v{last}"), "a stale answer to a default-consistency read");
}
