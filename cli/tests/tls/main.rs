//! `tessera tls` and HTTPS to an agent, as a user runs them: the built
//! binary makes a CA and certificates in a temporary directory
//! (`commands.rs`), and the CLI calls a small HTTPS server of the test's
//! own with them (`https.rs`; the server is in `server.rs`).

mod commands;
mod https;
mod server;

use std::path::Path;
use std::process::Command;
use std::process::Output;

/// Runs `tessera` in `dir` with no TESSERA_/CONSUL_ variables but `env`.
pub fn tessera(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.args(args).current_dir(dir);
    for (name, _) in std::env::vars() {
        if name.starts_with("TESSERA_") || name.starts_with("CONSUL_") {
            command.env_remove(name);
        }
    }
    command.envs(env.iter().copied()).output().expect("run tessera")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Runs `tessera` and insists on exit 0.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    let out = tessera(dir, args, &[]);
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}{}", stdout(&out), stderr(&out));
    stdout(&out)
}
