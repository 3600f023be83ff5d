//! Concurrent clients doing KV operations against the agents' HTTP API and
//! recording each one (call and return time, answer) for the checker.
//!
//! Each client runs one operation at a time, on a random key of a few,
//! through an agent of its own (servers and client agents in turn): puts, default and
//! `?stale` gets, a CAS on the ModifyIndex it has just read (or `?cas=0`
//! when the key is absent), deletes, and puts to keys of its own under
//! `<prefix>/log/` that are never overwritten, so an acknowledged one that
//! is missing afterwards is a lost write whatever the register checks say.
//! Nothing is retried: an ambiguous answer stays ambiguous in the history.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use std::time::Instant;

use base64::Engine;

use crate::checker::Op;
use crate::checker::OpKind;
use crate::checker::Outcome;

/// Every client's loop ends after this many operations even if never stopped.
const MAX_OPS_PER_CLIENT: usize = 200_000;
/// A client's pause after a request that got no answer.
const BACKOFF: Duration = Duration::from_millis(100);

pub struct Config {
    pub clients: usize,
    /// Register keys (full KV paths).
    pub keys: Vec<String>,
    /// The prefix of the never-overwritten keys.
    pub log_prefix: String,
    /// HTTP addresses of the agents to send to.
    pub targets: Vec<String>,
    /// A request not answered by then is an unknown outcome.
    pub timeout: Duration,
    /// The ACL token every request presents.
    pub token: String,
}

#[derive(Default)]
pub struct Recorded {
    pub history: Vec<Op>,
    /// The log keys whose put was acknowledged.
    pub acked_log: Vec<String>,
    /// When each acknowledged write (register or log key) was answered.
    pub ack_times: Vec<Duration>,
    /// Requests refused or unanswered (the refused are not in `history`).
    pub failed_requests: usize,
}

/// A running workload.
pub struct Workload {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<Recorded>>,
    acked: Arc<AtomicUsize>,
}

impl Workload {
    /// Starts `config.clients` clients; times are measured from `epoch`.
    pub fn start(config: Config, epoch: Instant) -> Workload {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let acked = Arc::new(AtomicUsize::new(0));
        let config = Arc::new(config);
        let tasks = (0..config.clients)
            .map(|id| {
                let client = Client::new(id, config.clone(), epoch, acked.clone());
                tokio::spawn(client.run(stopped.clone()))
            })
            .collect();
        Workload { stop, tasks, acked }
    }

    /// Acknowledged writes so far (registers and log keys).
    pub fn acked_writes(&self) -> usize {
        self.acked.load(Ordering::Relaxed)
    }

    /// Stops the clients (each finishes its operation in flight, bounded by
    /// the request timeout) and returns what they recorded.
    pub async fn finish(self) -> Recorded {
        let _ = self.stop.send(true);
        let mut all = Recorded::default();
        for task in self.tasks {
            let recorded = task.await.expect("workload client");
            all.history.extend(recorded.history);
            all.acked_log.extend(recorded.acked_log);
            all.ack_times.extend(recorded.ack_times);
            all.failed_requests += recorded.failed_requests;
        }
        all
    }
}

/// xorshift64: enough randomness for choosing operations, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// A read's answer: the value and its ModifyIndex, or absent.
type ReadAnswer = Option<(String, u64)>;

struct Client {
    id: usize,
    config: Arc<Config>,
    epoch: Instant,
    acked: Arc<AtomicUsize>,
    http: reqwest::Client,
    rng: Rng,
    seq: usize,
    recorded: Recorded,
}

impl Client {
    fn new(id: usize, config: Arc<Config>, epoch: Instant, acked: Arc<AtomicUsize>) -> Client {
        let http = token_client(&config.token, config.timeout);
        let seed = 0x2545_f491_4f6c_dd1d ^ ((id as u64 + 1) << 32) ^ epoch.elapsed().as_nanos() as u64;
        let recorded = Recorded::default();
        Client { id, config, epoch, acked, http, rng: Rng(seed | 1), seq: 0, recorded }
    }

