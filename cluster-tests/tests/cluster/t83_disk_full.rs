//! Issue 13: a server whose data dir's disk is nearly full refuses writes
//! with a clear error (507, naming the dir and the free space), keeps
//! serving reads, and takes writes again once space returns, with no
//! restart. The data dir is on a small tmpfs the test mounts (root).

use std::time::Duration;

use cluster_tests::dev_agent;
use cluster_tests::disk::fill_until;
use cluster_tests::disk::Tmpfs;
use cluster_tests::Http;

const SETTLE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn t83_a_full_disk_refuses_writes_clearly_keeps_reads_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let _tmpfs = Tmpfs::mount(dir.path(), "256m");
    let mut agent = dev_agent("127.0.83.1", dir.path(), &[]);
    agent.start();
    let (http, addr) = (Http::new(), agent.http_addr());
    http.wait_json(&addr, "/v1/status/leader", SETTLE).await;
    assert!(http.kv_put(&addr, "before", "1").await);

    // 32 MiB free: under the 64 MiB reserve. The agent looks at the free
    // space at most every 100 ms while there is plenty: a probe key is
    // written until the refusal shows.
    let filler = fill_until(dir.path(), 32 << 20);
    cluster_tests::wait_until("writes are refused", SETTLE, || async {
        let (status, _) = http.put(&addr, "/v1/kv/probe", "p").await?;
        (status == 507).then_some(())
    })
    .await;
    let (status, text) = http.put(&addr, "/v1/kv/during", "2").await.expect("the agent answers");
    assert_eq!(status, 507, "{text}");
    assert!(text.starts_with("Insufficient storage: the data dir"), "{text}");
    assert!(text.contains(&dir.path().join("data").display().to_string()), "the dir is named: {text}");
    assert_eq!(http.kv_value(&addr, "before", "").await.as_deref(), Some("1"), "reads go on");
    assert_eq!(http.kv_value(&addr, "during", "").await, None, "the refused write changed nothing");

    // A single server has nobody to hand leadership to: it says so, and
    // does not try again for a while (not at every refused write).
    agent.wait_log("could not hand leadership over", SETTLE).await;
    for i in 0..20 {
        assert_eq!(http.put(&addr, &format!("/v1/kv/refused{i}"), "x").await.map(|r| r.0), Some(507));
    }
    let tries = agent.log().matches("could not hand leadership over").count();
    assert!(tries <= 2, "{tries} handover attempts in a few seconds");

    std::fs::remove_file(&filler).unwrap();
    cluster_tests::wait_until("writes work again once space returns", SETTLE, || async {
        http.kv_put(&addr, "after", "3").await.then_some(())
    })
    .await;
    assert_eq!(http.kv_value(&addr, "after", "").await.as_deref(), Some("3"));
    agent.stop();
}
