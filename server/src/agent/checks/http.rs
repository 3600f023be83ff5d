//! HTTP checks: one request on a fresh connection per run (Consul turns
//! keep-alives off for checks), redirects followed as Go's client follows
//! them, and Consul's rule on the answer: 2xx passing, 429 warning,
//! anything else critical. An https URL goes through [`super::tls`], so
//! `TLSSkipVerify` and `TLSServerName` apply.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::BodyExt;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::body::Incoming;
use hyper::header;
use hyper::Method;
use hyper::Request;
use hyper::Response;
use hyper::StatusCode;
use hyper::Uri;
use hyper_util::rt::TokioIo;
use tessera_mesh::catalog::definition::CheckTls;
use tessera_mesh::catalog::CheckStatus;

use super::alongside;
use super::output_text;
use super::tls;
use super::tls::TlsDialer;
use super::Outcome;
use super::MAX_OUTPUT;

/// Go's client gives up after this many redirects.
const MAX_REDIRECTS: usize = 10;
/// Consul's User-Agent and Accept, unless the check sets its own.
const USER_AGENT: &str = "Consul Health Check";
const ACCEPT: &str = "text/plain, text/*, */*";

/// What one request came back with.
enum Hop {
    Answer(StatusCode, String),
    Redirect(StatusCode, Uri),
}

#[derive(Clone)]
pub struct HttpProbe {
    url: String,
    method: String,
    header: BTreeMap<String, Vec<String>>,
    body: String,
    timeout: Duration,
    /// For https URLs; Err: why TLS cannot be set up (reported per run).
    tls: Result<TlsDialer, String>,
}

impl HttpProbe {
    pub fn new(
        url: String,
        method: String,
        header: BTreeMap<String, Vec<String>>,
        body: String,
        tls: &CheckTls,
        timeout: Duration,
    ) -> HttpProbe {
        let tls = TlsDialer::new(tls, tls::ALPN_HTTP1);
        HttpProbe { url, method, header, body, timeout, tls }
    }

    pub async fn run(&self) -> Outcome {
        let prefix = format!("HTTP {} {}", self.method, self.url);
        let response = match tokio::time::timeout(self.timeout, self.exchange()).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return (CheckStatus::Critical, format!("{prefix}: {e}")),
            Err(_) => return (CheckStatus::Critical, format!("{prefix}: timed out after {:?}", self.timeout)),
        };
        let (code, text) = response;
        let status = match code.as_u16() {
            200..=299 => CheckStatus::Passing,
            429 => CheckStatus::Warning,
            _ => CheckStatus::Critical,
        };
        (status, format!("{prefix}: {code} Output: {text}"))
    }

    /// The final answer's status and the start of its body, after redirects.
    async fn exchange(&self) -> Result<(StatusCode, String), String> {
        let mut url: Uri = self.url.parse().map_err(|e| format!("invalid URL: {e}"))?;
        let mut method = Method::from_bytes(self.method.as_bytes()).map_err(|_| "invalid method".to_string())?;
        let mut body = Bytes::from(self.body.clone());
        for _ in 0..=MAX_REDIRECTS {
            let (code, next) = match self.hop(&url, &method, body.clone()).await? {
                Hop::Answer(code, text) => return Ok((code, text)),
                Hop::Redirect(code, next) => (code, next),
            };
            // As Go: 301, 302 and 303 go on as GET without a body (HEAD
            // stays HEAD); 307 and 308 repeat the request as it was.
            if matches!(code.as_u16(), 301..=303) && method != Method::HEAD {
                method = Method::GET;
                body = Bytes::new();
            }
            url = next;
        }
        Err(format!("stopped after {MAX_REDIRECTS} redirects"))
    }

    /// One request on a new connection, driven in this future (no task):
    /// the connection ends with it.
    async fn hop(&self, url: &Uri, method: &Method, body: Bytes) -> Result<Hop, String> {
        let (address, authority, tls) = self.target(url)?;
        let request = self.request(url, &authority, method, body)?;
        let conn = tls::connect(&address, tls).await?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(conn)).await.map_err(|e| e.to_string())?;
        let work = async move {
            let mut response = sender.send_request(request).await.map_err(|e| e.to_string())?;
            Ok(match redirect(url, &response) {
                Some(next) => Hop::Redirect(response.status(), next),
                None => Hop::Answer(response.status(), read_start(&mut response).await),
            })
        };
        alongside(connection, work).await
    }

    /// Where to connect for `url`, its authority, and the TLS to use.
    fn target(&self, url: &Uri) -> Result<(String, String, Option<&TlsDialer>), String> {
        let authority = url.authority().ok_or("the URL has no host")?.to_string();
        let host = url.host().ok_or("the URL has no host")?;
        let (port, tls) = match url.scheme_str() {
            Some("http") => (80, None),
            Some("https") => (443, Some(self.tls.as_ref().map_err(Clone::clone)?)),
            other => return Err(format!("unsupported protocol scheme {:?}", other.unwrap_or(""))),
        };
        let port = url.port_u16().unwrap_or(port);
        Ok((format!("{host}:{port}"), authority, tls))
    }

    fn request(
        &self,
        url: &Uri,
        authority: &str,
        method: &Method,
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>, String> {
        let path = url.path_and_query().map_or("/", |p| p.as_str());
        let mut request = Request::builder().method(method.clone()).uri(path);
        for (name, values) in &self.header {
            for value in values {
                request = request.header(name.as_str(), value.as_str());
            }
        }
        let given = |name: &str| self.header.keys().any(|k| k.eq_ignore_ascii_case(name));
        // A `Host` header in the check replaces the URL's, as in Consul.
        if !given("host") {
            request = request.header(header::HOST, authority);
        }
        if !given("user-agent") {
            request = request.header(header::USER_AGENT, USER_AGENT);
        }
        if !given("accept") {
            request = request.header(header::ACCEPT, ACCEPT);
        }
        request.body(Full::new(body)).map_err(|e| format!("invalid request: {e}"))
    }
}

/// The URL a redirect answer points to, resolved against `from`.
fn redirect(from: &Uri, response: &Response<Incoming>) -> Option<Uri> {
    if !matches!(response.status().as_u16(), 301 | 302 | 303 | 307 | 308) {
        return None;
    }
    let location = response.headers().get(header::LOCATION)?.to_str().ok()?;
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    let base = format!("{}://{}", from.scheme_str()?, from.authority()?);
    let path = match location.strip_prefix('/') {
        Some(_) => location.to_string(),
        None => {
            let dir = from.path().rsplit_once('/').map_or("", |(dir, _)| dir);
            format!("{dir}/{location}")
        }
    };
    format!("{base}{path}").parse().ok()
}

/// The body's first [`MAX_OUTPUT`] bytes as text: a check must not buffer
/// a large or endless body.
async fn read_start(response: &mut Response<Incoming>) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_OUTPUT {
        match response.body_mut().frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    body.extend_from_slice(data);
                }
            }
            _ => break,
        }
    }
    output_text(&body)
}
