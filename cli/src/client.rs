//! The CLI's HTTP client for the local agent's Consul-compatible API.

use std::time::Duration;

use std::error::Error;

use anyhow::anyhow;
use anyhow::Context;
use reqwest::Method;
use reqwest::StatusCode;

mod settings;
mod tls;

pub use settings::Endpoint;

#[derive(Clone)]
pub struct Client {
    base: String,
    http: reqwest::Client,
    /// `?dc=` on every call (`-datacenter`).
    datacenter: Option<String>,
    /// `?stale` on reads (`-stale`).
    stale: bool,
    /// The ACL token (also sent by `http` on every request).
    token: Option<String>,
}

/// A response the agent gave, whatever its status.
pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    /// `X-Consul-Index`, when the agent sent one (reads do).
    pub index: Option<u64>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).trim().to_string()
    }

    /// The body as JSON, or the agent's error text for a non-2xx status.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> anyhow::Result<T> {
        if !self.status.is_success() {
            return Err(anyhow!("Unexpected response code: {} ({})", self.status.as_u16(), self.text()));
        }
        serde_json::from_slice(&self.body).context("the agent's answer is not the JSON expected")
    }
}

/// The TLS client config for an agent's gRPC TLS port (a sidecar's): the
/// HTTP client's, from the same flags and variables, with `ca` (the gRPC
/// CA file or path: `-grpc-ca-file`, `CONSUL_GRPC_CACERT`, ...) in place of
/// the HTTP CA when given, speaking HTTP/2. Also the name to verify instead
/// of the address's host (`-tls-server-name`), if given.
pub fn grpc_tls_config(
    flags: &crate::cmd::HttpFlags,
    ca: (Option<String>, Option<String>),
) -> anyhow::Result<(rustls::ClientConfig, Option<String>)> {
    let mut endpoint = settings::resolve(flags, &|name| std::env::var(name).ok())?;
    if ca.0.is_some() || ca.1.is_some() {
        (endpoint.tls.ca_file, endpoint.tls.ca_path) = ca;
    }
    let mut config = tls::client_config(&endpoint.tls)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok((config, endpoint.tls.server_name))
}

impl Client {
    /// The client the flags and the environment describe.
    pub fn new(flags: &crate::cmd::HttpFlags) -> anyhow::Result<Client> {
        let endpoint = settings::resolve(flags, &|name| std::env::var(name).ok())?;
        Client::for_endpoint(&endpoint, flags)
    }

    fn for_endpoint(endpoint: &Endpoint, flags: &crate::cmd::HttpFlags) -> anyhow::Result<Client> {
        let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
        if endpoint.https() || endpoint.tls.configured() {
            builder = builder.use_preconfigured_tls(tls::client_config(&endpoint.tls)?);
        }
        // Every request, streams included, carries the token (Consul's api client does).
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &endpoint.token {
            let mut value =
                reqwest::header::HeaderValue::from_str(token).context("the ACL token is not a header value")?;
            value.set_sensitive(true);
            headers.insert("x-consul-token", value);
        }
        let http = builder.default_headers(headers).build()?;
        Ok(Client {
            base: endpoint.base.clone(),
            http,
            datacenter: flags.datacenter.clone(),
            stale: flags.stale,
            token: endpoint.token.clone(),
        })
    }

    /// The ACL token this client presents, for calls it does not make
    /// itself (the sidecar's gRPC stream).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// `http://host:port` or `https://host:port`: the agent this client calls.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The underlying client, with the TLS settings, for callers that run
    /// their own requests (the sidecar's upstream watches).
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The URL for a call, with `?dc=` and `?stale` as the flags ask,
    /// as Consul's API client adds them.
    fn url(&self, method: &Method, path_and_query: &str) -> String {
        let mut url = format!("{}{}", self.base, path_and_query);
        let mut add = |param: String| {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&param);
        };
        if let Some(dc) = self.datacenter.as_deref().filter(|dc| !dc.is_empty()) {
            add(serde_urlencoded::to_string([("dc", dc)]).unwrap_or_default());
        }
        if self.stale && *method == Method::GET {
            add("stale".to_string());
        }
        url
    }

    pub async fn call(&self, method: Method, path_and_query: &str, body: Option<Vec<u8>>) -> anyhow::Result<Reply> {
        let url = self.url(&method, path_and_query);
        let mut request = self.http.request(method, &url);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let index = response.headers().get("x-consul-index").and_then(|v| v.to_str().ok()?.parse().ok());
        let body = response.bytes().await.context("reading the agent's answer")?.to_vec();
        Ok(Reply { status, body, index })
    }

    /// A GET whose body the caller reads as it comes (a stream).
    pub async fn open(&self, path_and_query: &str) -> anyhow::Result<reqwest::Response> {
        let url = self.url(&Method::GET, path_and_query);
        self.http.get(&url).send().await.map_err(|e| self.unreachable(e))
    }

    /// The failure with its causes (a TLS refusal is two or three levels
    /// down in reqwest's error), since errors print on one line.
    fn unreachable(&self, error: reqwest::Error) -> anyhow::Error {
        let mut text = format!("Error connecting to the agent at {}", self.base);
        let mut cause: Option<&dyn Error> = Some(&error);
        while let Some(e) = cause {
            text.push_str(&format!(": {e}"));
            cause = e.source();
        }
        anyhow!(text)
    }

    pub async fn get(&self, path_and_query: &str) -> anyhow::Result<Reply> {
        self.call(Method::GET, path_and_query, None).await
    }
}

/// Percent-encodes a KV key for a URL path, keeping `/` as a separator.
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Prints rows as left-aligned columns separated by two spaces, as Consul's
/// `columnize` does.
pub fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..width)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, cell)| if i + 1 == row.len() { cell.clone() } else { format!("{cell:<w$}", w = widths[i]) })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datacenter_goes_on_every_call_and_stale_on_reads() {
        let flags = crate::cmd::HttpFlags {
            http_addr: Some("h:1".into()),
            datacenter: Some("dc2".into()),
            stale: true,
            ..Default::default()
        };
        let client = Client::new(&flags).unwrap();
        assert_eq!(client.url(&Method::GET, "/v1/kv/a?recurse"), "http://h:1/v1/kv/a?recurse&dc=dc2&stale");
        assert_eq!(client.url(&Method::PUT, "/v1/kv/a"), "http://h:1/v1/kv/a?dc=dc2");
        let plain = Client::new(&crate::cmd::HttpFlags { http_addr: Some("h:1".into()), ..Default::default() });
        assert_eq!(plain.unwrap().url(&Method::GET, "/v1/kv/a"), "http://h:1/v1/kv/a");
    }

    #[test]
    fn keys_are_escaped_except_slashes() {
        assert_eq!(encode_key("a b/c?d"), "a%20b/c%3Fd");
    }

    #[test]
    fn columns_align() {
        let rows = vec![vec!["Node".into(), "ID".into()], vec!["server-1".into(), "x".into()]];
        assert_eq!(columns(&rows), "Node      ID\nserver-1  x\n");
    }
}
