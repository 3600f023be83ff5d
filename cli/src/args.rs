//! Consul's flag style: `-flag`, `-flag=value` and `-flag value` with one
//! dash, as Go's `flag` package parses them. clap wants two dashes for long
//! flags, so single-dash long flags are rewritten before parsing.

/// Rewrites `-name...` to `--name...` for every argument before a bare `--`
/// whose name is longer than one letter (`-h` stays a short flag). A
/// `watch` handler's own arguments are left as given (see [`watch_handler_at`]).
pub fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut args: Vec<String> = args.into_iter().collect();
    if let Some(at) = watch_handler_at(&args) {
        args.insert(at, "--".to_string());
    }
    let mut out = Vec::new();
    let mut passthrough = false;
    for arg in args {
        if passthrough || arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        out.push(match single_dash_long_flag(&arg) {
            true => format!("-{arg}"),
            false => arg,
        });
    }
    out
}

/// `tessera watch`'s flags that take a value as the next argument when not
/// given with `=`.
const WATCH_VALUE_FLAGS: &[&str] =
    &["type", "key", "prefix", "service", "tag", "passingonly", "state", "name", "http-addr", "datacenter"];

/// Where a `tessera watch` handler starts: its first argument that is not a
/// flag or a flag's value. Go's flag parsing stops there, so the handler's
/// own flags (`handler.sh -verbose`) must reach it unchanged; a `--` put
/// before it does that for clap. None when there is no handler or the
/// caller already wrote `--`.
fn watch_handler_at(args: &[String]) -> Option<usize> {
    if args.get(1).map(String::as_str) != Some("watch") {
        return None;
    }
    let mut i = 2;
    while let Some(arg) = args.get(i) {
        if arg == "--" {
            return None;
        }
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')).filter(|f| !f.is_empty()) else {
            return Some(i);
        };
        let takes_next = !flag.contains('=') && WATCH_VALUE_FLAGS.contains(&flag);
        i += if takes_next { 2 } else { 1 };
    }
    None
}

fn single_dash_long_flag(arg: &str) -> bool {
    let Some(rest) = arg.strip_prefix('-') else {
        return false;
    };
    if rest.starts_with('-') {
        return false;
    }
    let name = rest.split('=').next().unwrap_or("");
    name.len() > 1 && name.starts_with(|c: char| c.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn single_dash_long_flags_gain_a_dash() {
        assert_eq!(
            norm(&["tessera", "agent", "-dev", "-bootstrap-expect", "3", "-data-dir=/x", "--bind", "1.2.3.4"]),
            vec!["tessera", "agent", "--dev", "--bootstrap-expect", "3", "--data-dir=/x", "--bind", "1.2.3.4"]
        );
    }

    #[test]
    fn a_watch_handlers_own_flags_are_left_alone() {
        assert_eq!(
            norm(&["tessera", "watch", "-type", "key", "-key", "k", "-shell=false", "h.sh", "-v", "-x=1"]),
            vec!["tessera", "watch", "--type", "key", "--key", "k", "--shell=false", "--", "h.sh", "-v", "-x=1"]
        );
        assert_eq!(norm(&["tessera", "watch", "-type", "nodes"]), vec!["tessera", "watch", "--type", "nodes"]);
        assert_eq!(norm(&["tessera", "watch", "--", "h", "-v"]), vec!["tessera", "watch", "--", "h", "-v"]);
    }

    #[test]
    fn short_flags_values_and_the_passthrough_stay() {
        assert_eq!(norm(&["kv", "put", "-h", "k", "-", "-5"]), vec!["kv", "put", "-h", "k", "-", "-5"]);
        assert_eq!(norm(&["x", "--", "-literal"]), vec!["x", "--", "-literal"]);
    }
}
