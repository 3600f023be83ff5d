//! `/v1/agent/metrics` on a server and on a client agent: Consul's JSON
//! shape, a well-formed Prometheus exposition, and series that move with
//! the work done.

use std::collections::BTreeMap;

use cluster_tests::wait_until;
use cluster_tests::Http;
use serde_json::Value;

use crate::support::TestClient;
use crate::support::TestServer;
use crate::support::SETTLE;

/// One sample of an exposition: its labels and value.
type Series = BTreeMap<String, f64>;

/// Checks the text exposition line by line: `# HELP name text`, `# TYPE
/// name kind`, then samples `name{label="value",...} value` of that
/// family. Returns every sample keyed as written (`name{labels}`).
fn parse_exposition(text: &str) -> Series {
    let mut series = Series::new();
    let mut family: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').unwrap_or_else(|| panic!("HELP without text: {line}"));
            assert!(valid_name(name), "bad family name in {line}");
        } else if let Some(kind) = line.strip_prefix("# TYPE ") {
            let (name, kind) = kind.split_once(' ').unwrap_or_else(|| panic!("TYPE without kind: {line}"));
            assert!(["counter", "gauge", "histogram", "untyped"].contains(&kind), "{line}");
            family = Some((name.to_string(), kind.to_string()));
        } else {
            let (name, labels, value) = split_sample(line);
            let (family, kind) = family.as_ref().unwrap_or_else(|| panic!("a sample before any TYPE: {line}"));
            let suffix = name.strip_prefix(family.as_str()).unwrap_or_else(|| panic!("{line} is not in {family}"));
            let allowed: &[&str] = if kind == "histogram" { &["_bucket", "_sum", "_count"] } else { &[""] };
            assert!(allowed.contains(&suffix), "{line} in a {kind} family");
            series.insert(format!("{name}{labels}"), value);
        }
    }
    series
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `name{labels} value` -> (name, `{labels}` or "", value), checking the labels.
fn split_sample(line: &str) -> (&str, &str, f64) {
    let (head, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("no value: {line}"));
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        v => v.parse().unwrap_or_else(|_| panic!("bad value in {line}")),
    };
    let (name, labels) = match head.find('{') {
        Some(i) => (&head[..i], &head[i..]),
        None => (head, ""),
    };
    assert!(valid_name(name), "bad name in {line}");
    if !labels.is_empty() {
        assert!(labels.ends_with('}'), "unclosed labels in {line}");
        for pair in split_labels(&labels[1..labels.len() - 1]) {
            let (key, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("bad label {pair} in {line}"));
            assert!(valid_name(key) && quoted.len() >= 2, "bad label {pair} in {line}");
            assert!(quoted.starts_with('"') && quoted.ends_with('"'), "unquoted label {pair} in {line}");
        }
    }
    (name, labels, value)
}

/// Splits `a="x",b="y,z"` at the commas outside quotes.
fn split_labels(inner: &str) -> Vec<&str> {
    let (mut parts, mut start, mut quoted, mut escaped) = (Vec::new(), 0, false, false);
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
}

async fn scrape(http: &Http, addr: &str) -> Series {
    let (code, text) = http.get(addr, "/v1/agent/metrics?format=prometheus").await.expect("metrics answer");
    assert_eq!(code, 200, "{text}");
    parse_exposition(&text)
}

async fn value(http: &Http, addr: &str, series: &str) -> f64 {
    scrape(http, addr).await.get(series).copied().unwrap_or(0.0)
}

/// Waits until `series` on `addr` satisfies `wanted`.
async fn wait_series(http: &Http, addr: &str, series: &str, wanted: impl Fn(f64) -> bool) -> f64 {
    wait_until(&format!("{series} moves"), SETTLE, || async {
        let v = value(http, addr, series).await;
        wanted(v).then_some(v)
    })
    .await
}

fn assert_consul_shape(summary: &Value) {
    assert!(summary["Timestamp"].as_str().is_some_and(|t| t.ends_with(" +0000 UTC")), "{summary}");
    assert!(summary["Points"].is_array(), "{summary}");
    let gauges = summary["Gauges"].as_array().expect("Gauges");
    for gauge in gauges {
        assert!(gauge["Name"].is_string() && gauge["Value"].is_number() && gauge["Labels"].is_object(), "{gauge}");
    }
    for list in ["Counters", "Samples"] {
        let items = summary[list].as_array().unwrap_or_else(|| panic!("{list} in {summary}"));
        assert!(!items.is_empty(), "{list} empty");
        for item in items {
            for field in ["Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev"] {
                assert!(item[field].is_number(), "{field} in {item}");
            }
            assert!(item["Name"].is_string() && item["Labels"].is_object(), "{item}");
        }
    }
}

