//! Query parameters as Consul reads them: repeatable (`?tag=a&tag=b`), the
//! first value answering a single lookup (Go's `Query().Get`), booleans
//! parsed as Go's `strconv.ParseBool` with a bare `?flag` meaning true, and
//! the parameters every endpoint shares (`dc`, `ns`, `partition`, `stale`
//! with `consistent`) checked once for all of them.

use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;

use tessera_mesh::catalog::Node;
use tessera_mesh::catalog::Service;

use crate::http::ApiError;

#[derive(Debug, Clone, Default)]
pub struct QueryParams(Vec<(String, String)>);

impl QueryParams {
    /// Parses a raw query string (`a=1&b&a=2`).
    pub fn parse(query: &str) -> QueryParams {
        QueryParams(serde_urlencoded::from_str(query).unwrap_or_default())
    }

    /// The first value of `name`, as Go's `Query().Get` gives it.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    /// Every value of `name`, in order.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.0.iter().any(|(k, _)| k == name)
    }

    /// A boolean parameter: absent is false, `?name` or `?name=` is true,
    /// otherwise Go's `ParseBool` (`1`, `t`, `true`, `0`, `f`, `false`, ...);
    /// anything else is Consul's 400 `Invalid value for ?name`.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name).map(String::as_str) {
            None => Ok(false),
            Some("" | "1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
            Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
            Some(_) => Err(ApiError::bad_request(format!("Invalid value for ?{name}"))),
        }
    }

    /// `?node-meta=key:value` pairs (repeatable; no colon means an empty value).
    pub fn node_meta(&self) -> Vec<(&str, &str)> {
        self.all("node-meta").map(|pair| pair.split_once(':').unwrap_or((pair, ""))).collect()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or("")))
    }
}

/// What `?tag` and `?node-meta` ask of catalog and health answers: an
/// instance must carry every tag (compared case-insensitively, as Consul
/// does) and its node every meta pair.
pub struct Wanted<'a> {
    tags: Vec<String>,
    node_meta: Vec<(&'a str, &'a str)>,
}

impl<'a> From<&'a QueryParams> for Wanted<'a> {
    fn from(params: &'a QueryParams) -> Wanted<'a> {
        Wanted { tags: params.all("tag").map(str::to_lowercase).collect(), node_meta: params.node_meta() }
    }
}

impl Wanted<'_> {
    pub fn node(&self, node: &Node) -> bool {
        self.node_meta.iter().all(|(k, v)| node.meta.get(*k).is_some_and(|have| have == v))
    }

    pub fn instance(&self, node: &Node, service: &Service) -> bool {
        let has_tag = |want: &String| service.tags.iter().any(|t| t.to_lowercase() == *want);
        self.node(node) && self.tags.iter().all(has_tag)
    }
}

/// Checks what every endpoint accepts before any handler runs: a `dc` other
/// than this agent's (Consul's 500 `No path to datacenter`), a namespace or
/// partition other than `default` (Enterprise features), and `stale` with
/// `consistent`.
pub async fn common_params(State(datacenter): State<String>, request: Request, next: Next) -> Response {
    let params = QueryParams::parse(request.uri().query().unwrap_or(""));
    if let Some(refused) = refusal(&params, &datacenter) {
        return refused.into_response();
    }
    let response = next.run(request).await;
    let response = match params.contains_key("cached") {
        // Answers come from the servers' state, never from an agent cache.
        true => with_header(response, "x-cache", "MISS"),
        false => response,
    };
    match params.contains_key("pretty") {
        true => pretty(response).await,
        false => response,
    }
}

fn with_header(mut response: Response, name: &'static str, value: &'static str) -> Response {
    response.headers_mut().insert(name, axum::http::HeaderValue::from_static(value));
    response
}

/// `?pretty`: a JSON answer re-indented as Go's `MarshalIndent` with four
/// spaces, and a trailing newline. Other answers pass unchanged.
async fn pretty(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "cannot read the answer").into_response();
    };
    // Checked first, so the re-indenting below may assume valid JSON.
    if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err() {
        return Response::from_parts(parts, axum::body::Body::from(bytes));
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(indent(&bytes)))
}

