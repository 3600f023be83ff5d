//! TEMPORARY scratch benchmark (to be deleted).
#[path = "proxy/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;
use std::time::Instant;

use support::*;
use tokio::io::AsyncReadExt;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::net::TcpStream;

fn cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

async fn sink_app() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 256 * 1024];
                let mut total = 0u64;
                loop {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => total += n as u64,
                    }
                }
                let _ = conn.write_all(&total.to_be_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench() {
    let ca = Ca::new("Tessera CA 1");
    let echo_addr = echo_app().await;
    let sink = sink_app().await;
    let socat = TestProxy::public(snapshot(&ca, "socat"), echo_addr, true).await;
    let web = TestProxy::upstream(snapshot(&ca, "web"), "socat", vec![socat.public_endpoint("socat")]).await;
    let sinkp = TestProxy::public(snapshot(&ca, "sink"), sink, true).await;
    let web2 = TestProxy::upstream(snapshot(&ca, "web"), "sink", vec![sinkp.public_endpoint("sink")]).await;
    let up = web.upstream_addr("socat");

    // RTT
    let mut conn = TcpStream::connect(up).await.unwrap();
    conn.set_nodelay(true).unwrap();
    let msg = [1u8; 64];
    let mut buf = [0u8; 64];
    let mut samples = Vec::new();
    for i in 0..20000 {
        let t = Instant::now();
        conn.write_all(&msg).await.unwrap();
        conn.read_exact(&mut buf).await.unwrap();
        if i > 1000 { samples.push(t.elapsed()); }
    }
    samples.sort();
    println!("RTT p50 {:?} p99 {:?}", samples[samples.len() / 2], samples[samples.len() * 99 / 100]);
    drop(conn);

    // new connections/s, sequential then 8 concurrent
    for conc in [1usize, 8] {
        let start = Instant::now();
        let dur = Duration::from_secs(3);
        let mut tasks = Vec::new();
        for _ in 0..conc {
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while start.elapsed() < dur {
                    let mut c = TcpStream::connect(up).await.unwrap();
                    c.set_nodelay(true).unwrap();
                    c.write_all(b"x").await.unwrap();
                    let mut b = [0u8; 1];
                    c.read_exact(&mut b).await.unwrap();
                    n += 1;
                }
                n
            }));
        }
        let mut total = 0;
        for t in tasks { total += t.await.unwrap(); }
        println!("new conns/s (concurrency {conc}): {:.0}", total as f64 / start.elapsed().as_secs_f64());
    }
    println!("resumed outbound: {} full: {}", web.metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="resumed"}"#).await, web.metric(r#"tessera_proxy_handshakes_total{direction="outbound",kind="full"}"#).await);

    throughput(&web2).await;
    let _ = (web2, sinkp);

    // RSS with 1000 open connections
    // RSS with 1000 open connections
    let before = rss_kb();
    let mut open = Vec::new();
    for _ in 0..1000 {
        let mut c = TcpStream::connect(up).await.unwrap();
        c.write_all(b"hi").await.unwrap();
        let mut b = [0u8; 2];
        c.read_exact(&mut b).await.unwrap();
        open.push(c);
    }
    let after = rss_kb();
    println!("RSS before {} KB, with 1000 open {} KB (delta {} KB, both proxies + echo + clients)", before, after, after - before);
}

async fn throughput(web2: &TestProxy) {
    let mut conn = TcpStream::connect(web2.upstream_addr("sink")).await.unwrap();
    let chunk = vec![0u8; 256 * 1024];
    let total: u64 = 4 << 30;
    let start = Instant::now();
    let cpu0 = cpu_secs();
    let mut sent = 0u64;
    while sent < total {
        conn.write_all(&chunk).await.unwrap();
        sent += chunk.len() as u64;
    }
    conn.shutdown().await.unwrap();
    let mut got = [0u8; 8];
    conn.read_exact(&mut got).await.unwrap();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(u64::from_be_bytes(got), total);
    println!("throughput: {:.2} Gbit/s, cpu {:.2} s/GiB", total as f64 * 8.0 / secs / 1e9, (cpu_secs() - cpu0) / 4.0);

}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_throughput() {
    let ca = Ca::new("Tessera CA 1");
    let sink = sink_app().await;
    let sinkp = TestProxy::public(snapshot(&ca, "sink"), sink, true).await;
    let web2 = TestProxy::upstream(snapshot(&ca, "web"), "sink", vec![sinkp.public_endpoint("sink")]).await;
    for _ in 0..3 { throughput(&web2).await; }
}

async fn source_app() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                let chunk = vec![0u8; 256 * 1024];
                let total: u64 = 4 << 30;
                let mut sent = 0;
                while sent < total {
                    if conn.write_all(&chunk).await.is_err() { return; }
                    sent += chunk.len() as u64;
                }
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_download() {
    let ca = Ca::new("Tessera CA 1");
    let source = source_app().await;
    let srcp = TestProxy::public(snapshot(&ca, "src"), source, true).await;
    let web = TestProxy::upstream(snapshot(&ca, "web"), "src", vec![srcp.public_endpoint("src")]).await;
    for _ in 0..3 {
        let mut conn = TcpStream::connect(web.upstream_addr("src")).await.unwrap();
        let mut buf = vec![0u8; 256 * 1024];
        let start = Instant::now();
        let cpu0 = cpu_secs();
        let mut total = 0u64;
        loop {
            let n = conn.read(&mut buf).await.unwrap();
            if n == 0 { break; }
            total += n as u64;
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(total, 4 << 30);
        println!("download: {:.2} Gbit/s, cpu {:.2} s/GiB", total as f64 * 8.0 / secs / 1e9, (cpu_secs() - cpu0) / 4.0);
    }
}
