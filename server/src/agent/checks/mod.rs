//! Check runners: one task per check that runs (TCP, HTTP, script, gRPC,
//! H2PING, UDP on an interval; TTL on its timer), reporting results to the
//! agent. Alias checks need no task; the agent recomputes them whenever a
//! check changes. A runner that panics is restarted (its check goes
//! critical saying so), never left frozen at its last status; probe results
//! pass through Consul's thresholds (`success_before_passing`,
//! `failures_before_warning`, `failures_before_critical`).
//!
//! Each type's probe is its own module; [`tls`] makes their connections.

mod grpc;
mod h2ping;
mod http;
mod script;
mod tls;
mod udp;

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

/// Consul cuts check output at 4 KiB.
const MAX_OUTPUT: usize = 4096;

/// A probe's result: the status and the output to report.
type Outcome = (CheckStatus, String);

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

pub fn spawn(tasks: &Tasks, agent: Weak<Agent>, id: String, kind: CheckKind, limits: Thresholds) -> Option<Runner> {
    let (task, ttl_reset) = match (Probe::of(&kind), kind.clone()) {
        (Some((probe, interval)), _) => {
            let run = move |agent, id| interval_loop(agent, id, probe.clone(), interval, Counts::new(limits));
            (supervised(tasks, agent, id, run), None)
        }
        (None, CheckKind::Ttl { ttl }) => {
            let reset = Arc::new(Notify::new());
            let notify = reset.clone();
            (supervised(tasks, agent, id, move |agent, id| ttl_loop(agent, id, ttl, notify.clone())), Some(reset))
        }
        (None, _) => return None,
    };
    Some(Runner { kind, task, ttl_reset })
}

/// What one run of an interval check does.
#[derive(Clone)]
enum Probe {
    Tcp { address: String, timeout: Duration },
    Http(http::HttpProbe),
    Script(script::ScriptProbe),
    Grpc(grpc::GrpcProbe),
    H2Ping(h2ping::H2PingProbe),
    Udp(udp::UdpProbe),
}

impl Probe {
    /// The probe for an interval check and its interval; None for TTL and
    /// alias checks.
    fn of(kind: &CheckKind) -> Option<(Probe, Duration)> {
        let (_, timeout) = kind.schedule()?;
        let probe = match kind.clone() {
            CheckKind::Tcp { address, .. } => Probe::Tcp { address, timeout },
            CheckKind::Http { url, method, header, body, tls, .. } => {
                Probe::Http(http::HttpProbe::new(url, method, header, body, &tls, timeout))
            }
            CheckKind::Script { args, .. } => Probe::Script(script::ScriptProbe::new(args, timeout)),
            CheckKind::Grpc { address, service, tls, .. } => {
                Probe::Grpc(grpc::GrpcProbe::new(address, service, tls.as_ref(), timeout))
            }
            CheckKind::H2Ping { address, tls, .. } => {
                Probe::H2Ping(h2ping::H2PingProbe::new(address, tls.as_ref(), timeout))
            }
            CheckKind::Udp { address, .. } => Probe::Udp(udp::UdpProbe::new(address, timeout)),
            CheckKind::Ttl { .. } | CheckKind::Alias { .. } => return None,
        };
        Some((probe, kind.schedule()?.0))
    }

    async fn run(&self) -> Outcome {
        match self {
            Probe::Tcp { address, timeout } => tcp(address, *timeout).await,
            Probe::Http(probe) => probe.run().await,
            Probe::Script(probe) => probe.run().await,
            Probe::Grpc(probe) => probe.run().await,
            Probe::H2Ping(probe) => probe.run().await,
            Probe::Udp(probe) => probe.run().await,
        }
    }

    /// How long to wait before the next run after `status`.
    fn pause(&self, status: CheckStatus, interval: Duration) -> Duration {
        match (self, status) {
            (Probe::Tcp { .. }, CheckStatus::Critical) => interval.min(CRITICAL_TCP_RETRY),
            _ => interval,
        }
    }
}

/// How long a runner that panicked waits before it starts again.
const RESTART_AFTER: Duration = Duration::from_secs(1);

/// Runs `run` until it ends by itself (its agent is gone); a panic marks the
/// check critical with the reason and starts it again.
fn supervised<F, Fut>(tasks: &Tasks, agent: Weak<Agent>, id: String, run: F) -> JoinHandle<()>
where
    F: Fn(Weak<Agent>, String) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use futures::FutureExt;
    tasks.spawn(async move {
        loop {
            let outcome = std::panic::AssertUnwindSafe(run(agent.clone(), id.clone())).catch_unwind().await;
            let Err(panic) = outcome else { return };
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            tracing::error!(check = %id, %reason, "check runner failed; restarting");
            let output = format!("check runner failed ({reason}); restarting");
            if !report(&agent, &id, CheckStatus::Critical, output) {
                return;
            }
            tokio::time::sleep(RESTART_AFTER).await;
        }
    })
}

/// Consul's thresholds on consecutive probe results (0: not set).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Thresholds {
    pub success_before_passing: u32,
    pub failures_before_warning: u32,
    pub failures_before_critical: u32,
}

/// Consecutive results so far, and what they let through.
struct Counts {
    limits: Thresholds,
    successes: u32,
    failures: u32,
}

impl Counts {
    fn new(limits: Thresholds) -> Counts {
        Counts { limits, successes: 0, failures: 0 }
    }