    async fn run(mut self, stopped: tokio::sync::watch::Receiver<bool>) -> Recorded {
        for _ in 0..MAX_OPS_PER_CLIENT {
            if *stopped.borrow() {
                break;
            }
            self.one_op().await;
        }
        self.recorded
    }

    fn unique_value(&mut self) -> String {
        self.seq += 1;
        format!("c{}-{}", self.id, self.seq)
    }

    async fn one_op(&mut self) {
        let key = self.config.keys[self.rng.below(self.config.keys.len())].clone();
        // Each client keeps to one agent, so a client stuck on a faulty one
        // (until its request times out) leaves the others going: the gaps
        // between acknowledgments are then the cluster's, not the workload's.
        let target = self.config.targets[self.id % self.config.targets.len()].clone();
        match self.rng.below(20) {
            0..=4 => {
                let value = self.unique_value();
                self.write(&target, &key, OpKind::Put { value }).await;
            }
            5..=9 => {
                self.read(&target, &key, false).await;
            }
            10..=12 => {
                self.read(&target, &key, true).await;
            }
            13..=16 => {
                // CAS on what this client has just read, as a client of
                // Consul's API does (check-and-set on the ModifyIndex).
                if let Some(seen) = self.read(&target, &key, false).await {
                    let (expect, index) = seen.map_or((None, 0), |(value, index)| (Some(value), index));
                    let value = self.unique_value();
                    self.write(&target, &key, OpKind::Cas { expect, index, value }).await;
                }
            }
            17 => self.write(&target, &key, OpKind::Delete).await,
            _ => self.log_put(&target).await,
        }
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// A register write, recorded; unknown unless answered 200 `true`/`false`.
    async fn write(&mut self, target: &str, key: &str, kind: OpKind) {
        let url = format!("http://{target}/v1/kv/{key}");
        let request = match &kind {
            OpKind::Put { value } => self.http.put(url).body(value.clone()),
            OpKind::Cas { index, value, .. } => self.http.put(format!("{url}?cas={index}")).body(value.clone()),
            OpKind::Delete => self.http.delete(url),
            OpKind::Get { .. } => unreachable!("not a write"),
        };
        let call = self.now();
        let answer = send(request).await;
        let ret = self.now();
        let outcome = match answer {
            // 507: a full disk refused it before it was proposed (a retry
            // that may have applied is answered otherwise, by the server).
            Answer::Refused | Answer::Reply(507, _) => return self.failed().await,
            Answer::Reply(200, body) if body.trim() == "true" => Outcome::Written(true),
            Answer::Reply(200, body) if body.trim() == "false" => Outcome::Written(false),
            _ => Outcome::Unknown,
        };
        if outcome == Outcome::Written(true) {
            self.acknowledged(ret);
        }
        let ret = (outcome != Outcome::Unknown).then_some(ret);
        self.record(Op {
            client: self.id,
            key: key.into(),
            kind,
            call,
            ret,
            outcome,
            target: target.into(),
            index: None,
        })
        .await;
    }

    /// A register read, recorded; returns its answer when there was one.
    async fn read(&mut self, target: &str, key: &str, stale: bool) -> Option<ReadAnswer> {
        let query = if stale { "?stale" } else { "" };
        let call = self.now();
        let answer = send(self.http.get(format!("http://{target}/v1/kv/{key}{query}"))).await;
        let ret = self.now();
        let parsed = match answer {
            Answer::Refused => {
                self.failed().await;
                return None;
            }
            Answer::Reply(404, _) => Some(None),
            Answer::Reply(200, body) => parse_entry(&body).map(Some),
            _ => None,
        };
        let (ret, outcome) = match &parsed {
            Some(seen) => (Some(ret), Outcome::Read(seen.as_ref().map(|(value, _)| value.clone()))),
            None => (None, Outcome::Unknown),
        };
        let (kind, index) = (OpKind::Get { stale }, parsed.as_ref().and_then(|seen| seen.as_ref().map(|(_, i)| *i)));
        self.record(Op { client: self.id, key: key.into(), kind, call, ret, outcome, target: target.into(), index })
            .await;
        parsed
    }

    /// Keeps `op`; one without an answer is followed by a pause.
    async fn record(&mut self, op: Op) {
        let unanswered = op.outcome == Outcome::Unknown;
        self.recorded.history.push(op);
        if unanswered {
            self.failed().await;
        }
    }

    /// A client that got no answer backs off before its next request, as
    /// real clients do: without it a dead agent, which refuses at once,
    /// would fill the history with thousands of ambiguous writes (each
    /// doubling what the checker must consider). This is pacing, not a
    /// wait for a condition.
    async fn failed(&mut self) {
        self.recorded.failed_requests += 1;
        tokio::time::sleep(BACKOFF).await;
    }

    async fn log_put(&mut self, target: &str) {
        let name = self.unique_value();
        let key = format!("{}/{name}", self.config.log_prefix);
        match send(self.http.put(format!("http://{target}/v1/kv/{key}")).body("x")).await {
            Answer::Reply(200, body) if body.trim() == "true" => {
                self.acknowledged(self.now());
                self.recorded.acked_log.push(key);
            }
            _ => self.failed().await,
        }
    }

    fn acknowledged(&mut self, at: Duration) {
        self.acked.fetch_add(1, Ordering::Relaxed);
        self.recorded.ack_times.push(at);
    }
}

/// What became of a request.
enum Answer {
    /// The connection was never made: the request cannot have been seen.
    Refused,
    /// Sent, but no complete answer came back (a timeout, a reset).
    Lost,
    Reply(u16, String),
}

/// An HTTP client presenting `token` as `X-Consul-Token`.
fn token_client(token: &str, timeout: Duration) -> reqwest::Client {
    let headers = crate::token_header(token);
    let builder = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).default_headers(headers);
    builder.build().expect("http client")
}

