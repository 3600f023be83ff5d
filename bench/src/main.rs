//! `tessera-bench`: load generators for bench/catalog.sh. Every loop is
//! bounded in count and time and stops by itself.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

mod connect;
mod filter_reads;
mod store_reads;

use clap::Parser;
use clap::Subcommand;

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Registers services through an agent for a while, then waits until the
    /// catalog lists them all; prints accepted and sustained rates.
    Register {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Parks many blocking queries on a service's health, flips one of its
    /// TTL checks, and measures how long each query takes to answer.
    Fanout {
        #[arg(long)]
        addr: String,
        #[arg(long)]
        service: String,
        #[arg(long)]
        check: String,
        /// The agent that owns the check (default: --addr).
        #[arg(long)]
        check_addr: Option<String>,
        #[arg(long, default_value_t = 1000)]
        watchers: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// Signs leaf CSRs through a server's AgentApi as a client node.
    Sign {
        /// A server's RPC address.
        #[arg(long)]
        rpc: String,
        /// A server's HTTP address (for the trust domain).
        #[arg(long)]
        http: String,
        /// The client node whose service the CSRs claim.
        #[arg(long)]
        node: String,
        #[arg(long)]
        service: String,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
    },
    /// Opens connections to an echo path, checks each echoes, and holds them
    /// open for a while (to measure a sidecar's memory under load).
    Hold {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 1000)]
        count: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Times listing service names (`/v1/catalog/services`' read) on a real
    /// store at growing catalog sizes, summaries beside the full scan.
    ServicesList {
        #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
        instances: Vec<usize>,
    },
    /// Registers many instances of one service, then reads its health with
    /// and without a `?filter=` that matches them all; prints both rates.
    HealthFilter {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value_t = 10_000)]
        instances: usize,
        #[arg(long, default_value_t = 12)]
        seconds: u64,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// Flips an intention and times every client agent's copy changing.
    Intentions {
        /// A server's HTTP address, where the intention is written.
        #[arg(long)]
        server: String,
        /// Client agents' gRPC addresses (repeatable).
        #[arg(long = "client")]
        clients: Vec<String>,
        /// A service registered on every client.
        #[arg(long)]
        service: String,
        #[arg(long, default_value_t = 40)]
        rounds: usize,
    },
}

#[tokio::main]
async fn main() {
    match Cli::parse().command {
        Command::Register { addr, seconds, concurrency } => register(&addr, seconds, concurrency).await,
        Command::Fanout { addr, service, check, check_addr, watchers, rounds } => {
            let owner = check_addr.unwrap_or_else(|| addr.clone());
            fanout(&addr, &service, (&owner, &check), watchers, rounds).await
        }
        Command::Sign { rpc, http, node, service, seconds, concurrency } => {
            connect::sign(&rpc, &http, &node, &service, seconds, concurrency).await
        }
        Command::Hold { addr, count, seconds } => hold(&addr, count, seconds).await,
        Command::HealthFilter { addr, instances, seconds, concurrency } => {
            filter_reads::health_filter(&addr, instances, seconds, concurrency).await
        }
        Command::ServicesList { instances } => store_reads::services_list(&instances).await,
        Command::Intentions { server, clients, service, rounds } => {
            connect::intentions(&server, &clients, &service, rounds).await
        }
    }
}

