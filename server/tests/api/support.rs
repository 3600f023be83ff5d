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
    /// The DNS server's address (UDP and TCP).
    pub dns: String,
    /// The server RPC (gRPC) address, for client agents to join.
    pub rpc: String,
    /// The HTTPS API's address, when the configuration turned it on.
    pub https: Option<String>,
    /// The agent's gRPC TLS address, when the configuration turned it on.
    pub grpc_tls: Option<String>,
    /// Where the agent CA and certificates for the server port are.
    pub tls: TestTls,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), AgentError>>,
}

impl TestServer {
    /// A dev-style server (bootstraps alone) on `data_dir`, with the
    /// service definitions in `config_dir` if given; returns once it leads.
    pub async fn start(data_dir: &Path, config_dir: Option<&Path>) -> TestServer {
        TestServer::start_with(data_dir, config_dir, |_| {}).await
    }

    /// As [`TestServer::start`], with `tweak` applied to the configuration.
    /// A tweak that sets `https_port` or `grpc_tls_port` (to anything) gets
    /// that listener on a free port.
    pub async fn start_with(
        data_dir: &Path,
        config_dir: Option<&Path>,
        tweak: impl FnOnce(&mut AgentConfig),
    ) -> TestServer {
        let rpc = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rpc_addr = rpc.local_addr().unwrap();
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap();
        let (dns_udp, dns_tcp) = dns_sockets().await;
        let dns_addr = dns_udp.local_addr().unwrap();
        let mut config = AgentConfig {
            node_name: "in-process".into(),
            data_dir: Some(data_dir.to_path_buf()),
            dev: true,
            server: true,
            http_port: http_addr.port(),
            server_port: rpc_addr.port(),
            dns_port: None,
            grpc_port: None,
            config_dirs: config_dir.map(Path::to_path_buf).into_iter().collect(),
            ..AgentConfig::default()
        };
        let tls = TestTls::make(data_dir.parent().unwrap_or(data_dir));
        config.rpc_tls = tls.rpc_tls(true);
        tweak(&mut config);
        let (https, https_addr) = optional_listener(&mut config.https_port).await;
        let (grpc_tls, grpc_tls_addr) = optional_listener(&mut config.grpc_tls_port).await;
        let listeners = Listeners { rpc: Some(rpc), http, https, dns: Some((dns_udp, dns_tcp)), grpc: None, grpc_tls };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(tessera_server::start::run_on(config, listeners, shutdown.clone()));
        let (http, dns, rpc) = (http_addr.to_string(), dns_addr.to_string(), rpc_addr.to_string());
        let server = TestServer { http, dns, rpc, https: https_addr, grpc_tls: grpc_tls_addr, tls, shutdown, task };
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

/// A client agent run in this process, joined to a [`TestServer`]; only
/// its HTTP API listens (no DNS, no gRPC).
pub struct TestClient {
    pub http: String,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), AgentError>>,
}

impl TestClient {
    /// Starts `name` on `data_dir`; returns once the server's catalog has
    /// its node.
    pub async fn start(name: &str, data_dir: &Path, server: &TestServer) -> TestClient {
        TestClient::start_with(name, data_dir, server, |_| {}).await
    }

    /// As [`TestClient::start`], with `tweak` applied to the configuration.
    pub async fn start_with(
        name: &str,
        data_dir: &Path,
        server: &TestServer,
        tweak: impl FnOnce(&mut AgentConfig),
    ) -> TestClient {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let http_addr = http.local_addr().unwrap();
        let mut config = AgentConfig {
            node_name: name.into(),
            data_dir: Some(data_dir.to_path_buf()),
            http_port: http_addr.port(),
            dns_port: None,
            grpc_port: None,
            retry_join: vec![server.rpc.clone()],
            rpc_tls: server.tls.rpc_tls(false),
            ..AgentConfig::default()
        };
        tweak(&mut config);
        let listeners = Listeners { rpc: None, http, https: None, dns: None, grpc: None, grpc_tls: None };
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(tessera_server::start::run_on(config, listeners, shutdown.clone()));
        let api = Http::new();
        wait_until("the client's node is in the catalog", SETTLE, || async {
            api.get_json(&server.http, &format!("/v1/catalog/node/{name}")).await?["Node"]["Node"].as_str().map(|_| ())
        })
        .await;
        TestClient { http: http_addr.to_string(), shutdown, task }
    }

    /// Stops the client agent; it must end cleanly.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let outcome = tokio::time::timeout(STOP_BOUND, self.task).await.expect("the client stops in time");
        outcome.expect("the client task did not panic").expect("the client ended without an error");
    }
}

/// An agent CA with a server and a client certificate for datacenter
/// dc1, written under `<dir>/tls`, as `tessera tls` would make them.
#[derive(Clone)]
pub struct TestTls {
    dir: std::path::PathBuf,
}

