//! The `tessera` binary as a user runs it: help, version, flag errors.
//! (Having integration tests here also makes `cargo test --workspace` build
//! the binary that cluster-tests runs.)

use std::process::Command;

fn tessera(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tessera")).args(args).output().expect("run tessera")
}

#[test]
fn help_lists_the_commands_and_exits_0() {
    let out = tessera(&["-help"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    for command in ["agent", "members", "kv", "operator"] {
        assert!(text.contains(command), "{command} missing from help:\n{text}");
    }
    assert!(!text.contains('\t'), "help must not contain tabs");
}

#[test]
fn single_and_double_dash_flags_are_the_same() {
    for flag in ["-version", "--version"] {
        let out = tessera(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn an_unknown_command_is_a_usage_error_with_exit_1() {
    let out = tessera(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}

#[test]
fn a_bad_agent_value_names_the_flag() {
    let out = tessera(&["agent", "-dev", "-retry-interval", "soon"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("-retry-interval"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