async fn register(addr: &str, seconds: u64, concurrency: usize) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let accepted = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let (client, accepted, addr) = (client.clone(), accepted.clone(), addr.to_string());
            tokio::spawn(async move {
                for n in 0..1_000_000u64 {
                    if Instant::now() >= deadline {
                        return;
                    }
                    let body = format!(r#"{{"Name":"bench-{task}-{n}","Port":1000}}"#);
                    let url = format!("http://{addr}/v1/agent/service/register");
                    if let Ok(r) = client.put(url).body(body).send().await {
                        if r.status().is_success() {
                            accepted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let submitted = started.elapsed();
    let total = accepted.load(Ordering::Relaxed);
    let visible_at = wait_catalog(&client, addr, total, started).await;
    println!(
        "accepted {total} registrations in {:.1}s: {:.0}/s",
        submitted.as_secs_f64(),
        total as f64 / submitted.as_secs_f64()
    );
    match visible_at {
        Some(t) => println!(
            "all {total} in the catalog after {:.2}s: sustained {:.0}/s",
            t.as_secs_f64(),
            total as f64 / t.as_secs_f64()
        ),
        None => println!("NOT all registrations reached the catalog within 120s"),
    }
}

/// Time from `started` until the catalog lists `total` bench services.
async fn wait_catalog(client: &reqwest::Client, addr: &str, total: usize, started: Instant) -> Option<Duration> {
    let give_up = Instant::now() + Duration::from_secs(120);
    while Instant::now() < give_up {
        let url = format!("http://{addr}/v1/catalog/services?stale");
        if let Ok(r) = client.get(url).send().await {
            if let Ok(v) = r.json::<serde_json::Value>().await {
                let n = v.as_object().map_or(0, |m| m.keys().filter(|k| k.starts_with("bench-")).count());
                if n >= total {
                    return Some(started.elapsed());
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// A health answer: its index and the body.
async fn health(client: &reqwest::Client, url: &str) -> Option<(u64, String)> {
    let r = client.get(url).send().await.ok()?;
    let index = r.headers().get("x-consul-index")?.to_str().ok()?.parse().ok()?;
    Some((index, r.text().await.ok()?))
}

/// The status of check `check` in a health answer.
fn check_status(body: &str, check: &str) -> Option<String> {
    let entries: serde_json::Value = serde_json::from_str(body).ok()?;
    entries
        .as_array()?
        .iter()
        .flat_map(|e| e["Checks"].as_array().cloned().unwrap_or_default())
        .find_map(|c| (c["CheckID"] == check).then(|| c["Status"].as_str().unwrap_or_default().to_string()))
}

async fn fanout(addr: &str, service: &str, (owner, check): (&str, &str), watchers: usize, rounds: usize) {
    let client = reqwest::Client::builder().pool_max_idle_per_host(watchers).build().expect("client");
    let base = format!("http://{addr}/v1/health/service/{service}");
    // Start from a passing check, whatever an earlier run left.
    let _ = client.put(format!("http://{owner}/v1/agent/check/pass/{check}")).send().await;
    let settle = Instant::now() + Duration::from_secs(10);
    let mut start_index = None;
    while start_index.is_none() && Instant::now() < settle {
        if let Some((index, body)) = health(&client, &base).await {
            if check_status(&body, check).as_deref() == Some("passing") {
                start_index = Some(index);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let Some(start_index) = start_index else {
        return println!("cannot see check {check} passing at {base}");
    };
    let armed = Arc::new(AtomicUsize::new(0));
    let flips = Arc::new(std::sync::Mutex::new(Vec::<Instant>::new()));
    // Round r flips the check to EXPECTED[r % 2]; a watcher's answer for
    // round r is the first one showing that status (other catalog changes
    // wake it too, and it simply blocks again).
    const EXPECTED: [&str; 2] = ["critical", "passing"];
    let tasks: Vec<_> = (0..watchers)
        .map(|_| {
            let (client, base, armed, check) = (client.clone(), base.clone(), armed.clone(), check.to_string());
            tokio::spawn(async move {
                let mut index = start_index;
                let mut woke = Vec::new();
                for round in 0..rounds {
                    armed.fetch_add(1, Ordering::SeqCst);
                    for _ in 0..100 {
                        let url = format!("{base}?index={index}&wait=60s");
                        let Some((next, body)) = health(&client, &url).await else { return woke };
                        index = next;
                        if check_status(&body, &check).as_deref() == Some(EXPECTED[round % 2]) {
                            woke.push(Instant::now());
                            break;
                        }
                    }
                }
                woke
            })
        })
        .collect();
    // The check starts passing: the first flip must change it.
    let statuses = ["fail", "pass"];
    for round in 0..rounds {
        let want = watchers * (round + 1);
        let ready = Instant::now() + Duration::from_secs(30);
        while armed.load(Ordering::SeqCst) < want && Instant::now() < ready {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // Let the last requests reach the agent and park.
        tokio::time::sleep(Duration::from_millis(200)).await;
        flips.lock().unwrap().push(Instant::now());
        let url = format!("http://{owner}/v1/agent/check/{}/{check}", statuses[round % 2]);
        let _ = client.put(url).send().await;
    }
    let flips = flips.lock().unwrap().clone();
    let mut latencies = Vec::new();
    for task in tasks {
        if let Ok(woke) = task.await {
            for (round, t) in woke.iter().enumerate() {
                latencies.push(t.saturating_duration_since(flips[round]).as_secs_f64() * 1000.0);
            }
        }
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{} answers of {} expected; change -> answer ms: p50 {:.1} p99 {:.1} max {:.1}",
        latencies.len(),
        watchers * rounds,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
}

async fn hold(addr: &str, count: usize, seconds: u64) {
    use tokio::io::AsyncReadExt;
    use tokio::io::AsyncWriteExt;
    let mut held = Vec::with_capacity(count);
    for n in 0..count {
        let mut stream = match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => stream,
            Err(e) => return eprintln!("connection {n}: {e}"),
        };
        let mut byte = [0u8; 1];
        let echoed = stream.write_all(b"x").await.is_ok()
            && tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut byte))
                .await
                .is_ok_and(|r| r.is_ok());
        if !echoed {
            return eprintln!("connection {n} did not echo");
        }
        held.push(stream);
    }
    println!("holding {} connections for {seconds}s", held.len());
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

/// Nearest-rank percentile `p` (0..=1) of ascending `sorted`; NaN if empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (sorted.len() as f64 * p).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied().unwrap_or(f64::NAN)
}
