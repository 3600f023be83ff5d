//! Consul's config files and rules are HCL 1, which this crate reads with
//! an HCL 2 parser; the one difference users hit is several attributes on
//! one line, mended here before parsing.

/// Consul's HCL (v1) accepts several attributes on one line,
/// `service "web" { policy = "write" intentions = "read" }`; HCL 2 wants
/// each on its own line, and the braces of such a block on lines of their
/// own. This breaks the line after a string literal followed, on the same
/// line, by `identifier =`, and then after that line's `{` and before its
/// `}`; likewise after a bare value (`true`, `8500`) that follows an `=`.
/// Nothing else changes: strings and comments are skipped, and in valid
/// HCL 2 a value is never followed by an assignment on the same line, so
/// valid text reads the same.
pub fn split_one_line_attributes(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 16);
    // Where, in `out`, this line's `{` ends; whether its `}` needs a break.
    let mut open_brace: Option<usize> = None;
    let mut split = false;
    let mut i = 0;
    while i < bytes.len() {
        let next = match bytes[i] {
            b'"' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z' | b'-' if bytes[i] == b'"' || after_equals(&out) => {
                let end = if bytes[i] == b'"' { string_end(bytes, i) } else { word_end(bytes, i) };
                out.push_str(&text[i..end]);
                if assignment_follows(&bytes[end..]) {
                    if let Some(at) = open_brace.take() {
                        out.insert(at, '\n');
                    }
                    out.push('\n');
                    split = true;
                }
                i = end;
                continue;
            }
            b'#' => line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'/') => line_end(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                text[i + 2..].find("*/").map_or(bytes.len(), |at| i + 2 + at + 2)
            }
            b'<' if bytes.get(i + 1) == Some(&b'<') => heredoc_end(bytes, i),
            b'{' => {
                open_brace = Some(out.len() + 1);
                i + 1
            }
            b'}' if split => {
                out.push('\n');
                split = false;
                i + 1
            }
            b'\n' => {
                open_brace = None;
                split = false;
                i + 1
            }
            // Whole characters, so slices stay on UTF-8 boundaries.
            _ => i + text[i..].chars().next().map_or(1, char::len_utf8),
        };
        out.push_str(&text[i..next]);
        i = next;
    }
    out
}

/// Whether the last thing written (spaces aside) is an `=`: what starts
/// here is an attribute's value.
fn after_equals(out: &str) -> bool {
    out.trim_end_matches([' ', '\t']).ends_with('=')
}

/// The index just past a bare value (a number, `true`, an identifier).
fn word_end(bytes: &[u8], from: usize) -> usize {
    let len = bytes[from..].iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')).count();
    from + len.max(1)
}

/// The index just past the string literal opening at `open`. A quoted
/// string may span lines (hcl-rs keeps the newline in the value), so only
/// the closing quote ends it: stopping at the line's end would mend text
/// inside the string. An interpolation (`${...}`, `%{...}`) may hold
/// strings of its own, whose quotes do not close this one.
fn string_end(bytes: &[u8], open: usize) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            // `$${` and `%%{` are the literal text, not an interpolation.
            b'$' | b'%' if bytes[i + 1..].starts_with(&[bytes[i], b'{']) => i += 3,
            b'$' | b'%' if bytes.get(i + 1) == Some(&b'{') => i = template_end(bytes, i + 2),
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The index just past the `}` closing an interpolation whose expression
/// starts at `from`; strings in it are skipped whole (they may hold `}`).
fn template_end(bytes: &[u8], from: usize) -> usize {
    let mut depth = 0;
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                continue;
            }
            b'{' => depth += 1,
            b'}' if depth == 0 => return i + 1,
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// The index of the end of the line closing the heredoc (`<<EOF`, `<<-EOF`)
/// that starts at `from`, or just past the `<<` if none does: its body is
/// the value, so nothing in it is mended.
fn heredoc_end(bytes: &[u8], from: usize) -> usize {
    let mut i = from + 2 + usize::from(bytes.get(from + 2) == Some(&b'-'));
    let name_len = bytes[i..].iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')).count();
    let name = &bytes[i..i + name_len];
    i += name_len;
    i += usize::from(bytes.get(i) == Some(&b'\r'));
    if name.is_empty() || bytes.get(i) != Some(&b'\n') {
        return from + 2;
    }
    // `i` is at a newline: the next line closes the heredoc if it is the
    // name alone (hcl-rs allows it indented).
    while i < bytes.len() {
        let end = line_end(bytes, i + 1);
        if bytes[i + 1..end].trim_ascii() == name {
            return end;
        }
        i = end;
    }
    bytes.len()
}

fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |at| from + at)
}

/// Whether `rest` starts (after spaces) with `identifier =` (not `==`).
fn assignment_follows(rest: &[u8]) -> bool {
    let mut i = rest.iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    if i == 0 || !rest.get(i).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') {
        return false;
    }
    i += rest[i..].iter().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')).count();
    i += rest[i..].iter().take_while(|b| matches!(b, b' ' | b'\t')).count();
    rest.get(i) == Some(&b'=') && rest.get(i + 1) != Some(&b'=')
}

#[cfg(test)]
mod tests {
    use super::split_one_line_attributes as split;

    #[test]
    fn one_line_blocks_are_split_and_valid_text_is_unchanged() {
        let text = r#"acl { enabled = true default_policy = "deny" }"#;
        let value: serde_json::Value = hcl::from_str(&split(text)).unwrap();
        assert_eq!(value["acl"]["enabled"], serde_json::json!(true));
        assert_eq!(value["acl"]["default_policy"], serde_json::json!("deny"));
        let ports = "ports { http = 8500 dns = -1 }";
        let value: serde_json::Value = hcl::from_str(&split(ports)).unwrap();
        assert_eq!(value["ports"]["dns"], serde_json::json!(-1));
        let valid = "acl {\n  enabled = true\n  tokens { default = \"x = y\" }\n}\n# a = b c = d\n";
        assert_eq!(split(valid), valid);
    }

    /// Found by fuzz/fuzz_targets/hcl1.rs: `= 5 e =` is inside a string
    /// that continues on the next line, so it must not be split.
    #[test]
    fn a_string_spanning_lines_is_not_mended() {
        let text = std::str::from_utf8(b"n=\"\n=5 e=\"").unwrap();
        let before: serde_json::Value = hcl::from_str(text).unwrap();
        assert_eq!(split(text), text);
        assert_eq!(hcl::from_str::<serde_json::Value>(&split(text)).unwrap(), before);
    }
    /// Found by fuzzing too: a heredoc's body and a string inside an
    /// interpolation are values, not attributes on one line.
    #[test]
    fn heredocs_and_strings_in_interpolations_are_not_mended() {
        for text in ["a = <<EOF\n\"x\" b = 1\nEOF\n", "a = <<-EOF\n  \"x\" b = 1\n  EOF\n", "x = \"${\"=5 y = 1\"}\"\n"]
        {
            let before: serde_json::Value = hcl::from_str(text).unwrap();
            assert_eq!(split(text), text);
            assert_eq!(hcl::from_str::<serde_json::Value>(&split(text)).unwrap(), before);
        }
    }
}
