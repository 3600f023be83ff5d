//! The pieces of Go's `strconv` that go-bexpr leans on, with Go's results
//! and Go's error texts: string literals go through `strconv.Unquote`,
//! values are coerced with `ParseInt`/`ParseUint` (base 0), `ParseFloat`
//! and `ParseBool`, and error messages quote with `%q` (`strconv.Quote`).
//! Consul users see these texts, so they are reproduced rather than
//! replaced by Rust's own parsers.

use std::fmt::Write as _;

/// Why a number did not parse; Go's `strconv.ErrSyntax` / `ErrRange`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumError {
    Syntax,
    Range,
}

impl NumError {
    fn text(self) -> &'static str {
        match self {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        }
    }
}

/// Go's `*strconv.NumError` text: `strconv.ParseInt: parsing "x": invalid syntax`.
pub(super) fn num_error_text(func: &str, input: &str, err: NumError) -> String {
    format!("strconv.{func}: parsing {}: {}", quote(input), err.text())
}

/// `strconv.Quote`, which is what Go's `%q` prints for a string.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        push_quoted_char(&mut out, c);
    }
    out.push('"');
    out
}

fn push_quoted_char(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        c if is_go_printable(c) => out.push(c),
        c if (c as u32) < 0x20 || c == '\u{7f}' => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if (c as u32) < 0x10000 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => {
            let _ = write!(out, "\\U{:08x}", c as u32);
        }
    }
}

// Go's unicode.IsPrint: graphic characters plus the ASCII space only. Rust
// has no exact equivalent; controls and non-ASCII spaces cover what
// appears in practice.
fn is_go_printable(c: char) -> bool {
    c == ' ' || !(c.is_control() || c.is_whitespace() || c == '\u{feff}' || c == '\u{ad}')
}

/// `strconv.Unquote` of a double-quoted literal's inside (the grammar
/// guarantees it has no `"`). `\x` and octal escapes yield raw bytes, so
/// the result is bytes; `None` is Go's `ErrSyntax`.
pub(super) fn unquote_double(inner: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\n' => return None,
            '\\' => unescape(&mut chars, &mut out)?,
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Some(out)
}

/// `strconv.Unquote` of a backquoted literal's inside: raw, except that
/// carriage returns are dropped (as Go does for raw strings).
pub(super) fn unquote_raw(inner: &str) -> String {
    inner.chars().filter(|&c| c != '\r').collect()
}

// One escape after a backslash, as strconv.UnquoteChar reads it inside a
// double-quoted string (so `\'` is an error there).
fn unescape(chars: &mut std::str::Chars<'_>, out: &mut Vec<u8>) -> Option<()> {
    let byte = match chars.next()? {
        'a' => 0x07,
        'b' => 0x08,
        'f' => 0x0c,
        'n' => b'\n',
        'r' => b'\r',
        't' => b'\t',
        'v' => 0x0b,
        '\\' => b'\\',
        '"' => b'"',
        'x' => u8::try_from(hex_digits(chars, 2)?).ok()?,
        'u' => return push_rune(out, hex_digits(chars, 4)?),
        'U' => return push_rune(out, hex_digits(chars, 8)?),
        first @ '0'..='7' => octal_byte(first, chars)?,
        _ => return None,
    };
    out.push(byte);
    Some(())
}

fn hex_digits(chars: &mut std::str::Chars<'_>, count: usize) -> Option<u32> {
    let mut value = 0u32;
    for _ in 0..count {
        value = value * 16 + chars.next()?.to_digit(16)?;
    }
    Some(value)
}

fn octal_byte(first: char, chars: &mut std::str::Chars<'_>) -> Option<u8> {
    let mut value = first.to_digit(8)?;
    for _ in 0..2 {
        value = value * 8 + chars.next()?.to_digit(8)?;
    }
    u8::try_from(value).ok()
}

fn push_rune(out: &mut Vec<u8>, code: u32) -> Option<()> {
    let c = char::from_u32(code)?;
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    Some(())
}