impl TestTls {
    /// The material under `dir`, made unless it is there already (a test
    /// may make it before the server it starts on the same directory).
    pub fn make(dir: &Path) -> TestTls {
        use tessera_mesh::agent_tls;
        let dir = dir.join("tls");
        if dir.join("ca-key.pem").exists() {
            return TestTls { dir };
        }
        std::fs::create_dir_all(&dir).unwrap();
        let ca = agent_tls::ca(&agent_tls::CaOptions {
            days: 1,
            domain: "consul".into(),
            common_name: None,
            permitted_dns: Vec::new(),
            cluster_id: None,
        })
        .unwrap();
        std::fs::write(dir.join("ca.pem"), &ca.cert).unwrap();
        std::fs::write(dir.join("ca-key.pem"), &ca.key).unwrap();
        let tls = TestTls { dir };
        for kind in [agent_tls::Kind::Server, agent_tls::Kind::Client] {
            tls.renew(kind);
        }
        tls
    }

    /// Signs a new certificate and key for `role` with the CA, written over
    /// the old files; returns the new certificate, PEM.
    pub fn renew(&self, kind: tessera_mesh::agent_tls::Kind) -> String {
        use tessera_mesh::agent_tls;
        let read = |name: &str| std::fs::read_to_string(self.dir.join(name)).unwrap();
        let request = agent_tls::CertOptions {
            kind,
            dc: "dc1".into(),
            domain: "consul".into(),
            days: 1,
            node: None,
            additional_dns: Vec::new(),
            additional_ips: Vec::new(),
        };
        let made = agent_tls::cert(&request, &read("ca.pem"), &read("ca-key.pem")).unwrap();
        std::fs::write(self.dir.join(format!("{}.pem", kind.label())), &made.cert).unwrap();
        std::fs::write(self.dir.join(format!("{}-key.pem", kind.label())), made.key).unwrap();
        made.cert
    }

    /// A file of this CA's (`ca.pem`, `server.pem`, `client-key.pem`, ...).
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.join(name)
    }

    /// An HTTPS or gRPC TLS listener's settings: the server certificate,
    /// and with `verify_incoming` client certificates of this CA required.
    pub fn listener(&self, verify_incoming: bool) -> tessera_server::config::ListenerSettings {
        let files = tessera_server::config::TlsFiles {
            ca_file: Some(self.path("ca.pem")),
            ca_path: None,
            cert_file: Some(self.path("server.pem")),
            key_file: Some(self.path("server-key.pem")),
        };
        tessera_server::config::ListenerSettings { files, min_version: Default::default(), verify_incoming }
    }

    pub fn rpc_tls(&self, server: bool) -> tessera_server::config::RpcTlsConfig {
        let role = if server { "server" } else { "client" };
        let files = tessera_server::config::TlsFiles {
            ca_file: Some(self.dir.join("ca.pem")),
            ca_path: None,
            cert_file: Some(self.dir.join(format!("{role}.pem"))),
            key_file: Some(self.dir.join(format!("{role}-key.pem"))),
        };
        tessera_server::config::RpcTlsConfig::Files { files, min_version: Default::default() }
    }
}

/// A listener on a free port when `port` asks for one (set to its port).
async fn optional_listener(port: &mut Option<u16>) -> (Option<TcpListener>, Option<String>) {
    if port.is_none() {
        return (None, None);
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    *port = Some(addr.port());
    (Some(listener), Some(addr.to_string()))
}

/// A UDP socket and a TCP listener on one free port, as DNS serves on both.
async fn dns_sockets() -> (tokio::net::UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        // The UDP port may be taken for TCP by another test; try another.
        if let Ok(tcp) = TcpListener::bind(("127.0.0.1", port)).await {
            return (udp, tcp);
        }
    }
    panic!("no port free for both UDP and TCP");
}

/// A blocking query made sure to be parked on the server: sent on one
/// connection right behind a plain request, so once the plain answer has
/// come back the server has taken the query from the same buffer and is
/// holding it. Read its answer with [`Parked::answer`].
pub struct Parked {
    conn: tokio::net::TcpStream,
    received: Vec<u8>,
}

impl Parked {
    pub async fn send(server: &TestServer, path: &str) -> Parked {
        use tokio::io::AsyncWriteExt;
        let mut conn = tokio::net::TcpStream::connect(&server.http).await.unwrap();
        let host = &server.http;
        let requests = format!(
            "GET /v1/agent/self HTTP/1.1\r\nHost: {host}\r\n\r\nGET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(requests.as_bytes()).await.unwrap();
        let mut parked = Parked { conn, received: Vec::new() };
        while parked.responses() < 1 {
            assert!(parked.read_some(Duration::from_secs(5)).await, "the connection closed before the first answer");
        }
        parked
    }

    fn responses(&self) -> usize {
        String::from_utf8_lossy(&self.received).matches("HTTP/1.1 ").count()
    }

    /// Reads more; false at the end of the stream.
    async fn read_some(&mut self, within: Duration) -> bool {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        let n = tokio::time::timeout(within, self.conn.read(&mut buf)).await.expect("an answer in time").unwrap_or(0);
        self.received.extend_from_slice(&buf[..n]);
        n > 0
    }

    /// The parked query's answer (status line, headers and body), read until
    /// the server closes the connection, within `within`.
    pub async fn answer(mut self, within: Duration) -> String {
        let deadline = tokio::time::Instant::now() + within;
        while self.read_some(deadline.saturating_duration_since(tokio::time::Instant::now())).await {}
        let text = String::from_utf8_lossy(&self.received).into_owned();
        let second = text.match_indices("HTTP/1.1 ").nth(1).map(|(i, _)| i).expect("the parked query was answered");
        text[second..].to_string()
    }
}
