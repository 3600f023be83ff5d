//! Consul's pretty output of tokens, policies and roles
//! (`command/acl/*/formatter.go`), and `-format json`.

use std::fmt::Write as _;

use serde_json::Value;

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

fn links(out: &mut String, title: &str, value: &Value) {
    let Some(items) = value.as_array().filter(|a| !a.is_empty()) else { return };
    let _ = writeln!(out, "{title}:");
    for item in items {
        let _ = writeln!(out, "   {} - {}", text(item, "ID"), text(item, "Name"));
    }
}

fn identities(out: &mut String, value: &Value) {
    if let Some(items) = value["ServiceIdentities"].as_array().filter(|a| !a.is_empty()) {
        let _ = writeln!(out, "Service Identities:");
        for item in items {
            let dcs: Vec<&str> =
                item["Datacenters"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            let dcs = if dcs.is_empty() { "all".to_string() } else { dcs.join(", ") };
            let _ = writeln!(out, "   {} (Datacenters: {dcs})", text(item, "ServiceName"));
        }
    }
    if let Some(items) = value["NodeIdentities"].as_array().filter(|a| !a.is_empty()) {
        let _ = writeln!(out, "Node Identities:");
        for item in items {
            let _ = writeln!(out, "   {} (Datacenter: {})", text(item, "NodeName"), text(item, "Datacenter"));
        }
    }
}

/// An RFC 3339 time as Go's `time.Time` prints it (`2024-01-01 15:04:05.1 +0000 UTC`).
fn go_time(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(utc) => format!("{} +0000 UTC", utc.replacen('T', " ", 1)),
        None => rfc3339.replacen('T', " ", 1),
    }
}

pub fn token(t: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "AccessorID:       {}", text(t, "AccessorID"));
    let _ = writeln!(out, "SecretID:         {}", text(t, "SecretID"));
    let _ = writeln!(out, "Description:      {}", text(t, "Description"));
    let _ = writeln!(out, "Local:            {}", t["Local"].as_bool().unwrap_or(false));
    let _ = writeln!(out, "Create Time:      {}", go_time(text(t, "CreateTime")));
    if let Some(at) = t["ExpirationTime"].as_str() {
        let _ = writeln!(out, "Expiration Time:  {}", go_time(at));
    }
    links(&mut out, "Policies", &t["Policies"]);
    links(&mut out, "Roles", &t["Roles"]);
    identities(&mut out, t);
    out
}

pub fn policy(p: &Value) -> String {
    let mut out = String::new();
    let dcs: Vec<&str> = p["Datacenters"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let _ = writeln!(out, "ID:           {}", text(p, "ID"));
    let _ = writeln!(out, "Name:         {}", text(p, "Name"));
    let _ = writeln!(out, "Description:  {}", text(p, "Description"));
    let _ = writeln!(out, "Datacenters:  {}", dcs.join(", "));
    if let Some(rules) = p["Rules"].as_str() {
        let _ = writeln!(out, "Rules:\n{rules}");
    }
    out
}

pub fn role(r: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "ID:           {}", text(r, "ID"));
    let _ = writeln!(out, "Name:         {}", text(r, "Name"));
    let _ = writeln!(out, "Description:  {}", text(r, "Description"));
    links(&mut out, "Policies", &r["Policies"]);
    identities(&mut out, r);
    out
}

/// Prints one value (or, for an array, each with a blank line between)
/// as `format` asks; exit code 0.
pub fn print(format: &str, value: &Value, pretty: fn(&Value) -> String) -> anyhow::Result<u8> {
    match format {
        "json" => println!("{}", serde_json::to_string_pretty(value)?),
        "pretty" => match value.as_array() {
            Some(items) => {
                let shown: Vec<String> = items.iter().map(pretty).collect();
                print!("{}", shown.join("\n"));
            }
            None => print!("{}", pretty(value)),
        },
        other => anyhow::bail!("Invalid format: {other}"),
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tokens_print_as_consul_prints_them() {
        let t = json!({"AccessorID": "a", "SecretID": "s", "Description": "d", "Local": false,
                       "CreateTime": "2024-01-01T15:04:05.5Z",
                       "Policies": [{"ID": "p", "Name": "web"}],
                       "ServiceIdentities": [{"ServiceName": "web"}],
                       "NodeIdentities": [{"NodeName": "n1", "Datacenter": "dc1"}]});
        assert_eq!(
            token(&t),
            "AccessorID:       a\nSecretID:         s\nDescription:      d\nLocal:            false\n\
             Create Time:      2024-01-01 15:04:05.5 +0000 UTC\nPolicies:\n   p - web\n\
             Service Identities:\n   web (Datacenters: all)\nNode Identities:\n   n1 (Datacenter: dc1)\n"
        );
    }
}
