use std::time::Duration;

use cluster_tests::wait_until;
use cluster_tests::Cluster;
use cluster_tests::Http;

const FORM: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread")]
async fn t70_whole_cluster_restart_keeps_data_and_never_bootstraps_again() {
    let mut cluster = Cluster::servers(70, 3, 3, &[]);
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let http = Http::new();
    let addr = cluster.agents[leader].http_addr();
    for n in 0..50 {
        assert!(http.kv_put(&addr, &format!("keep/{n}"), &format!("v{n}")).await);
    }
    let cluster_id_line = |log: &str| {
        log.lines().find(|l| l.contains("cluster id")).map(|l| l.split("cluster_id=").nth(1).unwrap_or("").to_string())
    };
    // Logged when the entry is applied, which on a follower may come later.
    let id_before = wait_until("agents[0] logs the cluster id", FORM, || {
        let line = cluster_id_line(&cluster.agents[0].log());
        async move { line }
    })
    .await;

    // Graceful stop for two, a crash for the third.
    cluster.agents[0].stop();
    cluster.agents[1].stop();
    cluster.agents[2].kill9();
    cluster.start_all();
    let leader = cluster.wait_leader(FORM).await;
    let addr = cluster.agents[leader].http_addr();
    for n in 0..50 {
        assert_eq!(http.kv_value(&addr, &format!("keep/{n}"), "").await, Some(format!("v{n}")));
    }
    assert!(http.kv_put(&addr, "after-restart", "ok").await);
    let bootstraps: usize = cluster.agents.iter().map(|a| a.log().matches("bootstrapped the cluster").count()).sum();
    assert_eq!(bootstraps, 1, "a restarted cluster must not bootstrap again");
    let ids: Vec<String> = cluster
        .agents
        .iter()
        .filter_map(|a| {
            a.log()
                .lines()
                .rev()
                .find(|l| l.contains("cluster id"))
                .map(|l| l.split("cluster_id=").nth(1).unwrap_or("").to_string())
        })
        .collect();
    assert!(ids.iter().all(|id| *id == id_before), "{ids:?} vs {id_before}");
}
