//! JSON as Go's `encoding/json` writes it, from JSON another encoder
//! wrote: the members kept in their order (a `serde_json::Value` would sort
//! them), `<`, `>`, `&`, U+2028 and U+2029 escaped as Go escapes them, and
//! either compact (`Encoder.Encode`, what a handler reads) or indented with
//! four spaces (`MarshalIndent(v, "", "    ")`, what `consul watch`
//! prints).

/// Rewrites the valid JSON text `raw`; `indent` is the unit per level for
/// Go's indented form, None for the compact one.
pub fn format(raw: &str, indent: Option<&str>) -> String {
    let mut out = String::with_capacity(raw.len() * 2);
    let mut depth = 0usize;
    let mut chars = raw.chars().peekable();
    let newline = |out: &mut String, depth: usize| {
        if let Some(unit) = indent {
            out.push('\n');
            out.push_str(&unit.repeat(depth));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '"' => copy_string(&mut chars, &mut out),
            '{' | '[' => {
                out.push(c);
                skip_space(&mut chars);
                // Go writes an empty object or array as `{}` / `[]` on one line.
                if matches!(chars.peek(), Some('}' | ']')) {
                    out.extend(chars.next());
                } else {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            '}' | ']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(if indent.is_some() { ": " } else { ":" }),
            c if c.is_whitespace() => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_space(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.next_if(|c| c.is_whitespace()).is_some() {}
}

/// Copies a string's body and its closing quote (the opening one is read),
/// escaping what Go escapes for HTML safety and leaving escapes as they are.
fn copy_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, out: &mut String) {
    out.push('"');
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                out.push(c);
                out.extend(chars.next());
            }
            '"' => {
                out.push(c);
                return;
            }
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_as_marshal_indent_keeping_member_order() {
        let raw = r#"{"Z":1,"A":[],"M":{},"L":[{"k":"a, b: {c}"},null]}"#;
        let want = "{\n    \"Z\": 1,\n    \"A\": [],\n    \"M\": {},\n    \"L\": [\n        {\n            \"k\": \"a, b: {c}\"\n        },\n        null\n    ]\n}";
        assert_eq!(format(raw, Some("    ")), want);
    }

    #[test]
    fn compact_form_escapes_html_characters_as_go_does() {
        let raw = "{ \"a\" : \"<b> & \\\"q\\\" \u{2028}\" }";
        assert_eq!(format(raw, None), r#"{"a":"\u003cb\u003e \u0026 \"q\" \u2028"}"#);
        assert_eq!(format("null", Some("    ")), "null");
    }
}
