//! The harness for cluster tests: real `tessera` processes on their own
//! loopback addresses, killed and restarted for real, observed only through
//! their public HTTP API and CLI.
//!
//! Each test takes its own `127.0.<subnet>.0/24`, so tests run in parallel
//! with the default ports. Waiting is always on a condition with a deadline
//! ([`wait_until`]); agents are killed when dropped, and a failing test
//! prints their logs.
//!
//! [`checker`] decides whether a recorded KV history is linearizable;
//! [`faults`] runs the fault suite that records them (test t55).

use std::future::Future;
use std::path::Path;
use std::path::PathBuf;
use std::process::Child;
use std::process::Command;
use std::process::ExitStatus;
use std::process::Output;
use std::process::Stdio;
use std::time::Duration;
use std::time::Instant;

use serde_json::Value;

pub mod checker;
pub mod disk;
pub mod faults;
pub mod netns;
pub mod tls;

/// How often [`wait_until`] checks its condition.
const POLL: Duration = Duration::from_millis(50);

/// The `tessera` binary `cargo test --workspace` built beside this test
/// binary (the `tessera` package's own integration tests make cargo build it).
pub fn tessera_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("tessera");
    assert!(
        bin.exists(),
        "{} not found: build it with `cargo build -p tessera` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// Polls `check` until it yields a value, or panics naming `what` at the deadline.
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
        tokio::time::sleep(POLL).await; // wait_until's poll interval, bounded by the deadline above
    }
}

/// One `tessera agent` process and its data dir.
pub struct Agent {
    pub name: String,
    pub ip: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub args: Vec<String>,
    /// Run inside this network namespace (`ip netns exec`).
    pub netns: Option<String>,
    child: Option<Child>,
}

impl Agent {
    pub fn new(name: &str, ip: &str, dir: &Path, args: Vec<String>) -> Agent {
        Agent {
            name: name.to_string(),
            ip: ip.to_string(),
            data_dir: dir.join(name),
            log_path: dir.join(format!("{name}.log")),
            args,
            netns: None,
            child: None,
        }
    }

    pub fn http_addr(&self) -> String {
        format!("{}:8500", self.ip)
    }

