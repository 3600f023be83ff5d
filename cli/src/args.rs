//! Consul's flag style: `-flag`, `-flag=value` and `-flag value` with one
//! dash, as Go's `flag` package parses them. clap wants two dashes for long
//! flags, so single-dash long flags are rewritten before parsing.

/// Rewrites `-name...` to `--name...` for every argument before a bare `--`
/// whose name is longer than one letter (`-h` stays a short flag).
pub fn normalize(args: impl IntoIterator<Item = String>) -> Vec<String> {
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
    fn short_flags_values_and_the_passthrough_stay() {
        assert_eq!(norm(&["kv", "put", "-h", "k", "-", "-5"]), vec!["kv", "put", "-h", "k", "-", "-5"]);
        assert_eq!(norm(&["x", "--", "-literal"]), vec!["x", "--", "-literal"]);
    }
}