    /// The status to report for a probe's result, or None to keep the
    /// current one: a pass needs `success_before_passing` in a row, a
    /// failure `failures_before_critical` in a row to be critical (warning
    /// from `failures_before_warning`, which defaults to the critical count).
    /// A warning result (HTTP 429, a script's exit 1) counts as a success
    /// and is reported as a warning, as Consul's StatusHandler counts it.
    fn admit(&mut self, status: CheckStatus) -> Option<CheckStatus> {
        if status != CheckStatus::Critical {
            self.failures = 0;
            self.successes = self.successes.saturating_add(1);
            return (self.successes >= self.limits.success_before_passing).then_some(status);
        }
        self.successes = 0;
        self.failures = self.failures.saturating_add(1);
        let critical_after = self.limits.failures_before_critical;
        let warning_after = match self.limits.failures_before_warning {
            0 => critical_after,
            n => n,
        };
        if self.failures >= critical_after {
            Some(status)
        } else if self.failures >= warning_after {
            Some(CheckStatus::Warning)
        } else {
            None
        }
    }
}

/// Reports a result; false once the agent is gone (the task should end).
fn report(agent: &Weak<Agent>, id: &str, status: CheckStatus, output: String) -> bool {
    match agent.upgrade() {
        Some(agent) => {
            agent.count_check_run(id, status);
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

/// Runs `probe` every `interval` (after each run, as Consul schedules the
/// next one), reporting what the thresholds let through.
async fn interval_loop(agent: Weak<Agent>, id: String, probe: Probe, interval: Duration, mut counts: Counts) {
    loop {
        let (status, output) = probe.run().await;
        let pause = probe.pause(status, interval);
        if let Some(status) = counts.admit(status) {
            if !report(&agent, &id, status, output) {
                return;
            }
        }
        tokio::time::sleep(pause).await;
    }
}

/// A TCP connect within `timeout`.
async fn tcp(address: &str, timeout: Duration) -> Outcome {
    match tokio::time::timeout(timeout, TcpStream::connect(address)).await {
        Ok(Ok(_)) => (CheckStatus::Passing, format!("TCP connect {address}: Success")),
        Ok(Err(e)) => (CheckStatus::Critical, format!("dial tcp {address}: {e}")),
        Err(_) => (CheckStatus::Critical, format!("dial tcp {address}: i/o timeout")),
    }
}

/// Runs `work` while polling `connection`, the driver of a client
/// connection it uses, so the connection needs no task of its own and ends
/// with the work. A connection that fails fails the work with its error.
async fn alongside<C, E, W, T>(connection: C, work: W) -> Result<T, String>
where
    C: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
    W: std::future::Future<Output = Result<T, String>>,
{
    tokio::pin!(connection, work);
    let mut open = true;
    loop {
        tokio::select! {
            outcome = &mut work => return outcome,
            ended = &mut connection, if open => {
                open = false;
                if let Err(e) = ended {
                    return Err(e.to_string());
                }
            }
        }
    }
}

/// At most [`MAX_OUTPUT`] bytes of a body as text, cut on a character
/// boundary: a character split by the limit is left out, not mangled.
fn output_text(body: &[u8]) -> String {
    let cut = &body[..body.len().min(MAX_OUTPUT)];
    let mut text = match std::str::from_utf8(cut) {
        Ok(text) => text.to_string(),
        Err(e) if e.error_len().is_none() => String::from_utf8_lossy(&cut[..e.valid_up_to()]).into_owned(),
        Err(_) => String::from_utf8_lossy(cut).into_owned(),
    };
    while text.len() > MAX_OUTPUT {
        text.pop();
    }
    text
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_at_the_limit_on_a_character_boundary() {
        let mut body = vec![b'a'; MAX_OUTPUT - 1];
        body.extend_from_slice("é and more".as_bytes()); // 'é' is 2 bytes, across the limit
        let text = output_text(&body);
        assert_eq!(text.len(), MAX_OUTPUT - 1, "the split character is left out");
        assert!(text.bytes().all(|b| b == b'a'));
        assert_eq!(output_text("short ✓".as_bytes()), "short ✓");
        let invalid = [b'x', 0xff, b'y'];
        assert_eq!(output_text(&invalid), "x\u{fffd}y");
    }

    #[test]
    fn thresholds_need_consecutive_results_as_consul_counts_them() {
        use CheckStatus::*;
        let limits = Thresholds { success_before_passing: 2, failures_before_warning: 1, failures_before_critical: 3 };
        let mut counts = Counts::new(limits);
        let seen: Vec<Option<CheckStatus>> =
            [Passing, Passing, Critical, Critical, Critical, Passing, Critical, Passing, Passing]
                .into_iter()
                .map(|s| counts.admit(s))
                .collect();
        assert_eq!(
            seen,
            [
                None,
                Some(Passing),
                Some(Warning),
                Some(Warning),
                Some(Critical),
                None,
                Some(Warning),
                None,
                Some(Passing)
            ]
        );
        let mut warned = Counts::new(Thresholds { success_before_passing: 2, ..Thresholds::default() });
        assert_eq!([Warning, Warning].map(|s| warned.admit(s)), [None, Some(Warning)], "a warning counts as a success");
        let mut unset = Counts::new(Thresholds::default());
        assert_eq!([Critical, Passing].map(|s| unset.admit(s)), [Some(Critical), Some(Passing)], "0 means at once");
    }
}
