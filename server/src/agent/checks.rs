//! Check runners: one task per TCP, HTTP or TTL check, reporting results to
//! the agent. Alias checks need no task; the agent recomputes them whenever
//! a check changes.

use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

use tessera_mesh::catalog::definition::CheckKind;
use tessera_mesh::catalog::CheckStatus;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::agent::Agent;
use crate::tasks::Tasks;

/// Consul cuts HTTP check output at 4 KiB.
const MAX_OUTPUT: usize = 4096;

/// A running check: its task, and for TTL checks the signal that resets it.
pub struct Runner {
    pub kind: CheckKind,
    pub task: JoinHandle<()>,
    pub ttl_reset: Option<Arc<Notify>>,
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn spawn(tasks: &Tasks, agent: Weak<Agent>, id: String, kind: CheckKind) -> Option<Runner> {
    let (task, ttl_reset) = match kind.clone() {
        CheckKind::Tcp { address, interval, timeout } => {
            (tasks.spawn(tcp_loop(agent, id, address, interval, timeout)), None)
        }
        CheckKind::Http { url, method, header, body, interval, timeout } => {
            let probe = HttpProbe { url, method, header, body, timeout };
            (tasks.spawn(http_loop(agent, id, probe, interval)), None)
        }
        CheckKind::Ttl { ttl } => {
            let reset = Arc::new(Notify::new());
            (tasks.spawn(ttl_loop(agent, id, ttl, reset.clone())), Some(reset))
        }
        CheckKind::Alias { .. } => return None,
    };
    Some(Runner { kind, task, ttl_reset })
}

/// Reports a result; false once the agent is gone (the task should end).
fn report(agent: &Weak<Agent>, id: &str, status: CheckStatus, output: String) -> bool {
    match agent.upgrade() {
        Some(agent) => {
            agent.record_check(id, status, &output);
            true
        }
        None => false,
    }
}

/// A failing TCP check is retried this often (at most every interval). A
/// sidecar is registered before its process starts; without this its
/// "listening" check would stay critical, and the sidecar unused, for up to
/// a whole interval after it comes up.
const CRITICAL_TCP_RETRY: Duration = Duration::from_secs(1);

async fn tcp_loop(agent: Weak<Agent>, id: String, address: String, interval: Duration, timeout: Duration) {
    loop {
        let (status, output) = match tokio::time::timeout(timeout, TcpStream::connect(&address)).await {
            Ok(Ok(_)) => (CheckStatus::Passing, format!("TCP connect {address}: Success")),
            Ok(Err(e)) => (CheckStatus::Critical, format!("dial tcp {address}: {e}")),
            Err(_) => (CheckStatus::Critical, format!("dial tcp {address}: i/o timeout")),
        };
        let pause = if status == CheckStatus::Critical { interval.min(CRITICAL_TCP_RETRY) } else { interval };
        if !report(&agent, &id, status, output) {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

struct HttpProbe {
    url: String,
    method: String,
    header: std::collections::BTreeMap<String, Vec<String>>,
    body: String,
    timeout: Duration,
}

impl HttpProbe {
    /// Consul's rule: 2xx passing, 429 warning, anything else critical.
    async fn run(&self, client: &reqwest::Client) -> (CheckStatus, String) {
        let method = reqwest::Method::from_bytes(self.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = client.request(method, &self.url).timeout(self.timeout);
        for (name, values) in &self.header {
            for value in values {
                request = request.header(name, value);
            }
        }
        if !self.body.is_empty() {
            request = request.body(self.body.clone());
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return (CheckStatus::Critical, format!("HTTP {} {}: {e}", self.method, self.url)),
        };
        let code = response.status();
        let mut text = response.text().await.unwrap_or_default();
        text.truncate(MAX_OUTPUT);
        let status = match code.as_u16() {
            200..=299 => CheckStatus::Passing,
            429 => CheckStatus::Warning,
            _ => CheckStatus::Critical,
        };
        (status, format!("HTTP {} {}: {} Output: {text}", self.method, self.url, code))
    }
}

async fn http_loop(agent: Weak<Agent>, id: String, probe: HttpProbe, interval: Duration) {
    let client = reqwest::Client::builder().build().unwrap_or_default();
    let mut ticker = tokio::time::interval(interval);
    loop {
        ticker.tick().await;
        let (status, output) = probe.run(&client).await;
        if !report(&agent, &id, status, output) {
            return;
        }
    }
}

/// Critical with "TTL expired" unless a pass/warn/fail arrives within `ttl`.
async fn ttl_loop(agent: Weak<Agent>, id: String, ttl: Duration, reset: Arc<Notify>) {
    loop {
        match tokio::time::timeout(ttl, reset.notified()).await {
            Ok(()) => continue,
            Err(_) => {
                if !report(&agent, &id, CheckStatus::Critical, "TTL expired".to_string()) {
                    return;
                }
                reset.notified().await;
            }
        }
    }
}
