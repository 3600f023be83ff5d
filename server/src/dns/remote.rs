//! A client agent's DNS: answered by a server over gRPC.

use std::sync::Arc;
use std::time::Duration;

use crate::acl::tokens::LocalTokens;
use crate::client_agent::pool::ServerPool;
use crate::dns::Answerer;

/// DNS through a server, with answers kept for [`DNS_CACHE_FOR`]: DNS reads
/// are stale reads anyway (as in Consul), and a busy resolver asking the
/// same names should not cost one server round trip per query.
pub struct RemoteDns {
    servers: Arc<ServerPool>,
    /// Its `dns` (else `default`) token: the server answers as its holder.
    tokens: LocalTokens,
    /// Query bytes to when the answer came and the answer.
    cache: std::sync::Mutex<std::collections::HashMap<Vec<u8>, CachedAnswer>>,
}

type CachedAnswer = (tokio::time::Instant, Vec<u8>);

const DNS_CACHE_FOR: Duration = Duration::from_millis(250);
const DNS_CACHE_ENTRIES: usize = 10_000;

impl RemoteDns {
    pub fn new(servers: Arc<ServerPool>, tokens: LocalTokens) -> Self {
        RemoteDns { servers, tokens, cache: Default::default() }
    }

    /// The question part of a query: everything but its 2-byte id.
    fn key(query: &[u8]) -> Option<Vec<u8>> {
        (query.len() > 2).then(|| query[2..].to_vec())
    }
}

impl Answerer for RemoteDns {
    fn answer(&self, query: Vec<u8>) -> futures::future::BoxFuture<'_, Option<Vec<u8>>> {
        Box::pin(async move {
            let key = Self::key(&query)?;
            let cached = self.cache.lock().expect("dns cache lock").get(&key).cloned();
            if let Some((_, mut answer)) = cached.filter(|(at, _)| at.elapsed() < DNS_CACHE_FOR) {
                answer[..2].copy_from_slice(&query[..2]);
                return Some(answer);
            }
            let answer = self.servers.dns(query, Some(&self.tokens.forwarded(self.tokens.dns_token()))).await?;
            let mut cache = self.cache.lock().expect("dns cache lock");
            if cache.len() >= DNS_CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, (tokio::time::Instant::now(), answer.clone()));
            Some(answer)
        })
    }
}
