//! `tessera watch`: Consul's `consul watch`. It follows one view of the
//! data (a key, a prefix, the services, the nodes, a service's health, the
//! checks) with blocking queries. Without a handler it prints the current
//! data, indented, and exits, as Consul's does; with one it runs the
//! handler with the data on stdin every time the data changes, until
//! interrupted (exit 0) or a handler fails (exit 1).
//!
//! When to fire follows Consul's watch plan: an answer at the index already
//! seen is ignored, an index that went backwards restarts from 0, and an
//! answer whose decoded data equals the last one's does not fire (a write
//! elsewhere in the table moves the index, not the data). After a failed
//! read the next answer fires whatever it holds, and reads back off
//! (5 s times the square of the failures in a row, at most 180 s).

mod fetch;
mod gojson;
mod handler;
mod plan;

use std::time::Duration;

use clap::Args;
use serde_json::Value;

use crate::client::Client;
use crate::cmd::HttpFlags;
use fetch::fetch;
use handler::Handler;
use plan::Kind;
use plan::Params;

const RETRY_INTERVAL: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(180);

const USAGE: &str = "Usage: tessera watch [options] [child...]

  Watches a view of the data (-type key, keyprefix, services, nodes, service
  or checks). With a child process, it is run with the data as JSON on stdin
  every time the data changes; without one, the current data is printed and
  the watch ends.";

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    http: HttpFlags,
    /// key, keyprefix, services, nodes, service or checks.
    #[arg(long = "type", default_value = "")]
    watch_type: String,
    /// The key to watch (type key).
    #[arg(long, default_value = "")]
    key: String,
    /// The key prefix to watch (type keyprefix).
    #[arg(long, default_value = "")]
    prefix: String,
    /// The service to watch (type service; optional for checks).
    #[arg(long, default_value = "")]
    service: String,
    /// Only instances with this tag (types service and checks); repeatable.
    #[arg(long)]
    tag: Vec<String>,
    /// true: only instances passing every check (type service).
    #[arg(long, value_name = "BOOL")]
    passingonly: Option<String>,
    /// The check state to watch (type checks): any, passing, warning, critical.
    #[arg(long, default_value = "")]
    state: String,
    /// An event name (type event, which Tessera does not have).
    #[arg(long, default_value = "")]
    name: String,
    /// Run the handler through $SHELL -c (default); -shell=false runs it directly.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", default_value = "true")]
    shell: bool,
    /// The handler and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    handler: Vec<String>,
}

pub async fn run(args: WatchArgs) -> u8 {
    let kind = match plan_of(&args) {
        Ok(kind) => kind,
        Err(message) => {
            eprintln!("{message}");
            return 1;
        }
    };
    let client = match Client::new(&args.http) {
        Ok(client) => client,
        Err(e) => return usage_error(format!("Error connecting to the agent: {e}")),
    };
    // Consul asks for the agent's node name first, so a wrong address fails at once.
    if let Err(e) =
        client.get("/v1/agent/self").await.and_then(|reply| reply.json::<tessera_mesh::api::agent::AgentSelf>())
    {
        return usage_error(format!("Error querying agent: {e}"));
    }
    let handler = (!args.handler.is_empty()).then(|| Handler::new(args.handler.clone(), args.shell));
    let running = handler.as_ref().map(|h| h.running.clone());
    tokio::select! {
        code = watch(&client, &kind, handler.as_ref()) => code,
        signal = interrupted() => {
            // Passed on to a running handler, as Consul forwards signals; the watch ends at once.
            if let Some(pid) = running.and_then(|r| *r.lock().unwrap_or_else(|p| p.into_inner())) {
                forward(pid, signal);
            }
            0
        }
    }
}

fn usage_error(message: String) -> u8 {
    eprintln!("{message}");
    1
}

/// The watch the flags describe, or the message to exit 1 with.
fn plan_of(args: &WatchArgs) -> Result<Kind, String> {
    if args.watch_type.is_empty() {
        return Err(format!("Watch type must be specified\n\n{USAGE}"));
    }
    let passing_only = args.passingonly.as_deref().map(plan::parse_passing_only).transpose()?;
    let params = Params {
        watch_type: args.watch_type.clone(),
        key: args.key.clone(),
        prefix: args.prefix.clone(),
        service: args.service.clone(),
        tags: args.tag.clone(),
        passing_only,
        state: args.state.clone(),
        name: args.name.clone(),
        stale: args.http.stale,
    };
    plan::parse(&params)
}

