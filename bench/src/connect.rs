//! Connect benchmarks: leaf signing throughput on the leader, and how fast
//! an intention write reaches the agents' local copies.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use tessera_mesh::connect::csr;
use tessera_mesh::connect::ServiceIdentity;
use tessera_mesh::connect::TrustDomain;
use tessera_proto::v1::agent_api_client::AgentApiClient;
use tessera_proto::v1::proxy_api_client::ProxyApiClient;
use tessera_proto::v1::SignLeafRequest;
use tessera_proto::v1::WatchProxyRequest;

/// A channel of its own (a fresh pool), configured as the agents' own are:
/// each load task gets its own connection.
fn channel(addr: &str) -> tonic::transport::Channel {
    tessera_proto::transport::ChannelPool::default().channel(addr).expect("address")
}

/// Signs CSRs for `service` as client node `node` through a server's
/// AgentApi (which forwards to the leader) for `seconds`.
pub async fn sign(rpc: &str, http: &str, node: &str, service: &str, seconds: u64, concurrency: usize) {
    let roots: serde_json::Value =
        reqwest::get(format!("http://{http}/v1/connect/ca/roots")).await.unwrap().json().await.unwrap();
    let td = TrustDomain::parse(roots["TrustDomain"].as_str().unwrap()).unwrap();
    let identity = ServiceIdentity::new(&td, "dc1", service);
    // Made up front: the benchmark measures the CA, not key generation.
    let csrs: Arc<Vec<String>> = Arc::new((0..256).map(|_| csr::leaf_request(&identity).unwrap().csr_pem).collect());
    let signed = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..concurrency)
        .map(|task| {
            let (csrs, signed, failed, node) = (csrs.clone(), signed.clone(), failed.clone(), node.to_string());
            let mut client = AgentApiClient::new(channel(rpc));
            tokio::spawn(async move {
                for n in 0..10_000_000usize {
                    if Instant::now() >= deadline {
                        return;
                    }
                    let csr_pem = csrs[(task * 7 + n) % csrs.len()].clone();
                    match client.sign_leaf(SignLeafRequest { csr_pem, caller_node: node.clone() }).await {
                        Ok(_) => signed.fetch_add(1, Ordering::Relaxed),
                        Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let ok = signed.load(Ordering::Relaxed);
    println!(
        "signed {ok} leaves in {elapsed:.1}s ({:.0}/s, {} failed, {concurrency} concurrent); target 5000/s",
        ok as f64 / elapsed,
        failed.load(Ordering::Relaxed)
    );
}

/// Flips an intention `rounds` times on a server and times each client
/// agent's copy changing (seen on its ProxyApi stream, which is what the
/// authorize endpoint answers from).
pub async fn intentions(server_http: &str, clients_grpc: &[String], service: &str, rounds: usize) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, String, Instant)>();
    for (i, addr) in clients_grpc.iter().enumerate() {
        let mut client = ProxyApiClient::new(channel(addr));
        let mut stream =
            client.watch_proxy(WatchProxyRequest { service: service.into() }).await.expect("watch stream").into_inner();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(update)) = stream.message().await {
                let action = update
                    .intentions
                    .iter()
                    .flat_map(|i| &i.intentions)
                    .find(|i| i.source == "bench-src")
                    .map_or("none".to_string(), |i| i.action.clone());
                let _ = tx.send((i, action, Instant::now()));
            }
        });
    }
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    for round in 0..rounds {
        let action = if round % 2 == 0 { "deny" } else { "allow" };
        let url = format!("http://{server_http}/v1/connect/intentions/exact?source=bench-src&destination={service}");
        let started = Instant::now();
        let reply = http.put(&url).body(format!(r#"{{"Action":"{action}"}}"#)).send().await.expect("write");
        assert!(reply.status().is_success(), "intention write failed");
        let mut pending: std::collections::HashSet<usize> = (0..clients_grpc.len()).collect();
        let deadline = started + Duration::from_secs(10);
        while !pending.is_empty() {
            match tokio::time::timeout_at(deadline.into(), rx.recv()).await {
                Ok(Some((client, seen, at))) if seen == action && pending.remove(&client) => {
                    latencies.push(at.duration_since(started).as_secs_f64() * 1000.0);
                }
                Ok(Some(_)) => {}
                _ => panic!("round {round}: {} clients never saw the change", pending.len()),
            }
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "{} changes seen ({} clients x {rounds} writes); write -> agent copy ms: p50 {:.1} p99 {:.1} max {:.1} (target p99 <= 50)",
        latencies.len(),
        clients_grpc.len(),
        crate::percentile(&latencies, 0.5),
        crate::percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0)
    );
}
