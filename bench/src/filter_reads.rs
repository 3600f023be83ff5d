//! `/v1/health/service/:s` read throughput with and without `?filter=`,
//! over one service of many instances, on one agent: the filter is parsed
//! once per request and evaluated over each entry, and should cost little
//! beside building and sending the answer. The filter used matches every
//! entry, so both answers are the same size.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

const SERVICE: &str = "filtered";
const ROUNDS: usize = 3;

pub async fn health_filter(addr: &str, instances: usize, seconds: u64, concurrency: usize) {
    let client = reqwest::Client::new();
    register(&client, addr, instances).await;
    let plain = format!("http://{addr}/v1/health/service/{SERVICE}?stale");
    let expr = r#"Checks.Status == passing and Service.Tags contains "bench""#;
    let filtered = format!("{plain}&{}", serde_urlencoded::to_string([("filter", expr)]).expect("encodes"));
    let per_round = Duration::from_secs(seconds.max(1)) / ROUNDS as u32;
    let (mut plain_rate, mut filtered_rate) = (0.0, 0.0);
    // Alternating rounds, so neither variant gets the warmer machine.
    for _ in 0..ROUNDS {
        plain_rate += reads_per_second(&client, &plain, per_round, concurrency, instances).await / ROUNDS as f64;
        filtered_rate += reads_per_second(&client, &filtered, per_round, concurrency, instances).await / ROUNDS as f64;
    }
    println!("health/service over {instances} instances, {concurrency} concurrent, {seconds}s each:");
    println!("  unfiltered {plain_rate:.0} reads/s, filtered {filtered_rate:.0} reads/s");
    println!("  ratio filtered/unfiltered {:.2} (target >= 0.8)", filtered_rate / plain_rate);
}

/// `instances` instances of the service, 10 per node, each with a passing check.
async fn register(client: &reqwest::Client, addr: &str, instances: usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (client, next, addr) = (client.clone(), next.clone(), addr.to_string());
            tokio::spawn(async move {
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= instances {
                        return;
                    }
                    let body = serde_json::json!({
                        "Node": format!("bench-node-{}", k / 10), "Address": "10.1.0.1",
                        "Service": {"ID": format!("{SERVICE}-{k}"), "Service": SERVICE, "Tags": ["bench"], "Port": 80},
                        "Check": {"CheckID": format!("{SERVICE}-{k}-ok"), "Name": "ok", "Status": "passing",
                                  "ServiceID": format!("{SERVICE}-{k}")},
                    });
                    let url = format!("http://{addr}/v1/catalog/register");
                    let sent = client.put(url).body(body.to_string()).send().await;
                    assert!(sent.is_ok_and(|r| r.status().is_success()), "registration {k} failed");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("registration task");
    }
}

/// Reads `url` for `run` with `concurrency` clients; every answer must list
/// `instances` entries.
async fn reads_per_second(
    client: &reqwest::Client,
    url: &str,
    run: Duration,
    concurrency: usize,
    instances: usize,
) -> f64 {
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, done, url) = (client.clone(), done.clone(), url.to_string());
            tokio::spawn(async move {
                while started.elapsed() < run {
                    let body = client.get(&url).send().await.expect("read").bytes().await.expect("body");
                    let entries: Vec<serde_json::Value> = serde_json::from_slice(&body).expect("a JSON list");
                    assert_eq!(entries.len(), instances, "{url}");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("read task");
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}