/// Where the watch stands between reads: Consul's `lastParamVal` (None
/// until an answer, and again after a failed read) and `lastResult`.
#[derive(Default)]
struct Progress {
    index: Option<u64>,
    last: Option<Value>,
}

impl Progress {
    /// Takes an answer at `index` holding `value`; true when it must fire.
    fn take(&mut self, index: u64, value: &Value) -> bool {
        if self.index == Some(index) {
            return false;
        }
        let previous = self.index.replace(next_index(self.index, index));
        if previous.is_some() && self.last.as_ref() == Some(value) {
            return false;
        }
        self.last = Some(value.clone());
        true
    }

    /// The index the next read waits past (0: answer at once).
    fn wait_index(&self) -> u64 {
        self.index.unwrap_or(0)
    }
}

/// Consul's `WaitIndexVal.Next`: an index below the last one (a restored
/// snapshot, another cluster) starts over from 0 rather than waiting for
/// the old one to come back.
fn next_index(previous: Option<u64>, index: u64) -> u64 {
    match previous {
        Some(previous) if previous > index => 0,
        _ => index,
    }
}

/// Reads and fires until a handler fails (1) or, without a handler, once
/// the data has been printed (0).
async fn watch(client: &Client, kind: &Kind, handler: Option<&Handler>) -> u8 {
    let mut progress = Progress::default();
    let mut failures = 0u32;
    loop {
        let answer = match fetch(client, kind, progress.wait_index()).await {
            Ok(answer) => answer,
            Err(e) => {
                failures += 1;
                progress.index = None;
                let retry = backoff(failures);
                eprintln!("[ERROR] watch: Watch errored: type={} error=\"{e:#}\" retry={retry:?}", kind.type_name());
                tokio::time::sleep(retry).await; // Consul's retry interval between failed reads
                continue;
            }
        };
        failures = 0;
        if !progress.take(answer.index, &answer.value) {
            continue;
        }
        let Some(handler) = handler else {
            println!("{}", gojson::format(&answer.json, Some("    ")));
            return 0;
        };
        let input = format!("{}\n", gojson::format(&answer.json, None));
        if let Err(message) = handler.run(answer.index, &input).await {
            eprintln!("{message}");
            return 1;
        }
    }
}

fn backoff(failures: u32) -> Duration {
    (RETRY_INTERVAL * failures.saturating_mul(failures)).min(MAX_BACKOFF)
}

/// Waits for SIGINT or SIGTERM; returns which.
async fn interrupted() -> rustix::process::Signal {
    use rustix::process::Signal;
    use tokio::signal::unix::signal;
    use tokio::signal::unix::SignalKind;
    let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => Signal::INT,
        _ = term.recv() => Signal::TERM,
    }
}

fn forward(pid: u32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid as i32) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fires_on_the_first_answer_and_on_changed_data_only() {
        let mut progress = Progress::default();
        assert!(progress.take(5, &json!(null)), "the first answer fires, even null");
        assert!(!progress.take(5, &json!({"a": 1})), "the same index is not looked at");
        assert!(!progress.take(7, &json!(null)), "a new index with the same data does not fire");
        assert!(progress.take(8, &json!({"a": 1})));
        assert_eq!(progress.wait_index(), 8);
    }

    #[test]
    fn an_index_going_backwards_restarts_from_zero() {
        let mut progress = Progress::default();
        assert!(progress.take(10, &json!([1])));
        assert!(!progress.take(3, &json!([1])), "the data did not change");
        assert_eq!(progress.wait_index(), 0);
        assert!(progress.take(4, &json!([2])));
        assert_eq!(progress.wait_index(), 4);
    }

    #[test]
    fn after_a_failed_read_the_next_answer_fires() {
        let mut progress = Progress::default();
        assert!(progress.take(10, &json!([1])));
        progress.index = None;
        assert!(progress.take(10, &json!([1])));
    }

    #[test]
    fn backoff_grows_with_the_square_of_failures_up_to_three_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(3), Duration::from_secs(45));
        assert_eq!(backoff(10), MAX_BACKOFF);
    }
}
