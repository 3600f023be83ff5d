//! Running a watch's handler, as Consul runs it: through `$SHELL -c` (or
//! `/bin/sh`) with the arguments joined by spaces, or directly with
//! `-shell=false`; the data as JSON on stdin, the index in `CONSUL_INDEX`
//! (and `TESSERA_INDEX`), stdout and stderr the watch's own.

use std::process::Stdio;
use std::sync::Arc;
use std::sync::Mutex;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

/// The handler the watch runs on every change, and the one running now (so
/// a signal to the watch can be passed on to it, as Consul forwards them).
pub struct Handler {
    args: Vec<String>,
    shell: bool,
    pub running: Arc<Mutex<Option<u32>>>,
}

impl Handler {
    pub fn new(args: Vec<String>, shell: bool) -> Handler {
        Handler { args, shell, running: Arc::default() }
    }

    fn command(&self) -> Command {
        if self.shell {
            let shell = std::env::var("SHELL").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into());
            let mut command = Command::new(shell);
            command.arg("-c").arg(self.args.join(" "));
            command
        } else {
            let mut command = Command::new(&self.args[0]);
            command.args(&self.args[1..]);
            command
        }
    }

    /// Runs the handler once with `input` on stdin; Err is Consul's message
    /// for a handler that could not start or did not exit 0.
    pub async fn run(&self, index: u64, input: &str) -> Result<(), String> {
        let mut command = self.command();
        command.env("CONSUL_INDEX", index.to_string()).env("TESSERA_INDEX", index.to_string());
        command.stdin(Stdio::piped()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|e| format!("Error starting handler: {e}"))?;
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = child.id();
        if let Some(mut stdin) = child.stdin.take() {
            // A handler that never reads its input is not an error.
            let _ = stdin.write_all(input.as_bytes()).await;
        }
        let status = child.wait().await;
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) = None;
        match status {
            Ok(status) if status.success() => Ok(()),
            Ok(status) => Err(format!("Error executing handler: {}", exit_text(status))),
            Err(e) => Err(format!("Error executing handler: {e}")),
        }
    }
}

/// How Go's `exec.ExitError` says a process ended: `exit status N` or
/// `signal: <name>`.
fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(9)) => "signal: killed".into(),
        (None, Some(15)) => "signal: terminated".into(),
        (None, Some(2)) => "signal: interrupt".into(),
        (None, Some(signal)) => format!("signal: {signal}"),
        (None, None) => status.to_string(),
    }
}