    pub fn rpc_addr(&self) -> String {
        format!("{}:8300", self.ip)
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.name);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log_path).expect("log file");
        let child = command_in(self.netns.as_deref(), tessera_bin())
            .arg("agent")
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("spawn tessera agent");
        self.child = Some(child);
    }

    /// SIGKILL: no shutdown code runs, as in a crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait for the exit.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(POLL); // polling for the exit, bounded by the deadline: wait_until in sync form
        }
        let _ = child.kill();
        child.wait().ok()
    }

    /// Waits for a process that should exit on its own.
    pub async fn exit_status(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.as_mut().expect("agent was started");
        let status = wait_until("the agent exits", timeout, || {
            let exited = child.try_wait().ok().flatten();
            async move { exited }
        })
        .await;
        self.child = None;
        status
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Sends SIGHUP: the agent reloads its config files and certificates.
    pub fn reload(&self) {
        let pid = self.pid().unwrap_or_else(|| panic!("{} is running", self.name)).to_string();
        let sent = Command::new("kill").args(["-HUP", &pid]).status().is_ok_and(|s| s.success());
        assert!(sent, "SIGHUP to {}", self.name);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Whether the process has ended by itself (its exit status is reaped).
    pub fn has_exited(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_some())
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub async fn wait_log(&self, what: &str, timeout: Duration) {
        wait_for_log(what, timeout, || self.log()).await;
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!("---- last lines of {} ({}) ----", self.name, self.log_path.display());
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
        self.kill9();
    }
}

/// Servers on `127.0.<subnet>.1..=n`, each told about all others.
pub struct Cluster {
    pub agents: Vec<Agent>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Builds (does not start) `n` servers with `-bootstrap-expect expect`,
    /// with certificates of a CA of their own.
    pub fn servers(subnet: u8, n: usize, expect: usize, extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let tls = dir.path().to_path_buf();
        Cluster::build(subnet, n, expect, extra, dir, &tls)
    }

    /// As [`Cluster::servers`], with certificates of the CA in `tls_dir`
    /// (another cluster's `dir`): two clusters whose servers trust each other.
    pub fn servers_trusting(subnet: u8, n: usize, expect: usize, extra: &[&str], tls_dir: &Path) -> Cluster {
        Cluster::build(subnet, n, expect, extra, tempfile::tempdir().expect("temp dir"), tls_dir)
    }

    fn build(subnet: u8, n: usize, expect: usize, extra: &[&str], dir: tempfile::TempDir, tls: &Path) -> Cluster {
        let ips: Vec<String> = (1..=n).map(|i| format!("127.0.{subnet}.{i}")).collect();
        let agents = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                let name = format!("s{}", i + 1);
                let mut args: Vec<String> = ["-server", "-bootstrap-expect", &expect.to_string(), "-node", &name]
                    .iter()
                    .map(|s| s.to_string())
                    .collect();
                args.extend(["-bind".into(), ip.clone(), "-client".into(), ip.clone()]);
                args.extend(["-data-dir".into(), dir.path().join(&name).display().to_string()]);
                for peer in ips.iter().filter(|p| *p != ip) {
                    args.extend(["-retry-join".into(), peer.clone()]);
                }
                args.extend(extra.iter().map(|s| s.to_string()));
                args.extend(tls_args(tls, "dc1", true));
                Agent::new(&name, ip, dir.path(), args)
            })
            .collect();
        Cluster { agents, dir }
    }

    pub fn start_all(&mut self) {
        self.agents.iter_mut().for_each(Agent::start);
    }

    pub fn running(&self) -> impl Iterator<Item = &Agent> {
        self.agents.iter().filter(|a| a.is_running())
    }

    /// Waits until every running agent names the same leader, itself
    /// running (right after a kill the others still name the dead one);
    /// returns its index.
    pub async fn wait_leader(&self, timeout: Duration) -> usize {
        let http = Http::new();
        let addrs: Vec<String> = self.running().map(Agent::http_addr).collect();
        let rpc_addrs: Vec<String> = self.running().map(Agent::rpc_addr).collect();
        let leader = wait_until("all running servers agree on a running leader", timeout, || {
            let (http, addrs, rpc_addrs) = (&http, &addrs, &rpc_addrs);
            async move { http.agreed_leader(addrs).await.filter(|leader| rpc_addrs.contains(leader)) }
        })
        .await;
        self.agents.iter().position(|a| a.rpc_addr() == leader).expect("leader is one of ours")
    }
}

fn write_config_dir(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    dir.to_path_buf()
}

/// A -dev agent on `ip` with a config dir (`<dir>/tessera.d`) holding `files`.
pub fn dev_agent(ip: &str, dir: &Path, files: &[(&str, &str)]) -> Agent {
    let config_dir = write_config_dir(&dir.join("tessera.d"), files);
    let args = ["-dev", "-node", "dev", "-bind", ip, "-client", ip, "-config-dir", &config_dir.display().to_string()];
    let mut agent = Agent::new("dev", ip, dir, args.iter().map(|s| s.to_string()).collect());
    agent.args.extend(["-data-dir".to_string(), dir.join("data").display().to_string()]);
    agent
}

/// The server port's TLS for the agents of one test, made by the CLI in
/// `<dir>/tls` the first time it is asked for (`tessera tls ca create`,
/// `tls cert create -server` and `-client`, datacenter `dc`): every agent
/// of a test that passes the same `dir` trusts the same CA. Returns the
/// agent flags for a server or a client agent.
pub fn tls_args(dir: &Path, dc: &str, server: bool) -> Vec<String> {
    let [ca, cert, key] = tls_files(dir, dc, server);
    ["-ca-file", &ca, "-cert-file", &cert, "-key-file", &key].iter().map(|s| s.to_string()).collect()
}

