//! `GET /v1/agent/monitor?loglevel=<level>[&logjson]`: this agent's log
//! lines from now on, one per line, until the client goes away or the agent
//! stops. A reader that falls behind is told how many lines it missed.

use std::sync::Arc;

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::response::Response;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use crate::agent::Agent;
use crate::http::authz::Authz;
use crate::http::query::QueryParams;
use crate::http::ApiError;
use crate::monitor;
use crate::monitor::Subscription;
use tessera_mesh::acl::Access;
use tessera_mesh::acl::Resource;

pub async fn monitor(State(agent): State<Arc<Agent>>, params: QueryParams, authz: Authz) -> Result<Response, ApiError> {
    authz.require(Resource::Agent, &agent.node().name, Access::Read)?;
    let name = params.get("loglevel").map_or("INFO", String::as_str);
    let level =
        monitor::parse_level(name).ok_or_else(|| ApiError::bad_request(format!("Unknown log level: {name}")))?;
    // Consul turns JSON on by the parameter's presence, whatever its value.
    let json = params.contains_key("logjson");
    let subscription = monitor::hub().subscribe(level);
    let lines = stream(subscription, json, agent.shutdown().clone());
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], Body::from_stream(lines)).into_response())
}

fn stream(
    subscription: Subscription,
    json: bool,
    stop: CancellationToken,
) -> impl Stream<Item = Result<Bytes, std::convert::Infallible>> {
    futures::stream::unfold((subscription, stop), move |(mut subscription, stop)| async move {
        let line = next_line(&mut subscription, json, &stop).await?;
        Some((Ok(line), (subscription, stop)))
    })
}

/// The next line for this request; None when the agent stops.
async fn next_line(subscription: &mut Subscription, json: bool, stop: &CancellationToken) -> Option<Bytes> {
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => return None,
            received = subscription.lines.recv() => received,
        };
        match received {
            Ok(line) if line.level <= subscription.level => {
                let text = if json { &line.json } else { &line.plain };
                return Some(Bytes::from(format!("{text}\n")));
            }
            Ok(_) => continue,
            Err(RecvError::Lagged(missed)) => {
                return Some(Bytes::from(format!("Monitor dropped {missed} logs during monitor request\n")))
            }
            Err(RecvError::Closed) => return None,
        }
    }
}
