//! A single server run in this test process on listeners the test binds
//! (port 0 on 127.0.0.1), through the same `start::run_on` the binary
//! uses, and a small HTTP client for its API.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tessera_server::config::AgentConfig;
use tessera_server::start::Listeners;
use tessera_server::AgentError;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long a server may take to elect itself and sync its agent.
pub const SETTLE: Duration = Duration::from_secs(30);
/// How long a stopped server may take to end every task and close its store.
const STOP_BOUND: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(20);

pub struct TestServer {
    pub http: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), AgentError>>,
}

impl TestServer {
    /// A dev-style server (bootstraps alone) on `data_dir`, with the
    /// service definitions in `config_dir` if given; returns once it leads.
    pub async fn start(data_dir: &Path, config_dir: Option<&Path>) -> TestServer {
        let rpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap();
        let config = AgentConfig {
            node_name: "in-process".into(),
            data_dir: Some(data_dir.to_path_buf()),
            dev: true,
            server: true,
            http_port: http_addr.port(),
            server_port: rpc.local_addr().unwrap().port(),
            dns_port: None,
            grpc_port: None,
            config_dirs: config_dir.map(Path::to_path_buf).into_iter().collect(),
            ..AgentConfig::default()
        };
        let listeners = Listeners { rpc: Some(rpc), http, dns: None, grpc: None };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(tessera_server::start::run_on(config, listeners, shutdown.clone()));
        let server = TestServer { http: http_addr, shutdown, task };
        let api = Http::new();
        wait_until("the server leads", SETTLE, || async {
            let leader = api.get_json(&server, "/v1/status/leader").await?;
            leader.as_str().is_some_and(|l| !l.is_empty()).then_some(())
        })
        .await;
        server
    }

    /// Stops the server and waits for it to end; it must end cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let outcome = tokio::time::timeout(STOP_BOUND, self.task).await.expect("the server stops in time");
        outcome.expect("the server task did not panic").expect("the server ended without an error");
    }
}

/// Polls `check` until it returns Some, failing the test after `timeout`.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting until {what}");
        tokio::time::sleep(POLL).await; // the poll interval, bounded by the deadline above
    }
}

#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Http {
    pub fn new() -> Http {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("http client");
        Http { client }
    }

    fn url(server: &TestServer, path: &str) -> String {
        format!("http://{}{path}", server.http)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Option<(u16, String)> {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    pub async fn put(&self, server: &TestServer, path: &str, body: &str) -> Option<(u16, String)> {
        self.send(self.client.put(Self::url(server, path)).body(body.to_string())).await
    }

    pub async fn get_json(&self, server: &TestServer, path: &str) -> Option<Value> {
        let (status, body) = self.send(self.client.get(Self::url(server, path))).await?;
        (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
    }

    /// A read and its `X-Consul-Index`, what blocking queries wait past.
    pub async fn get_indexed(&self, server: &TestServer, path: &str) -> Option<(u64, String)> {
        let response = self.client.get(Self::url(server, path)).send().await.ok()?;
        let index = response.headers().get("x-consul-index")?.to_str().ok()?.parse().ok()?;
        Some((index, response.text().await.ok()?))
    }

    /// Waits until `path` answers 200 with JSON; returns it.
    pub async fn wait_json(&self, server: &TestServer, path: &str) -> Value {
        wait_until(&format!("{path} answers"), SETTLE, || self.get_json(server, path)).await
    }

    /// The status of the first check of `service` in the catalog.
    pub async fn check_status(&self, server: &TestServer, service: &str) -> Option<String> {
        let checks = self.get_json(server, &format!("/v1/health/checks/{service}")).await?;
        Some(checks.as_array()?.first()?["Status"].as_str()?.to_string())
    }
}
