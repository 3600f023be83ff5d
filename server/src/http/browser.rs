//! What a web page must not be able to do through the agent's HTTP API,
//! ACLs on or off. A page on another site can send requests to
//! 127.0.0.1:8500 (no CORS preflight for "simple" requests), and a page
//! whose DNS name is rebound to 127.0.0.1 reads answers as same-origin. So:
//!
//! - on a listener bound to a loopback address, a `Host` that is not
//!   `localhost` or a loopback address (or the listener's own) is refused:
//!   a rebound name arrives with the attacker's name in `Host`;
//! - a request that changes state (PUT, POST, DELETE, PATCH) with an
//!   `Origin` other than the API's own (`Host`) is refused;
//! - a state-changing request from a browser (it sends `Origin` or
//!   `Sec-Fetch-*`) whose body is a CORS-simple type (`text/plain`, a form)
//!   is refused: JSON endpoints never take those from a page, and a page
//!   can send them cross-site without asking.
//!
//! Clients that are not browsers (curl, Consul's API clients, the CLI)
//! send none of these headers and are not affected.

use std::net::IpAddr;
use std::net::SocketAddr;

use axum::extract::Request;
use axum::extract::State;
use axum::http::header;
use axum::http::HeaderMap;
use axum::http::Method;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use axum::Router;

#[derive(Clone, Debug)]
pub struct Guard {
    /// The listener is on a loopback address: only loopback names in `Host`.
    loopback: bool,
    own_ip: IpAddr,
}

impl Guard {
    pub fn for_listener(addr: SocketAddr) -> Guard {
        Guard { loopback: addr.ip().is_loopback(), own_ip: addr.ip() }
    }

    /// Why the request is refused, if it is.
    pub fn check(&self, method: &Method, headers: &HeaderMap) -> Result<(), String> {
        let host = header_text(headers, header::HOST);
        if self.loopback {
            self.check_host(host.unwrap_or_default())?;
        }
        if !changes_state(method) {
            return Ok(());
        }
        if let Some(origin) = header_text(headers, header::ORIGIN) {
            check_origin(origin, host.unwrap_or_default())?;
        }
        let from_browser = headers.contains_key(header::ORIGIN) || headers.contains_key("sec-fetch-mode");
        if let Some(kind) = header_text(headers, header::CONTENT_TYPE).filter(|kind| from_browser && is_simple(kind)) {
            return Err(format!(
                "a browser's {kind} body may not change state: send JSON from an API client (cross-site form protection)"
            ));
        }
        Ok(())
    }

    fn check_host(&self, host: &str) -> Result<(), String> {
        let name = host_name(host).to_ascii_lowercase();
        let ip = name.trim_matches(['[', ']']).parse::<IpAddr>().ok();
        let allowed = name == "localhost"
            || name.ends_with(".localhost")
            || ip.is_some_and(|ip| ip.is_loopback() || ip == self.own_ip);
        match allowed {
            true => Ok(()),
            false => Err(format!(
                "Host {host:?} is not this agent's address: on a loopback address the API answers only \
                 localhost and loopback addresses (DNS rebinding protection)"
            )),
        }
    }
}

fn header_text(headers: &HeaderMap, name: impl axum::http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn changes_state(method: &Method) -> bool {
    matches!(*method, Method::PUT | Method::POST | Method::DELETE | Method::PATCH)
}

/// `host[:port]` without the port (IPv6 literals keep their brackets).
fn host_name(host: &str) -> &str {
    match host.rfind(':') {
        Some(i) if !host[i..].contains(']') && host[..i].matches(':').count() == 0 => &host[..i],
        Some(i) if host.starts_with('[') && host[..i].ends_with(']') => &host[..i],
        _ => host,
    }
}

/// The page's origin must be the API's own: the same host and port.
fn check_origin(origin: &str, host: &str) -> Result<(), String> {
    let authority = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
    match authority {
        Some(authority) if !host.is_empty() && authority.eq_ignore_ascii_case(host) => Ok(()),
        _ => Err(format!("a request from another origin ({origin}) may not change state")),
    }
}

/// The body types a page may send cross-site without a CORS preflight.
fn is_simple(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    matches!(essence.as_str(), "text/plain" | "application/x-www-form-urlencoded" | "multipart/form-data")
}

async fn guard(State(guard): State<Guard>, request: Request, next: Next) -> Response {
    match guard.check(request.method(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => (StatusCode::FORBIDDEN, format!("Forbidden: {reason}")).into_response(),
    }
}

/// `router` behind the guard for the listener at `addr`.
pub fn guarded(router: Router, addr: SocketAddr) -> Router {
    router.layer(axum::middleware::from_fn_with_state(Guard::for_listener(addr), guard))
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    fn loopback() -> Guard {
        Guard::for_listener("127.0.0.1:8500".parse().unwrap())
    }

    #[test]
    fn rebound_names_are_refused_on_loopback_listeners_only() {
        let g = loopback();
        for host in ["127.0.0.1:8500", "localhost:8500", "LOCALHOST", "[::1]:8500", "127.0.40.11:8500", "app.localhost"]
        {
            assert!(g.check(&Method::GET, &headers(&[("host", host)])).is_ok(), "{host}");
        }
        let refused = g.check(&Method::GET, &headers(&[("host", "evil.example:8500")])).unwrap_err();
        assert!(refused.contains("DNS rebinding"), "{refused}");
        assert!(g.check(&Method::GET, &headers(&[])).is_err(), "no Host at all");
        let public = Guard::for_listener("10.0.0.5:8500".parse().unwrap());
        assert!(public.check(&Method::GET, &headers(&[("host", "consul.internal:8500")])).is_ok());
    }

    #[test]
    fn cross_origin_writes_are_refused_and_same_origin_ones_pass() {
        let g = loopback();
        let cross = headers(&[("host", "127.0.0.1:8500"), ("origin", "http://evil.example")]);
        assert!(g.check(&Method::POST, &cross).unwrap_err().contains("another origin"));
        assert!(g.check(&Method::GET, &cross).is_ok(), "reads carry no Origin risk here");
        let same = headers(&[("host", "127.0.0.1:8500"), ("origin", "http://127.0.0.1:8500")]);
        assert!(g.check(&Method::PUT, &same).is_ok());
        let null = headers(&[("host", "127.0.0.1:8500"), ("origin", "null")]);
        assert!(g.check(&Method::DELETE, &null).is_err());
    }

    #[test]
    fn simple_bodies_from_browsers_may_not_change_state() {
        let g = loopback();
        let form = headers(&[
            ("host", "127.0.0.1:8500"),
            ("sec-fetch-mode", "no-cors"),
            ("content-type", "text/plain;charset=UTF-8"),
        ]);
        assert!(g.check(&Method::POST, &form).unwrap_err().contains("text/plain"));
        let curl = headers(&[("host", "127.0.0.1:8500"), ("content-type", "application/x-www-form-urlencoded")]);
        assert!(g.check(&Method::PUT, &curl).is_ok(), "curl -d sends no browser headers");
        let json =
            headers(&[("host", "127.0.0.1:8500"), ("sec-fetch-mode", "cors"), ("content-type", "application/json")]);
        assert!(g.check(&Method::PUT, &json).is_ok());
    }

    #[test]
    fn host_names_lose_their_port() {
        assert_eq!(host_name("127.0.0.1:8500"), "127.0.0.1");
        assert_eq!(host_name("[::1]:8500"), "[::1]");
        assert_eq!(host_name("[::1]"), "[::1]");
        assert_eq!(host_name("localhost"), "localhost");
    }
}
