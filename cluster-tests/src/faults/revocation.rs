//! Token revocation under traffic: probes that present a token of their
//! own through every agent while the token is deleted. A probe sent after
//! the deletion was acknowledged must be refused, whichever agent it
//! reaches: a server that had not applied the deletion yet, or a client
//! agent that had the token cached, would accept it.

use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use crate::Http;

/// The policy of the workload's and the probes' tokens: every KV key.
pub const POLICY: &str = "fault-kv";
/// Every prober loop ends after this many probes even if never stopped.
const MAX_PROBES: usize = 100_000;
/// The pause between one prober's probes (pacing: a refused probe
/// answers at once, and five tight loops would take the test's cores).
const PACE: Duration = Duration::from_millis(20);

/// A token as the ACL API made it.
#[derive(Debug, Clone)]
pub struct Token {
    pub accessor: String,
    pub secret: String,
}

/// Makes [`POLICY`] through the agent at `addr` (`http` presents a
/// management token).
pub async fn create_policy(http: &Http, addr: &str) {
    let rules = r#"key_prefix "" { policy = "write" }"#;
    let body = serde_json::json!({ "Name": POLICY, "Rules": rules }).to_string();
    let (status, text) = http.put(addr, "/v1/acl/policy", &body).await.expect("the ACL API answers");
    assert_eq!(status, 200, "create policy {POLICY}: {text}");
}

/// A new token with [`POLICY`].
pub async fn create_token(http: &Http, addr: &str, description: &str) -> Token {
    let body = serde_json::json!({ "Description": description, "Policies": [{ "Name": POLICY }] }).to_string();
    let (status, text) = http.put(addr, "/v1/acl/token", &body).await.expect("the ACL API answers");
    assert_eq!(status, 200, "create token {description:?}: {text}");
    let made: serde_json::Value = serde_json::from_str(&text).expect("a token as JSON");
    let field = |name: &str| made[name].as_str().expect("a token's IDs").to_string();
    Token { accessor: field("AccessorID"), secret: field("SecretID") }
}

/// Deletes a token; true once acknowledged.
pub async fn delete_token(http: &Http, addr: &str, token: &Token) -> bool {
    let path = format!("/v1/acl/token/{}", token.accessor);
    matches!(http.delete(addr, &path).await, Some((200, body)) if body.trim() == "true")
}

/// One probe: a KV write or default-consistency read with the token.
#[derive(Debug, Clone)]
pub struct Probe {
    pub target: String,
    pub write: bool,
    /// When it was sent, from the run's epoch.
    pub call: Duration,
    /// Answered as allowed (a write's `true`, a read's 200 or 404).
    pub accepted: bool,
}

/// Probers running, one per agent.
pub struct Prober {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Probe>>>,
}

impl Prober {
    /// Starts a prober on each of `targets`, on keys under `prefix`.
    pub fn start(targets: &[String], token: &Token, prefix: &str, epoch: Instant) -> Prober {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let http = Arc::new(Http::with_token(&token.secret));
        let tasks = targets
            .iter()
            .enumerate()
            .map(|(i, target)| {
                let key = format!("{prefix}/p{i}");
                tokio::spawn(probe_loop(http.clone(), target.clone(), key, epoch, stopped.clone()))
            })
            .collect();
        Prober { stop, tasks }
    }

    pub async fn finish(self) -> Vec<Probe> {
        let _ = self.stop.send(true);
        let mut probes = Vec::new();
        for task in self.tasks {
            probes.extend(task.await.expect("prober"));
        }
        probes
    }
}

async fn probe_loop(
    http: Arc<Http>,
    target: String,
    key: String,
    epoch: Instant,
    stopped: tokio::sync::watch::Receiver<bool>,
) -> Vec<Probe> {
    let mut probes = Vec::new();
    for n in 0..MAX_PROBES {
        if *stopped.borrow() {
            break;
        }
        let write = n % 2 == 0;
        let call = epoch.elapsed();
        let path = format!("/v1/kv/{key}");
        let accepted = match write {
            true => matches!(http.put(&target, &path, "x").await, Some((200, body)) if body.trim() == "true"),
            false => matches!(http.get(&target, &path).await, Some((200 | 404, _))),
        };
        probes.push(Probe { target: target.clone(), write, call, accepted });
        tokio::time::sleep(PACE).await;
    }
    probes
}

/// What the probes show about one revocation.
#[derive(Debug, Clone, Default)]
pub struct Revocation {
    /// Probes sent after the deletion was acknowledged and accepted anyway.
    pub accepted_after: Vec<Probe>,
    /// Agents none of whose probes was accepted before the deletion: the
    /// token never worked there, so the run shows nothing about them.
    pub never_accepted: Vec<String>,
}

impl Revocation {
    pub fn judge(probes: &[Probe], targets: &[String], revoked_at: Duration) -> Revocation {
        let accepted_after = probes.iter().filter(|p| p.accepted && p.call > revoked_at).cloned().collect();
        let never_accepted = targets
            .iter()
            .filter(|t| !probes.iter().any(|p| &p.target == *t && p.accepted && p.call < revoked_at))
            .cloned()
            .collect();
        Revocation { accepted_after, never_accepted }
    }

    pub fn held(&self) -> bool {
        self.accepted_after.is_empty() && self.never_accepted.is_empty()
    }
}