/// The CA, certificate and key paths [`tls_args`] makes and names.
pub fn tls_files(dir: &Path, dc: &str, server: bool) -> [String; 3] {
    let tls = dir.join("tls");
    let made = |name: &str| tls.join(name).exists();
    std::fs::create_dir_all(&tls).expect("tls dir");
    let run = |args: &[&str]| {
        let out = Command::new(tessera_bin()).args(args).current_dir(&tls).output().expect("run tessera tls");
        assert!(out.status.success(), "tessera {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    if !made("consul-agent-ca.pem") {
        run(&["tls", "ca", "create"]);
    }
    let role = if server { "server" } else { "client" };
    let cert = format!("{dc}-{role}-consul-0.pem");
    if !made(&cert) {
        run(&["tls", "cert", "create", &format!("-{role}"), "-dc", dc]);
    }
    let path = |name: &str| tls.join(name).display().to_string();
    [path("consul-agent-ca.pem"), path(&cert), path(&format!("{dc}-{role}-consul-0-key.pem"))]
}

/// A gRPC channel to a server port at `addr`, over TLS trusting `ca` and
/// presenting `cert`/`key` when given: what a server or client agent of
/// datacenter `dc` dials with.
pub fn rpc_channel(addr: &str, dc: &str, ca: &str, identity: Option<(&str, &str)>) -> tonic::transport::Channel {
    use tessera_proto::transport::tls;
    let files = tls::TlsFiles {
        ca_file: Some(ca.into()),
        ca_path: None,
        cert_file: identity.map(|(cert, _)| cert.into()),
        key_file: identity.map(|(_, key)| key.into()),
    };
    let names = tls::Names::new(dc, "consul.");
    let rpc_tls = tls::RpcTls::new(names, tls::Source::Files(files), tls::MinVersion::Tls12, false).expect("TLS files");
    tessera_proto::transport::ChannelPool::new(Some(std::sync::Arc::new(rpc_tls))).channel(addr).expect("address")
}

/// A client agent on `ip` that knows one server, with `files` in its config
/// dir; its TLS comes from `dir` (see [`tls_args`]): give the servers' dir.
pub fn client_agent(name: &str, ip: &str, server: &str, dir: &Path, files: &[(&str, &str)]) -> Agent {
    client_agent_with(name, ip, server, dir, files, tls_args(dir, "dc1", false))
}

/// A client agent as [`client_agent`] makes one, but given only the CA
/// file `ca`: `files` turn auto_encrypt on, and it asks a server for its
/// certificate.
pub fn auto_encrypt_client(name: &str, ip: &str, server: &str, ca: &str, dir: &Path, files: &[(&str, &str)]) -> Agent {
    client_agent_with(name, ip, server, dir, files, vec!["-ca-file".to_string(), ca.to_string()])
}

fn client_agent_with(
    name: &str,
    ip: &str,
    server: &str,
    dir: &Path,
    files: &[(&str, &str)],
    tls: Vec<String>,
) -> Agent {
    let config_dir = write_config_dir(&dir.join(format!("{name}.d")), files);
    let args = [
        "-node",
        name,
        "-bind",
        ip,
        "-client",
        ip,
        "-retry-join",
        server,
        "-config-dir",
        &config_dir.display().to_string(),
        "-data-dir",
        &dir.join(name).display().to_string(),
    ];
    let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    args.extend(tls);
    Agent::new(name, ip, dir, args)
}

/// `X-Consul-Token: <token>`, for a client's default headers.
pub fn token_header(token: &str) -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert("x-consul-token", token.parse().expect("a token is a header value"));
    headers
}

/// A small HTTP client for the agents' API; `None` when the agent does not answer.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
}

impl Default for Http {
    fn default() -> Self {
        Http::new()
    }
}

impl Http {
    pub fn new() -> Http {
        Http::with_headers(reqwest::header::HeaderMap::new())
    }

