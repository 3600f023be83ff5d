//! A web page cannot drive the agent: cross-origin writes, browser
//! text/plain bodies and rebound Host names are refused, and nothing changes.

use cluster_tests::Http;

use crate::support::TestServer;

async fn send(
    server: &TestServer,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let client = reqwest::Client::new();
    let mut request = client.request(method, format!("http://{}{path}", server.http)).body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn t75_pages_on_other_sites_cannot_write_and_rebound_names_cannot_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let intention = r#"{"SourceName": "*", "DestinationName": "*", "Action": "deny"}"#;
    let put = reqwest::Method::POST;

    let (code, text) =
        send(&server, put.clone(), "/v1/connect/intentions", &[("origin", "http://evil.example")], intention).await;
    assert_eq!(code, 403, "{text}");
    assert!(text.contains("another origin"), "{text}");
    let page_form = [("sec-fetch-mode", "no-cors"), ("sec-fetch-site", "cross-site"), ("content-type", "text/plain")];
    let (code, text) = send(&server, put.clone(), "/v1/connect/intentions", &page_form, intention).await;
    assert_eq!(code, 403, "{text}");
    let (code, text) =
        send(&server, reqwest::Method::GET, "/v1/kv/?recurse", &[("host", "evil.example:8500")], "").await;
    assert_eq!(code, 403, "a rebound name reads nothing: {text}");
    assert!(text.contains("DNS rebinding"), "{text}");

    let intentions = Http::new().get_json(&server.http, "/v1/connect/intentions").await.unwrap();
    assert_eq!(intentions, serde_json::json!([]), "nothing was created");
    // The same write from an API client, and from the agent's own origin, goes through.
    let own = format!("http://{}", server.http);
    let (code, text) = send(&server, put, "/v1/connect/intentions", &[("origin", &own)], intention).await;
    assert_eq!(code, 200, "{text}");
    server.stop().await;
}
