//! Exactly-once writes: a follower forwards writes to the leader with a
//! forward timeout so short that the first attempt's answer is lost while
//! the write itself lands; the retry gets the first attempt's answer
//! instead of applying the write again.

use std::time::Duration;

use cluster_tests::wait_until;
use cluster_tests::Http;

use crate::support::TestServer;
use crate::support::SETTLE;

#[tokio::test(flavor = "multi_thread")]
async fn t55_a_forwarded_write_whose_answer_was_lost_is_answered_its_first_answer() {
    let root = tempfile::tempdir().unwrap();
    let leader = TestServer::start(&root.path().join("leader"), None).await;
    let rpc = leader.rpc.clone();
    let follower = TestServer::start_with(&root.path().join("follower"), None, |config| {
        config.node_name = "follower".into();
        config.dev = false;
        config.bootstrap_expect = 0;
        config.retry_join = vec![rpc];
        config.retry_interval = Duration::from_millis(200);
        // Shorter than any commit on two servers: the leader applies the
        // write, but the first attempt's deadline has passed by then.
        config.forward_timeout = Duration::from_millis(1);
    })
    .await;
    let http = Http::new();
    wait_until("two voters", SETTLE, || async {
        let peers = http.get_json(&leader.http, "/v1/status/peers").await?;
        (peers.as_array()?.len() == 2).then_some(())
    })
    .await;

    for n in 0..5 {
        let path = format!("/v1/kv/once/{n}?cas=0");
        let (status, text) = http.put(&follower.http, &path, "first").await.expect("the follower answers");
        assert_eq!((status, text.trim()), (200, "true"), "a ?cas=0 create of a new key, through the follower");
        let value = http.kv_value(&leader.http, &format!("once/{n}"), "").await;
        assert_eq!(value.as_deref(), Some("first"));
    }
    let body = r#"{"SourceName":"web","DestinationName":"db","Action":"allow"}"#;
    let (status, text) = http.post(&follower.http, "/v1/connect/intentions", body).await.expect("answers");
    assert_eq!(status, 200, "a new intention is created once, not then refused as a duplicate: {text}");

    follower.stop().await;
    leader.stop().await;
}