    /// Every request presents `token` as `X-Consul-Token`.
    pub fn with_token(token: &str) -> Http {
        Http::with_headers(token_header(token))
    }

    fn with_headers(headers: reqwest::header::HeaderMap) -> Http {
        let builder =
            reqwest::Client::builder().timeout(Duration::from_secs(15)).connect_timeout(Duration::from_secs(2));
        Http { client: builder.default_headers(headers).build().expect("http client") }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Option<(u16, String)> {
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    }

    pub async fn get(&self, addr: &str, path: &str) -> Option<(u16, String)> {
        self.send(self.client.get(format!("http://{addr}{path}"))).await
    }

    pub async fn put(&self, addr: &str, path: &str, body: &str) -> Option<(u16, String)> {
        self.send(self.client.put(format!("http://{addr}{path}")).body(body.to_string())).await
    }

    pub async fn post(&self, addr: &str, path: &str, body: &str) -> Option<(u16, String)> {
        self.send(self.client.post(format!("http://{addr}{path}")).body(body.to_string())).await
    }

    pub async fn delete(&self, addr: &str, path: &str) -> Option<(u16, String)> {
        self.send(self.client.delete(format!("http://{addr}{path}"))).await
    }

    /// The leader the agent at `addr` names (`/v1/status/leader`), if it
    /// names one.
    pub async fn leader(&self, addr: &str) -> Option<String> {
        let (status, body) = self.get(addr, "/v1/status/leader").await?;
        let leader: String = serde_json::from_str(&body).ok()?;
        (status == 200 && !leader.is_empty()).then_some(leader)
    }

    /// The leader every agent at `addrs` names, if they all name the same.
    pub async fn agreed_leader(&self, addrs: &[String]) -> Option<String> {
        let mut named = Vec::new();
        for addr in addrs {
            named.push(self.leader(addr).await?);
        }
        named.windows(2).all(|w| w[0] == w[1]).then(|| named.first().cloned()).flatten()
    }

    /// A read and its `X-Consul-Index`, what blocking queries wait past.
    pub async fn get_indexed(&self, addr: &str, path: &str) -> Option<(u64, String)> {
        let response = self.client.get(format!("http://{addr}{path}")).send().await.ok()?;
        let index = response.headers().get("x-consul-index")?.to_str().ok()?.parse().ok()?;
        Some((index, response.text().await.ok()?))
    }

    pub async fn get_json(&self, addr: &str, path: &str) -> Option<Value> {
        let (status, body) = self.get(addr, path).await?;
        (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
    }

    /// Waits until `path` at `addr` answers 200 with JSON; returns it.
    pub async fn wait_json(&self, addr: &str, path: &str, timeout: Duration) -> Value {
        wait_until(&format!("{addr}{path} answers"), timeout, || self.get_json(addr, path)).await
    }

    /// Waits until `/v1/health/service/<service>?passing` at `addr` lists
    /// exactly `count` instances.
    pub async fn wait_passing(&self, addr: &str, service: &str, count: usize, timeout: Duration) {
        let path = format!("/v1/health/service/{service}?passing");
        let what = format!("{count} passing {service} at {addr}");
        wait_until(&what, timeout, || async {
            (self.get_json(addr, &path).await?.as_array()?.len() == count).then_some(())
        })
        .await;
    }

    /// The decoded value of a KV key, if the agent has it.
    pub async fn kv_value(&self, addr: &str, key: &str, query: &str) -> Option<String> {
        use base64::Engine;
        let entries = self.get_json(addr, &format!("/v1/kv/{key}{query}")).await?;
        let encoded = entries.get(0)?.get("Value")?.as_str().unwrap_or("");
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).ok()?;
        String::from_utf8(bytes).ok()
    }

    /// Writes a key; true only when the agent acknowledged it.
    pub async fn kv_put(&self, addr: &str, key: &str, value: &str) -> bool {
        matches!(self.put(addr, &format!("/v1/kv/{key}"), value).await, Some((200, body)) if body.trim() == "true")
    }
}

/// Runs the `tessera` CLI with `args` and returns what it did.
/// Writes `dir/ca.json`, a `connect ca set-config` file that rotates the
/// CA to a new P-256 key with a 2 s leaf re-issue spread; returns its path.
pub fn write_rotation_config(dir: &Path) -> PathBuf {
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let body = serde_json::json!({"Provider": "consul", "Config": {"PrivateKey": key, "LeafReissueSpread": "2s"}});
    let path = dir.join("ca.json");
    std::fs::write(&path, body.to_string()).unwrap();
    path
}

/// A command for `program`, run inside network namespace `netns` if given.
/// `ip netns exec` execs the program, so the child is the program itself
/// (signals and kill-on-drop reach it).
pub fn command_in(netns: Option<&str>, program: impl AsRef<std::ffi::OsStr>) -> Command {
    match netns {
        Some(ns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]).arg(program);
            command
        }
        None => Command::new(program),
    }
}

