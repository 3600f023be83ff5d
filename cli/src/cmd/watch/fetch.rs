//! One read of a watch's data: the blocking query Consul's watch functions
//! make for each type, and the result as Consul's Go client decodes it.

use anyhow::anyhow;
use reqwest::StatusCode;
use serde::Deserialize;
use serde::Serialize;
use serde_json::Value;

use crate::client::encode_key;
use crate::client::Client;
use crate::cmd::watch::plan::Kind;

/// What one read found, at the index the agent reported.
pub struct Answer {
    pub index: u64,
    /// The data, decoded: what two answers are compared by.
    pub value: Value,
    /// The same data as JSON text, its members in the order the agent (or
    /// Go's `api.KVPair`) put them.
    pub json: String,
}

/// A KV entry as Go's `api.KVPair` encodes it, the shape a Consul watch
/// hands on (the HTTP answer orders the fields differently and has no
/// `Session` when the key is unlocked).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KvPair {
    key: String,
    create_index: u64,
    modify_index: u64,
    lock_index: u64,
    flags: u64,
    value: Option<String>,
    #[serde(default)]
    session: String,
}

/// Reads `kind` once; with `index` above 0 the agent holds the answer until
/// the data passes that index (or its default wait runs out).
pub async fn fetch(client: &Client, kind: &Kind, index: u64) -> anyhow::Result<Answer> {
    let (path, mut query) = request(kind);
    if index > 0 {
        query.push(("index", index.to_string()));
    }
    let query = serde_urlencoded::to_string(&query)?;
    let url = if query.is_empty() { path } else { format!("{path}?{query}") };
    let reply = client.get(&url).await?;
    let index = reply.index.ok_or_else(|| anyhow!("the agent's answer has no X-Consul-Index"))?;
    let json = match kind {
        Kind::Key(_) | Kind::KeyPrefix(_) => kv_json(kind, &reply)?,
        _ => {
            // Checked as JSON here; kept as text so its member order survives.
            reply.json::<Value>()?;
            String::from_utf8_lossy(&reply.body).into_owned()
        }
    };
    let value = serde_json::from_str(&json)?;
    Ok(Answer { index, value, json })
}

/// The path and query parameters Consul's client sends for `kind`.
fn request(kind: &Kind) -> (String, Vec<(&'static str, String)>) {
    let tags = |tags: &[String]| tags.iter().map(|t| ("tag", t.clone())).collect::<Vec<_>>();
    match kind {
        Kind::Key(key) => (format!("/v1/kv/{}", encode_key(key)), vec![]),
        Kind::KeyPrefix(prefix) => (format!("/v1/kv/{}", encode_key(prefix)), vec![("recurse", String::new())]),
        Kind::Services => ("/v1/catalog/services".into(), vec![]),
        Kind::Nodes => ("/v1/catalog/nodes".into(), vec![]),
        Kind::Service { name, tags: wanted, passing_only } => {
            let mut query = tags(wanted);
            if *passing_only {
                query.push(("passing", "1".into()));
            }
            (format!("/v1/health/service/{}", encode_key(name)), query)
        }
        Kind::Checks { state: Some(state), tags: wanted, .. } => {
            (format!("/v1/health/state/{}", encode_key(state)), tags(wanted))
        }
        Kind::Checks { service, .. } => {
            (format!("/v1/health/checks/{}", encode_key(service.as_deref().unwrap_or(""))), vec![])
        }
    }
}

/// KV answers as a Consul watch passes them on: a missing key (or an empty
/// prefix, a 404) is `null`, a key watch gets the entry itself rather than
/// the one-element list the HTTP API answers, and entries take Go's shape.
fn kv_json(kind: &Kind, reply: &crate::client::Reply) -> anyhow::Result<String> {
    if reply.status == StatusCode::NOT_FOUND {
        return Ok("null".into());
    }
    let mut entries: Vec<KvPair> = reply.json()?;
    let json = match kind {
        Kind::Key(_) if entries.is_empty() => "null".into(),
        Kind::Key(_) => serde_json::to_string(&entries.swap_remove(0))?,
        _ => serde_json::to_string(&entries)?,
    };
    Ok(json)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_asks_what_consuls_client_asks() {
        let service = Kind::Service { name: "web".into(), tags: vec!["a".into(), "b".into()], passing_only: true };
        let (path, query) = request(&service);
        assert_eq!(path, "/v1/health/service/web");
        assert_eq!(serde_urlencoded::to_string(&query).unwrap(), "tag=a&tag=b&passing=1");
        let any = Kind::Checks { service: None, state: Some("any".into()), tags: vec![] };
        assert_eq!(request(&any).0, "/v1/health/state/any");
        let of_web = Kind::Checks { service: Some("web".into()), state: None, tags: vec![] };
        assert_eq!(request(&of_web).0, "/v1/health/checks/web");
        assert_eq!(serde_urlencoded::to_string(&request(&Kind::KeyPrefix("a b/".into())).1).unwrap(), "recurse=");
    }
}