async fn send(request: reqwest::RequestBuilder) -> Answer {
    match request.send().await {
        Err(e) if e.is_connect() => Answer::Refused,
        Err(_) => Answer::Lost,
        Ok(response) => {
            let status = response.status().as_u16();
            response.text().await.map_or(Answer::Lost, |body| Answer::Reply(status, body))
        }
    }
}

/// `[{"Value": base64, "ModifyIndex": n, ...}]` -> (value, index).
fn parse_entry(body: &str) -> Option<(String, u64)> {
    let entries: serde_json::Value = serde_json::from_str(body).ok()?;
    let entry = entries.get(0)?;
    let encoded = entry.get("Value")?.as_str().unwrap_or("");
    let value = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok()?;
    Some((value, entry.get("ModifyIndex")?.as_u64()?))
}

/// One default-consistency read of each key from each of `targets`, made
/// after the faults are undone and recorded as client `client`: the final
/// state every server must agree on.
pub async fn final_reads(keys: &[String], targets: &[String], client: usize, epoch: Instant, token: &str) -> Vec<Op> {
    let config = Arc::new(Config {
        clients: 1,
        keys: keys.to_vec(),
        log_prefix: String::new(),
        targets: targets.to_vec(),
        timeout: Duration::from_secs(10),
        token: token.to_string(),
    });
    let mut reader = Client::new(client, config, epoch, Arc::new(AtomicUsize::new(0)));
    for target in targets {
        for key in keys {
            reader.read(target, key, false).await;
        }
    }
    reader.recorded.history
}

/// The log keys under `prefix` as a default-consistency recursive read at
/// `target` lists them (None if it did not answer).
pub async fn log_keys(target: &str, prefix: &str, token: &str) -> Option<Vec<String>> {
    let http = token_client(token, Duration::from_secs(10));
    match send(http.get(format!("http://{target}/v1/kv/{prefix}/?keys"))).await {
        Answer::Reply(404, _) => Some(Vec::new()),
        Answer::Reply(200, body) => serde_json::from_str(&body).ok(),
        _ => None,
    }
}