pub fn cli(args: &[&str]) -> Output {
    Command::new(tessera_bin()).args(args).stdin(Stdio::null()).output().expect("run tessera")
}

/// One DNS question over UDP to `server`; the answer's records as text
/// (`"<type> <data>"`) and its response code. Like a stub resolver it asks
/// up to three times, 2 s apart, since UDP may drop a datagram on a loaded
/// host. None if nothing came back.
pub async fn dns_query(server: &str, name: &str, kind: hickory_proto::rr::RecordType) -> Option<(String, Vec<String>)> {
    for _ in 0..3 {
        if let Some(answer) = dns_query_once(server, name, kind).await {
            return Some(answer);
        }
    }
    None
}

async fn dns_query_once(
    server: &str,
    name: &str,
    kind: hickory_proto::rr::RecordType,
) -> Option<(String, Vec<String>)> {
    use hickory_proto::op::Message;
    use hickory_proto::op::MessageType;
    use hickory_proto::op::OpCode;
    use hickory_proto::op::Query;
    use hickory_proto::rr::Name;
    let mut request = Message::new(rand_id(), MessageType::Query, OpCode::Query);
    request.add_query(Query::query(Name::from_ascii(name).ok()?, kind));
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.ok()?;
    socket.send_to(&request.to_vec().ok()?, server).await.ok()?;
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(Duration::from_secs(2), socket.recv_from(&mut buf)).await.ok()?.ok()?;
    let reply = Message::from_vec(&buf[..len]).ok()?;
    let records = reply.answers.iter().map(|r| format!("{} {}", r.record_type(), r.data)).collect();
    Some((reply.metadata.response_code.to_string(), records))
}

fn rand_id() -> u16 {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos()) & 0xffff) as u16
}

/// A helper process of a test (socat, a sidecar, nc), optionally inside a
/// network namespace, killed when dropped. Its stdout and stderr go to a log.
pub struct Proc {
    child: Child,
    log_path: PathBuf,
}

impl Proc {
    pub fn spawn(netns: Option<&str>, program: &Path, args: &[&str], cwd: &Path, log_path: PathBuf) -> Proc {
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = command_in(netns, program)
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        Proc { child, log_path }
    }

    /// `tessera <args>` as a long-running process (a sidecar).
    pub fn tessera(netns: Option<&str>, args: &[&str], cwd: &Path, log_path: PathBuf) -> Proc {
        Proc::spawn(netns, &tessera_bin(), args, cwd, log_path)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub async fn wait_log(&self, what: &str, timeout: Duration) {
        wait_for_log(what, timeout, || self.log()).await;
    }
}

/// Waits until the text `log` returns contains `what`.
async fn wait_for_log(what: &str, timeout: Duration, log: impl Fn() -> String) {
    wait_until(what, timeout, || {
        let log = log();
        async move { log.contains(what).then_some(()) }
    })
    .await;
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
