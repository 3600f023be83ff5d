//! Identical blocking queries share one call to the servers. A thousand
//! watchers of one service's health, all at the same index, become one
//! forwarded request whose answer each of them gets.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use futures::future::BoxFuture;
use futures::future::FutureExt;
use futures::future::Shared;
use tessera_proto::v1::HttpResponse;

use crate::client_agent::pool::ServerPool;

type Answer = Result<Arc<HttpResponse>, String>;

#[derive(Default)]
pub struct Coalescer {
    /// By token and path: an answer is filtered by its token's ACLs, so
    /// only calls with the same token share one.
    in_flight: Mutex<HashMap<(String, String), InFlight>>,
}

type InFlight = Shared<BoxFuture<'static, Answer>>;

/// Only blocking reads are shared: they are the ones many callers repeat.
pub fn shareable(method: &str, path_and_query: &str) -> bool {
    method == "GET" && path_and_query.contains("index=")
}

impl Coalescer {
    pub async fn get(&self, servers: Arc<ServerPool>, path_and_query: String, token: Option<String>) -> Answer {
        let key = (token.clone().unwrap_or_default(), path_and_query);
        let shared = {
            let mut in_flight = self.in_flight.lock().expect("coalescer lock");
            in_flight
                .entry(key.clone())
                .or_insert_with(|| {
                    let path = key.1.clone();
                    async move {
                        servers
                            .forward("GET", &path, Vec::new(), token.as_deref())
                            .await
                            .map(Arc::new)
                            .map_err(|s| s.message().to_string())
                    }
                    .boxed()
                    .shared()
                })
                .clone()
        };
        let answer = shared.clone().await;
        // Only this call's entry: a newer one for the same path may be in
        // flight already, and others should still join it.
        let mut in_flight = self.in_flight.lock().expect("coalescer lock");
        if in_flight.get(&key).is_some_and(|f| f.ptr_eq(&shared)) {
            in_flight.remove(&key);
        }
        answer
    }
}
