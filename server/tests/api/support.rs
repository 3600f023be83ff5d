//! A single server run in this test process on listeners the test binds
//! (port 0 on 127.0.0.1), through the same `start::run_on` the binary
//! uses. Waiting and the HTTP client are the cluster tests' own.

use std::path::Path;
use std::time::Duration;

use cluster_tests::wait_until;
use cluster_tests::Http;
use tessera_server::config::AgentConfig;
use tessera_server::start::Listeners;
use tessera_server::AgentError;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How long a server may take to elect itself and sync its agent.
pub const SETTLE: Duration = Duration::from_secs(30);
/// How long a stopped server may take to end every task and close its store.
const STOP_BOUND: Duration = Duration::from_secs(10);

pub struct TestServer {
    /// The HTTP API's address, as the cluster tests' client takes it.
    pub http: String,
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
        let server = TestServer { http: http_addr.to_string(), shutdown, task };
        let api = Http::new();
        wait_until("the server leads", SETTLE, || async {
            let leader = api.get_json(&server.http, "/v1/status/leader").await?;
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
