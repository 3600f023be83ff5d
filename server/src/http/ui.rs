//! `GET /` and `/ui/`: Consul redirects its root to the UI, and HTTP checks
//! pointed at an agent's address expect a 2xx or 3xx. Until Tessera has a
//! UI, `/ui/` is a small page saying where the API is.

use axum::response::Html;
use axum::response::IntoResponse;
use axum::response::Redirect;
use axum::response::Response;

pub async fn root() -> Response {
    Redirect::to("/ui/").into_response()
}

pub async fn page() -> Html<&'static str> {
    Html(concat!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tessera</title></head><body>",
        "<h1>Tessera</h1><p>This agent serves Consul's HTTP API under <a href=\"/v1/agent/self\">/v1/</a>. ",
        "There is no web UI yet.</p></body></html>"
    ))
}