fn named<'a>(summary: &'a Value, list: &str, name: &str) -> Vec<&'a Value> {
    summary[list].as_array().unwrap().iter().filter(|v| v["Name"] == name).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn t80_server_metrics_in_consul_json_and_prometheus_text_move_with_the_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("data"), None).await;
    let http = Http::new();
    let addr = server.http.as_str();

    // Consul's JSON, with Consul's dotted names.
    let summary = http.get_json(addr, "/v1/agent/metrics").await.unwrap();
    assert_consul_shape(&summary);
    let leader = wait_until("isLeader is 1", SETTLE, || async {
        let summary = http.get_json(addr, "/v1/agent/metrics").await?;
        let leads = named(&summary, "Gauges", "consul.server.isLeader").first().is_some_and(|g| g["Value"] == 1.0);
        leads.then_some(summary)
    })
    .await;
    assert_eq!(named(&leader, "Counters", "consul.raft.state.leader")[0]["Count"], 1, "{leader}");
    assert!(!named(&leader, "Samples", "consul.api.http").is_empty(), "{leader}");

    // The text form: its content type, and every line well formed.
    let response = reqwest::get(format!("http://{addr}/v1/agent/metrics?format=prometheus")).await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/plain; version=0.0.4; charset=utf-8");
    let series = parse_exposition(&response.text().await.unwrap());
    for name in ["consul_raft_term", "consul_raft_last_index", "consul_raft_applied_index", "consul_server_isLeader"] {
        assert!(series.contains_key(name), "{name} in {series:?}");
    }
    assert!(series["consul_raft_applied_index"] >= 1.0, "{series:?}");
    // The agent's own sync went through Raft on this, the leader.
    wait_series(&http, addr, "consul_raft_apply_total", |v| v >= 1.0).await;
    wait_series(&http, addr, "consul_raft_commitTime_count", |v| v >= 1.0).await;
    // Any other format answers JSON, as Consul's does.
    let other = reqwest::get(format!("http://{addr}/v1/agent/metrics?format=xml")).await.unwrap();
    assert_eq!(other.headers()["content-type"], "application/json");
    assert!(other.json::<Value>().await.unwrap()["Gauges"].is_array());

    // HTTP requests counted by route pattern and status class.
    let self_series = r#"consul_api_http_count{method="GET",path="/v1/agent/self",status="2xx"}"#;
    let before = value(&http, addr, self_series).await;
    for _ in 0..3 {
        assert_eq!(http.get(addr, "/v1/agent/self").await.unwrap().0, 200);
    }
    assert_eq!(value(&http, addr, self_series).await, before + 3.0);
    assert_eq!(http.get(addr, "/v1/catalog/service/anything").await.unwrap().0, 200);
    let pattern = r#"consul_api_http_count{method="GET",path="/v1/catalog/service/{name}",status="2xx"}"#;
    assert_eq!(value(&http, addr, pattern).await, 1.0, "the pattern, not the path");

    // Catalog sizes follow registrations; the TCP check's runs are counted.
    let instances = "consul_state_service_instances";
    let start = wait_series(&http, addr, instances, |v| v >= 1.0).await; // the server's own `consul`
    let web = format!(r#"{{"Name": "web", "Port": 8080, "Check": {{"TCP": "{addr}", "Interval": "10s"}}}}"#);
    assert_eq!(http.put(addr, "/v1/agent/service/register", &web).await.unwrap().0, 200);
    wait_series(&http, addr, instances, |v| v == start + 1.0).await;
    assert!(value(&http, addr, "consul_state_nodes").await >= 1.0);
    assert!(value(&http, addr, "consul_state_services").await >= 2.0);
    let runs = r#"tessera_agent_check_runs_total{type="tcp",status="passing"}"#;
    wait_series(&http, addr, runs, |v| v >= 1.0).await;

    // A leaf fetched is a leaf signed, and timed.
    let signed = r#"tessera_connect_leaf_sign_total{errored="false"}"#;
    let timed = r#"tessera_connect_leaf_sign_time_count{errored="false"}"#;
    let before = value(&http, addr, signed).await;
    let (code, leaf) = http.get(addr, "/v1/agent/connect/ca/leaf/web").await.unwrap();
    assert_eq!(code, 200, "{leaf}");
    let after = value(&http, addr, signed).await;
    assert!(after > before, "{signed} stayed at {after}");
    assert_eq!(value(&http, addr, timed).await, after, "each signing timed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn t81_client_agent_serves_its_own_metrics_and_its_calls_count_on_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"), None).await;
    let client = TestClient::start("client-1", &dir.path().join("client"), &server).await;
    let http = Http::new();

    let summary = http.get_json(&client.http, "/v1/agent/metrics").await.unwrap();
    assert!(summary["Timestamp"].is_string() && summary["Gauges"].is_array(), "{summary}");
    assert!(named(&summary, "Gauges", "consul.state.nodes").is_empty(), "a client agent has no catalog of its own");
    // Its own HTTP API is counted on it, forwarded calls as `other`.
    assert_eq!(http.get(&client.http, "/v1/catalog/services").await.unwrap().0, 200);
    let series = scrape(&http, &client.http).await;
    let forwarded = r#"consul_api_http_count{method="GET",path="other",status="2xx"}"#;
    assert_eq!(series.get(forwarded), Some(&1.0), "{series:?}");
    assert!(series.contains_key(r#"consul_api_http_count{method="GET",path="/v1/agent/metrics",status="2xx"}"#));

    // The client's gRPC calls to the server are counted there, by method.
    let on_server = scrape(&http, &server.http).await;
    let calls: Vec<_> = on_server
        .iter()
        .filter(|(k, v)| k.starts_with("consul_rpc_request_total{method=\"AgentApi.") && **v >= 1.0)
        .collect();
    assert!(!calls.is_empty(), "{on_server:?}");
    assert!(calls.iter().all(|(k, _)| k.contains(r#"listener="server""#)), "{calls:?}");
    client.stop().await;
    server.stop().await;
}

#[test]
fn the_exposition_checker_refuses_what_prometheus_would() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{k=\"v,\\\"w\"} 1\n";
    assert_eq!(parse_exposition(good)[r#"a_total{k="v,\"w"}"#], 1.0);
    for bad in ["# TYPE a counter\nb 1\n", "# TYPE a gauge\na{k=v} 1\n", "# TYPE a gauge\na one\n", "a 1\n"] {
        assert!(std::panic::catch_unwind(|| parse_exposition(bad)).is_err(), "{bad:?} accepted");
    }
}