/// Compact JSON re-indented with four spaces per level, Go's
/// `MarshalIndent(v, "", "    ")` layout plus a newline: the bytes are
/// walked rather than parsed into a `Value`, so keys keep the answer's
/// order (a `Value` would sort them) and big answers cost one pass.
fn indent(compact: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(compact.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 4));
    };
    for (i, &b) in compact.iter().enumerate() {
        if in_string {
            out.push(b);
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                out.push(b);
                // Empty objects and lists stay `{}` and `[]`, as Go writes them.
                if !matches!(compact.get(i + 1), Some(b'}' | b']')) {
                    depth += 1;
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                if !matches!(compact[..i].last(), Some(b'{' | b'[')) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

fn refusal(params: &QueryParams, datacenter: &str) -> Option<ApiError> {
    if params.get("dc").is_some_and(|dc| !dc.is_empty() && !dc.eq_ignore_ascii_case(datacenter)) {
        return Some(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "No path to datacenter"));
    }
    for (name, feature) in [("ns", "Namespaces"), ("partition", "Partitions")] {
        if params.get(name).is_some_and(|v| !v.is_empty() && v != "default") {
            let message = format!("Invalid query parameter: {name:?} - {feature} are a Consul Enterprise feature");
            return Some(ApiError::bad_request(message));
        }
    }
    if params.contains_key("stale") && params.contains_key("consistent") {
        return Some(ApiError::bad_request("Cannot specify ?stale with ?consistent, conflicting semantics."));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_answers_indent_as_go_and_keep_key_order() {
        let value = serde_json::json!({"a": [1, {"b": "x,\\\"{[y"}, [], {}], "c": {"d": null}, "e": ""});
        let compact = serde_json::to_vec(&value).unwrap();
        let mut want = Vec::new();
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        serde::Serialize::serialize(&value, &mut serde_json::Serializer::with_formatter(&mut want, formatter)).unwrap();
        want.push(b'\n');
        assert_eq!(String::from_utf8(indent(&compact)).unwrap(), String::from_utf8(want).unwrap());
        assert_eq!(indent(br#"{"z":1,"a":2}"#), b"{\n    \"z\": 1,\n    \"a\": 2\n}\n");
    }

    #[test]
    fn repeated_parameters_are_all_kept_and_get_gives_the_first() {
        let params = QueryParams::parse("tag=a&tag=b&passing&index=5");
        assert_eq!(params.all("tag").collect::<Vec<_>>(), vec!["a", "b"]);
        assert_eq!(params.get("tag").map(String::as_str), Some("a"));
        assert!(params.contains_key("passing"));
    }

    #[test]
    fn flags_parse_as_go_booleans() {
        for (query, want) in [("", false), ("passing", true), ("passing=", true), ("passing=1", true)] {
            assert_eq!(QueryParams::parse(query).flag("passing").ok(), Some(want), "{query}");
        }
        for (query, want) in [("passing=false", false), ("passing=0", false), ("passing=TRUE", true)] {
            assert_eq!(QueryParams::parse(query).flag("passing").ok(), Some(want), "{query}");
        }
        assert!(QueryParams::parse("passing=yes").flag("passing").is_err());
    }

    #[test]
    fn every_tag_is_needed_in_any_case_and_every_node_meta_pair() {
        let node = Node { meta: [("env".to_string(), "prod".to_string())].into(), ..Node::default() };
        let service = Service { tags: vec!["Primary".into(), "v2".into()], ..Service::default() };
        let wanted = |q: &str| Wanted::from(&QueryParams::parse(q)).instance(&node, &service);
        assert!(wanted(""));
        assert!(wanted("tag=primary&tag=V2"));
        assert!(!wanted("tag=primary&tag=v3"), "tags are ANDed");
        assert!(wanted("node-meta=env:prod&tag=v2"));
        assert!(!wanted("node-meta=env:dev"));
    }

    #[test]
    fn node_meta_pairs_split_at_the_first_colon() {
        let params = QueryParams::parse("node-meta=env:prod&node-meta=url:http://x&node-meta=bare");
        assert_eq!(params.node_meta(), vec![("env", "prod"), ("url", "http://x"), ("bare", "")]);
    }

    #[test]
    fn shared_parameters_refuse_other_datacenters_namespaces_and_conflicts() {
        let refused = |q: &str| refusal(&QueryParams::parse(q), "dc1").map(|e| e.message().to_string());
        assert_eq!(refused("dc=dc1"), None);
        assert_eq!(refused("dc=DC1"), None);
        assert_eq!(refused("dc=dc2").as_deref(), Some("No path to datacenter"));
        assert_eq!(refused("ns=default"), None);
        assert!(refused("ns=team").unwrap().contains("Namespaces are a Consul Enterprise feature"));
        assert!(refused("partition=p").unwrap().contains("Partitions are a Consul Enterprise feature"));
        assert!(refused("stale&consistent").unwrap().contains("conflicting semantics"));
    }
}
