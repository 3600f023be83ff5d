//! gRPC requests on the server port and the agent's gRPC port, by method
//! and outcome: a tower layer on the tonic servers. Latency is to the
//! response's headers (for a stream, until it opens).

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;
use std::task::Poll;

use axum::http::HeaderMap;
use axum::http::Request;
use axum::http::Response;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::time::Instant;

use crate::metrics::millis_since;
use crate::metrics::timer;
use crate::metrics::Builder;
use crate::metrics::Labels;

#[derive(Debug)]
pub struct RpcMetrics {
    /// `consul.rpc.request`: method, errored, code, listener.
    requests: Family<Labels<4>, Counter>,
    /// `consul.rpc.server.call`: method, errored, listener.
    calls: Family<Labels<3>, Histogram, fn() -> Histogram>,
}

/// How one call ended.
struct Outcome {
    /// tonic's name of the gRPC status code (`Ok`, `NotFound`, ...).
    code: &'static str,
    errored: bool,
}

impl RpcMetrics {
    pub(crate) fn register(b: &mut Builder<'_>) -> RpcMetrics {
        let m = RpcMetrics { requests: Family::default(), calls: Family::new_with_constructor(timer) };
        let help = "gRPC requests served, by method, outcome and listener (server, agent)";
        b.register("consul.rpc.request", help, m.requests.clone());
        let help = "Milliseconds to answer a gRPC request (to its headers; a stream until it opens)";
        b.register("consul.rpc.server.call", help, m.calls.clone());
        m
    }

    fn record(&self, listener: &'static str, path: &str, outcome: Outcome, start: Instant) {
        let method: Cow<'static, str> = Cow::Owned(method_label(path, outcome.code));
        let errored = Cow::Borrowed(if outcome.errored { "true" } else { "false" });
        let listener = Cow::Borrowed(listener);
        let calls = [("method", method.clone()), ("errored", errored.clone()), ("listener", listener.clone())];
        self.calls.get_or_create(&calls).observe(millis_since(start));
        let requests =
            [("method", method), ("errored", errored), ("code", Cow::Borrowed(outcome.code)), ("listener", listener)];
        self.requests.get_or_create(&requests).inc();
    }
}

/// `/tessera.v1.Cluster/Apply` as Consul names methods: `Cluster.Apply`.
/// Paths no service answers (tonic says Unimplemented) are `unknown`, so a
/// client cannot grow the label set at will.
fn method_label(path: &str, code: &str) -> String {
    let Some((service, method)) = path.trim_start_matches('/').split_once('/') else {
        return "unknown".into();
    };
    if code == "Unimplemented" || method.is_empty() || method.contains('/') {
        return "unknown".into();
    }
    let service = service.rsplit('.').next().unwrap_or(service);
    format!("{service}.{method}")
}

/// An error status travels in the headers when the handler failed before
/// answering (tonic's trailers-only response); otherwise the call is taken
/// as OK here (a stream may still end with an error in its trailers).
fn outcome_of(headers: &HeaderMap) -> Outcome {
    let code = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Ok, tonic::Code::from_i32);
    Outcome { code: code_name(code), errored: code != tonic::Code::Ok }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "Ok",
        Cancelled => "Cancelled",
        Unknown => "Unknown",
        InvalidArgument => "InvalidArgument",
        DeadlineExceeded => "DeadlineExceeded",
        NotFound => "NotFound",
        AlreadyExists => "AlreadyExists",
        PermissionDenied => "PermissionDenied",
        ResourceExhausted => "ResourceExhausted",
        FailedPrecondition => "FailedPrecondition",
        Aborted => "Aborted",
        OutOfRange => "OutOfRange",
        Unimplemented => "Unimplemented",
        Internal => "Internal",
        Unavailable => "Unavailable",
        DataLoss => "DataLoss",
        Unauthenticated => "Unauthenticated",
    }
}

/// The layer for one listener's tonic server (`server` or `agent`).
#[derive(Clone)]
pub struct RpcLayer {
    metrics: Arc<RpcMetrics>,
    listener: &'static str,
}

impl RpcLayer {
    pub fn new(metrics: Arc<RpcMetrics>, listener: &'static str) -> RpcLayer {
        RpcLayer { metrics, listener }
    }
}

impl<S> tower::Layer<S> for RpcLayer {
    type Service = RpcService<S>;

    fn layer(&self, inner: S) -> RpcService<S> {
        RpcService { inner, layer: self.clone() }
    }
}

#[derive(Clone)]
pub struct RpcService<S> {
    inner: S,
    layer: RpcLayer,
}

impl<S, B, R> tower::Service<Request<B>> for RpcService<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<R>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = Instant::now();
        let path = request.uri().path().to_string();
        let layer = self.layer.clone();
        let answer = self.inner.call(request);
        Box::pin(async move {
            let result = answer.await;
            let outcome = match &result {
                Ok(response) => outcome_of(response.headers()),
                Err(_) => Outcome { code: "Unknown", errored: true },
            };
            layer.metrics.record(layer.listener, &path, outcome, start);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_as_consul_names_them_and_unknown_paths_collapse() {
        assert_eq!(method_label("/tessera.v1.Cluster/Apply", "Ok"), "Cluster.Apply");
        assert_eq!(method_label("/tessera.v1.AgentApi/WatchConnect", "Unavailable"), "AgentApi.WatchConnect");
        assert_eq!(method_label("/tessera.v1.Cluster/Nope", "Unimplemented"), "unknown");
        assert_eq!(method_label("/junk", "Ok"), "unknown");
    }

    #[test]
    fn an_error_in_the_headers_is_the_outcome_and_none_is_ok() {
        let mut headers = HeaderMap::new();
        assert_eq!(outcome_of(&headers).code, "Ok");
        headers.insert("grpc-status", "5".parse().unwrap());
        let outcome = outcome_of(&headers);
        assert_eq!((outcome.code, outcome.errored), ("NotFound", true));
    }
}
