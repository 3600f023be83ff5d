//! Script checks, as Consul's `CheckMonitor` runs them: the program in
//! `args` started directly (no shell) in a process group of its own, stdout
//! and stderr into one pipe (so their lines keep their order), exit 0
//! passing, 1 warning, anything else critical. Past the timeout the whole
//! group is killed and the check is critical. The output kept is the last
//! 4 KiB, as Consul's ring buffer keeps it, with Consul's "Captured" note
//! when some was dropped, and never a character cut in two.

use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::process::Stdio;
use std::time::Duration;

use tessera_mesh::catalog::duration;
use tessera_mesh::catalog::CheckStatus;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::process::Child;
use tokio::process::Command;

use super::Outcome;
use super::MAX_OUTPUT;

/// How long output is still read after the script ended: a process it left
/// behind (outside its group) may hold the pipe open for ever.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct ScriptProbe {
    args: Vec<String>,
    timeout: Duration,
}

/// How a run ended.
enum Ended {
    Exited(ExitStatus),
    TimedOut,
}

impl ScriptProbe {
    pub fn new(args: Vec<String>, timeout: Duration) -> ScriptProbe {
        ScriptProbe { args, timeout }
    }

    pub async fn run(&self) -> Outcome {
        match self.execute().await {
            Ok((Ended::Exited(status), output)) => (exit_status(status), output),
            Ok((Ended::TimedOut, output)) => {
                let mut message = format!("Timed out ({}) running check", duration::format(self.timeout));
                if !output.is_empty() {
                    message.push_str("\n\n");
                    message.push_str(&output);
                }
                (CheckStatus::Critical, message)
            }
            Err(e) => (CheckStatus::Critical, e),
        }
    }

    /// Runs the program once: how it ended and what it wrote.
    async fn execute(&self) -> Result<(Ended, String), String> {
        let (reader, writer) = std::io::pipe().map_err(|e| format!("cannot make a pipe: {e}"))?;
        let stderr = writer.try_clone().map_err(|e| format!("cannot make a pipe: {e}"))?;
        let mut command = Command::new(&self.args[0]);
        command
            .args(&self.args[1..])
            .stdin(Stdio::null())
            .stdout(writer)
            .stderr(stderr)
            .process_group(0)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| format!("failed to start {:?}: {e}", self.args[0]))?;
        // The pipe's write ends now live only in the child: EOF comes when
        // it (and whatever inherited them) is gone.
        drop(command);
        let group = Group::of(&child);
        let reader = pipe::Receiver::from_owned_fd(OwnedFd::from(reader)).map_err(|e| e.to_string())?;
        let mut tail = Tail::default();
        let ended = run_reading(child, &group, self.timeout, reader, &mut tail).await;
        Ok((ended.map_err(|e| format!("waiting for {:?}: {e}", self.args[0]))?, tail.text()))
    }
}

/// Waits for `child` (killing its group past `timeout`) while reading its
/// output into `tail`, then reads what is left for a moment.
async fn run_reading(
    mut child: Child,
    group: &Group,
    timeout: Duration,
    mut reader: pipe::Receiver,
    tail: &mut Tail,
) -> std::io::Result<Ended> {
    let read = read_all(&mut reader, tail);
    tokio::pin!(read);
    let wait = async {
        match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => status.map(Ended::Exited),
            Err(_) => {
                group.kill();
                // Reaped before the next run, so two never overlap.
                child.wait().await.map(|_| Ended::TimedOut)
            }
        }
    };
    tokio::pin!(wait);
    let (ended, read_done) = tokio::select! {
        ended = &mut wait => (ended, false),
        () = &mut read => (wait.await, true),
    };
    group.disarm();
    if !read_done {
        let _ = tokio::time::timeout(DRAIN_AFTER_EXIT, &mut read).await;
    }
    ended
}

async fn read_all(reader: &mut pipe::Receiver, tail: &mut Tail) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = reader.read(&mut buf).await {
        tail.push(&buf[..n]);
    }
}

/// Consul's mapping of an exit status.
fn exit_status(status: ExitStatus) -> CheckStatus {
    match status.code() {
        Some(0) => CheckStatus::Passing,
        Some(1) => CheckStatus::Warning,
        _ => CheckStatus::Critical,
    }
}

/// The script's process group, killed if the run is dropped (its check
/// removed, the agent stopping) before the script was reaped.
struct Group {
    pid: std::sync::Mutex<Option<rustix::process::Pid>>,
}

impl Group {
    fn of(child: &Child) -> Group {
        let pid = child.id().and_then(|id| rustix::process::Pid::from_raw(id as i32));
        Group { pid: std::sync::Mutex::new(pid) }
    }

    fn kill(&self) {
        if let Some(pid) = *self.pid.lock().expect("group lock") {
            // It may be gone already; nothing to do then.
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
    }

    /// The script was reaped: its id may be reused, so never signal it again.
    fn disarm(&self) {
        self.pid.lock().expect("group lock").take();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last [`MAX_OUTPUT`] bytes written, and how many were written.
#[derive(Default)]
struct Tail {
    kept: Vec<u8>,
    total: usize,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.total += bytes.len();
        self.kept.extend_from_slice(bytes);
        // Trimmed in batches, so a chatty script is not copied byte by byte.
        if self.kept.len() > 2 * MAX_OUTPUT {
            self.kept.drain(..self.kept.len() - MAX_OUTPUT);
        }
    }

    /// The kept bytes as text, starting on a character boundary, with
    /// Consul's note when earlier output was dropped.
    fn text(&self) -> String {
        let start = self.kept.len().saturating_sub(MAX_OUTPUT);
        let mut kept = &self.kept[start..];
        if self.total > kept.len() {
            // A character split by the cut is left out, not mangled.
            while kept.first().is_some_and(|b| b & 0b1100_0000 == 0b1000_0000) {
                kept = &kept[1..];
            }
        }
        let text = String::from_utf8_lossy(kept);
        match self.total > kept.len() {
            true => format!("Captured {} of {} bytes\n...\n{text}", kept.len(), self.total),
            false => text.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_kept_from_a_character_boundary_with_consuls_note() {
        let mut tail = Tail::default();
        tail.push(b"short");
        assert_eq!(tail.text(), "short");

        let mut tail = Tail::default();
        tail.push("é".as_bytes()); // 2 bytes; its second byte starts the last 4 KiB
        tail.push(&vec![b'a'; MAX_OUTPUT - 2]);
        tail.push(b"!");
        let text = tail.text();
        let kept = MAX_OUTPUT - 1;
        assert_eq!(text, format!("Captured {kept} of {} bytes\n...\n{}!", MAX_OUTPUT + 1, "a".repeat(kept - 1)));

        let mut chatty = Tail::default();
        for _ in 0..1000 {
            chatty.push(&[b'x'; 100]);
        }
        assert!(chatty.kept.len() <= 2 * MAX_OUTPUT, "bounded while running");
        assert!(chatty.text().starts_with(&format!("Captured {MAX_OUTPUT} of 100000 bytes\n")));
    }

    #[test]
    fn exit_codes_map_as_consul_maps_them() {
        use std::os::unix::process::ExitStatusExt;
        let code = |c: i32| exit_status(ExitStatus::from_raw(c << 8));
        assert_eq!(
            [code(0), code(1), code(2), code(127)],
            [CheckStatus::Passing, CheckStatus::Warning, CheckStatus::Critical, CheckStatus::Critical]
        );
        assert_eq!(exit_status(ExitStatus::from_raw(9)), CheckStatus::Critical, "killed by a signal");
    }
}