/// `strconv.ParseInt(s, 0, 64)`.
pub(super) fn parse_int(s: &str) -> Result<i64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let (negative, digits) = match s.as_bytes()[0] {
        b'+' => (false, &s[1..]),
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    // ParseInt keeps going after ParseUint's range error: it is still a range error.
    let magnitude = match parse_uint(digits) {
        Ok(n) => n,
        Err(NumError::Range) => u64::MAX,
        Err(NumError::Syntax) => return Err(NumError::Syntax),
    };
    const CUTOFF: u64 = 1 << 63;
    match (negative, magnitude) {
        (false, n) if n >= CUTOFF => Err(NumError::Range),
        (true, n) if n > CUTOFF => Err(NumError::Range),
        (true, n) => Ok((n as i64).wrapping_neg()),
        (false, n) => Ok(n as i64),
    }
}

/// `strconv.ParseUint(s, 0, 64)`: base from the prefix (`0x`, `0o`, `0b`,
/// a bare leading `0` for octal), underscores between digits allowed.
pub(super) fn parse_uint(s: &str) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let (base, body) = split_base_prefix(s);
    let mut n: u64 = 0;
    let mut underscores = false;
    for c in body.bytes() {
        let digit = match c {
            b'_' => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => c - b'0',
            c if c.is_ascii_alphabetic() => c.to_ascii_lowercase() - b'a' + 10,
            _ => return Err(NumError::Syntax),
        };
        if u64::from(digit) >= base {
            return Err(NumError::Syntax);
        }
        n = n.checked_mul(base).and_then(|m| m.checked_add(u64::from(digit))).ok_or(NumError::Range)?;
    }
    if underscores && !underscore_ok(s) {
        return Err(NumError::Syntax);
    }
    Ok(n)
}

fn split_base_prefix(s: &str) -> (u64, &str) {
    let bytes = s.as_bytes();
    if bytes[0] != b'0' {
        return (10, s);
    }
    if bytes.len() >= 3 {
        match bytes[1].to_ascii_lowercase() {
            b'b' => return (2, &s[2..]),
            b'o' => return (8, &s[2..]),
            b'x' => return (16, &s[2..]),
            _ => {}
        }
    }
    (8, &s[1..])
}

// Go's underscoreOK: an underscore must sit between digits (a base prefix
// counts as a digit).
fn underscore_ok(s: &str) -> bool {
    let mut bytes = s.as_bytes();
    if let Some(b'-' | b'+') = bytes.first() {
        bytes = &bytes[1..];
    }
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if bytes.len() >= 2 && bytes[0] == b'0' && matches!(bytes[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = bytes[1].eq_ignore_ascii_case(&b'x');
    }
    for &c in &bytes[i..] {
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else if saw == b'_' {
            return false;
        } else {
            saw = b'!';
        }
    }
    saw != b'_'
}

/// `strconv.ParseFloat(s, 64)` for decimal spellings (Go's hexadecimal
/// floats such as `0x1p-2` are not accepted here).
pub(super) fn parse_float(s: &str) -> Result<f64, NumError> {
    if s.contains('_') && !underscore_ok(s) {
        return Err(NumError::Syntax);
    }
    let cleaned: std::borrow::Cow<'_, str> = if s.contains('_') { s.replace('_', "").into() } else { s.into() };
    let value: f64 = cleaned.parse().map_err(|_| NumError::Syntax)?;
    // Rust rounds an overflowing literal to infinity; Go calls it out of range.
    if value.is_infinite() && !names_infinity(&cleaned) {
        return Err(NumError::Range);
    }
    Ok(value)
}

fn names_infinity(s: &str) -> bool {
    let unsigned = s.trim_start_matches(['+', '-']);
    unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity")
}

/// `strconv.ParseBool`.
pub(super) fn parse_bool(s: &str) -> Result<bool, NumError> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(NumError::Syntax),
    }
}
