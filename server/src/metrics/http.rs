//! HTTP API requests by method, route and status class: a middleware on
//! both routers (`axum::middleware::from_fn_with_state`). The route is the
//! pattern that matched (`/v1/kv/{*key}`), never the raw path, so keys and
//! names cannot grow the label set; what no route matched (a client agent's
//! forwarded calls, 404s) is `other`.

use std::borrow::Cow;
use std::sync::Arc;

use axum::extract::MatchedPath;
use axum::extract::Request;
use axum::extract::State;
use axum::http::Method;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

use crate::metrics::millis_since;
use crate::metrics::timer;
use crate::metrics::Builder;
use crate::metrics::Labels;

#[derive(Debug)]
pub struct HttpMetrics {
    /// `consul.api.http`: method, path, status; its `_count` counts requests.
    requests: Family<Labels<3>, Histogram, fn() -> Histogram>,
}

impl HttpMetrics {
    pub(crate) fn register(b: &mut Builder<'_>) -> HttpMetrics {
        let m = HttpMetrics { requests: Family::new_with_constructor(timer) };
        let help = "Milliseconds to answer an HTTP API request, by method, route pattern and status class";
        b.register("consul.api.http", help, m.requests.clone());
        m
    }

    fn observe(&self, method: &Method, route: Option<&MatchedPath>, status: StatusCode, start: Instant) {
        let route = route.map_or(Cow::Borrowed("other"), |r| Cow::Owned(r.as_str().to_string()));
        let labels = [("method", method_label(method)), ("path", route), ("status", status_class(status))];
        self.requests.get_or_create(&labels).observe(millis_since(start));
    }
}

/// The standard methods by name; any other is `OTHER` (bounded labels).
fn method_label(method: &Method) -> Cow<'static, str> {
    Cow::Borrowed(match method.as_str() {
        "GET" => "GET",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        "PATCH" => "PATCH",
        _ => "OTHER",
    })
}

fn status_class(status: StatusCode) -> Cow<'static, str> {
    Cow::Borrowed(match status.as_u16() / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    })
}

/// The middleware: times the request through everything inside it.
pub async fn record_http(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.observe(&method, route.as_ref(), response.status(), start);
    response
}
