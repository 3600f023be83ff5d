//! Go's `time.ParseDuration`, with its error texts, as Consul reads every
//! duration in a config file (`"30s"`, `"1.5h"`, `"1h30m"`; no bare
//! numbers except `"0"`, no `d`).

use std::time::Duration;

/// Parses `text` as Go does. Negative durations, which Go allows, are
/// refused: no agent setting means anything by them.
pub fn parse(text: &str) -> Result<Duration, String> {
    let invalid = || format!("time: invalid duration {}", quote(text));
    let mut rest = text;
    let mut negative = false;
    if let Some(first) = rest.chars().next() {
        if first == '-' || first == '+' {
            negative = first == '-';
            rest = &rest[1..];
        }
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total_nanos: f64 = 0.0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let int_part = &rest[..int_len];
        rest = &rest[int_len..];
        let mut frac_part = "";
        if let Some(after_dot) = rest.strip_prefix('.') {
            let frac_len = after_dot.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_dot.len());
            frac_part = &after_dot[..frac_len];
            rest = &after_dot[frac_len..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest.find(|c: char| c == '.' || c.is_ascii_digit()).unwrap_or(rest.len());
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration {}", quote(text)));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let scale: f64 = match unit {
            "ns" => 1.0,
            "us" | "\u{00b5}s" | "\u{03bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(format!("time: unknown unit {} in duration {}", quote(unit), quote(text))),
        };
        let number: f64 = format!("{}.{}", if int_part.is_empty() { "0" } else { int_part }, frac_part)
            .trim_end_matches('.')
            .parse()
            .map_err(|_| invalid())?;
        total_nanos += number * scale;
        // Go's Duration is an int64 of nanoseconds.
        if total_nanos > i64::MAX as f64 {
            return Err(invalid());
        }
    }
    if negative && total_nanos > 0.0 {
        return Err(format!("negative durations are not allowed: {}", quote(text)));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// Go's `Duration.String()`: `"0s"`, `"750ns"`, `"1.5µs"`, `"200ms"`,
/// `"10s"`, `"1m30s"`, `"1h0m0s"`, as Consul writes durations in API answers.
pub fn format(d: Duration) -> String {
    let ns = d.as_nanos();
    match ns {
        0 => "0s".into(),
        1..1_000 => format!("{ns}ns"),
        1_000..1_000_000 => format!("{}µs", fraction(ns, 3)),
        1_000_000..1_000_000_000 => format!("{}ms", fraction(ns, 6)),
        _ => {
            let seconds = format!("{}s", fraction(ns % 60_000_000_000, 9));
            let minutes = ns / 60_000_000_000;
            match minutes {
                0 => seconds,
                1..60 => format!("{minutes}m{seconds}"),
                _ => format!("{}h{}m{seconds}", minutes / 60, minutes % 60),
            }
        }
    }
}

/// `value / 10^digits` in decimal, without trailing zeros (Go's `fmtFrac`).
fn fraction(value: u128, digits: u32) -> String {
    let scale = 10u128.pow(digits);
    let (whole, part) = (value / scale, value % scale);
    match part {
        0 => whole.to_string(),
        _ => format!("{whole}.{:0width$}", part, width = digits as usize).trim_end_matches('0').to_string(),
    }
}

/// Go's `%q` for the plain strings durations are: quotes, with `"` and `\`
/// escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (750, "750ns"),
            (1_500, "1.5µs"),
            (200_000_000, "200ms"),
            (1_500_000_000, "1.5s"),
            (10_000_000_000, "10s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (5_400_000_000_001, "1h30m0.000000001s"),
        ];
        for (nanos, text) in cases {
            assert_eq!(format(Duration::from_nanos(nanos)), text);
            assert_eq!(parse(text).map(|d| d.as_nanos() as u64), Ok(nanos), "{text}");
        }
    }

    #[test]
    fn go_durations_parse() {
        let cases = [
            ("0", 0),
            ("300ms", 300_000_000),
            ("30s", 30_000_000_000),
            ("1.5h", 5_400_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("72h", 259_200_000_000_000),
            ("2us", 2_000),
            ("2µs", 2_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("+5s", 5_000_000_000),
        ];
        for (text, nanos) in cases {
            assert_eq!(parse(text), Ok(Duration::from_nanos(nanos)), "{text}");
        }
    }

    #[test]
    fn errors_are_go_s() {
        assert_eq!(parse("30").unwrap_err(), r#"time: missing unit in duration "30""#);
        assert_eq!(parse("5x").unwrap_err(), r#"time: unknown unit "x" in duration "5x""#);
        assert_eq!(parse("1d").unwrap_err(), r#"time: unknown unit "d" in duration "1d""#);
        assert_eq!(parse("").unwrap_err(), r#"time: invalid duration """#);
        assert_eq!(parse("soon").unwrap_err(), r#"time: invalid duration "soon""#);
        assert_eq!(parse(".s").unwrap_err(), r#"time: invalid duration ".s""#);
        assert!(parse("-1s").is_err());
    }
}
