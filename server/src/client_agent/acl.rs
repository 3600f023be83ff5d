//! A client agent's resolver: tokens resolved by a server
//! (`AgentApi.ResolveToken`), compiled here and kept for `acl.token_ttl`.
//! Servers push every ACL change on the WatchConnect stream: every cached
//! answer is then superseded and resolved again before its next use
//! ([`RemoteResolver::acl_changed`]), so a deleted token stops working
//! within the push, not the TTL. When no server answers, `acl.down_policy`
//! decides.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use std::time::Instant;

use futures::future::BoxFuture;
use tessera_mesh::acl::Authorizer;
use tessera_mesh::acl::DefaultPolicy;
use tessera_proto::v1::ResolveTokenResponse;
use time::OffsetDateTime;

use crate::acl::caller::AclError;
use crate::acl::caller::Caller;
use crate::acl::resolve;
use crate::acl::resolver::compile;
use crate::acl::resolver::LocalTokens;
use crate::acl::resolver::TokenResolver;
use crate::client_agent::pool::ServerPool;

/// As the server's cache: unknown secrets are cached too, so bound it.
const MAX_CACHED: usize = 4096;

/// Resolutions in flight at once when a push supersedes the cache.
const REFRESH_CONCURRENCY: usize = 8;

/// Consul's `acl.down_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownPolicy {
    Allow,
    Deny,
    /// Keep serving what was resolved, past its TTL; deny the rest.
    ExtendCache,
    /// The same, but a stale entry is served at once and refreshed behind.
    AsyncCache,
}

impl DownPolicy {
    /// The config was validated: anything unknown is the default.
    pub fn from_config(text: &str) -> DownPolicy {
        match text {
            "allow" => DownPolicy::Allow,
            "deny" => DownPolicy::Deny,
            "async-cache" => DownPolicy::AsyncCache,
            _ => DownPolicy::ExtendCache,
        }
    }
}

type Resolved = Result<Arc<Caller>, AclError>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freshness {
    /// Within `token_ttl` and no ACL change pushed since.
    Fresh,
    /// Older than `token_ttl`.
    PastTtl,
    /// An ACL change was pushed since it was fetched.
    Superseded,
}

struct Entry {
    resolved: Resolved,
    fetched: Instant,
    implicit: bool,
    /// An ACL change was pushed after this was fetched: it is never served
    /// while a server answers, only as `down_policy`'s cached entry.
    superseded: bool,
}

#[derive(Default)]
struct Cache {
    /// The ACL index the servers last pushed.
    acl_index: u64,
    by_secret: HashMap<String, Entry>,
}

pub struct RemoteResolver {
    servers: Arc<ServerPool>,
    tokens: LocalTokens,
    ttl: Duration,
    down: DownPolicy,
    cache: Arc<Mutex<Cache>>,
    /// Bumped with every pushed change, for [`TokenResolver::changes`].
    changed: tokio::sync::watch::Sender<u64>,
}

impl RemoteResolver {
    pub fn new(servers: Arc<ServerPool>, tokens: LocalTokens, ttl: Duration, down: DownPolicy) -> RemoteResolver {
        RemoteResolver {
            servers,
            tokens,
            ttl,
            down,
            cache: Arc::default(),
            changed: tokio::sync::watch::Sender::new(0),
        }
    }

    /// The ACL index the cache follows, for the WatchConnect request.
    pub fn acl_index(&self) -> u64 {
        self.cache.lock().expect("acl cache lock").acl_index
    }

    /// The servers pushed a change: nothing resolved before is served
    /// again while a server answers. Refusals go (a token made since may
    /// have an unknown secret); resolved tokens are kept, superseded, and
    /// resolved again at once, so that with the servers cut off right after
    /// an ACL write, `extend-cache` still has the tokens in use (Consul's
    /// agents, which get no push, keep them too).
    pub fn acl_changed(&self, acl_index: u64) {
        let superseded = {
            let mut cache = self.cache.lock().expect("acl cache lock");
            if cache.acl_index == acl_index {
                return;
            }
            cache.acl_index = acl_index;
            cache.by_secret.retain(|_, entry| entry.resolved.is_ok());
            let superseded = cache.by_secret.iter_mut().map(|(secret, entry)| {
                entry.superseded = true;
                (secret.clone(), entry.implicit)
            });
            superseded.collect::<Vec<_>>()
        };
        self.changed.send_replace(acl_index);
        if !superseded.is_empty() {
            tokio::spawn(refresh(self.servers.clone(), self.cache.clone(), self.tokens.clone(), acl_index, superseded));
        }
    }

    /// A cached answer and how far it may be trusted.
    fn cached(&self, secret: &str) -> Option<(Resolved, Freshness)> {
        let cache = self.cache.lock().expect("acl cache lock");
        let entry = cache.by_secret.get(secret)?;
        if matches!(&entry.resolved, Ok(caller) if caller.expired(OffsetDateTime::now_utc())) {
            return None;
        }
        let freshness = match (entry.superseded, entry.fetched.elapsed() < self.ttl) {
            (true, _) => Freshness::Superseded,
            (false, true) => Freshness::Fresh,
            (false, false) => Freshness::PastTtl,
        };
        Some((entry.resolved.clone(), freshness))
    }

    async fn resolve_effective(&self, secret: &str, implicit: bool) -> Resolved {
        if let Some(recovery) = self.tokens.recovery(secret) {
            return Ok(Arc::new(recovery));
        }
        let cached = self.cached(secret);
        if let Some((resolved, Freshness::Fresh)) = &cached {
            return resolved.clone();
        }
        // Only an entry past its TTL: a superseded one may be of a token
        // deleted since, so it waits for a server like an unknown one.
        if let (Some((stale, Freshness::PastTtl)), DownPolicy::AsyncCache) = (&cached, self.down) {
            self.refresh_behind(secret, implicit);
            return stale.clone();
        }
        match fetch(&self.servers, &self.cache, secret, implicit, &self.tokens).await {
            Some(resolved) => resolved,
            None => self.servers_down(cached.map(|(resolved, _)| resolved)),
        }
    }

    fn refresh_behind(&self, secret: &str, implicit: bool) {
        let (servers, cache, tokens, secret) =
            (self.servers.clone(), self.cache.clone(), self.tokens.clone(), secret.to_string());
        tokio::spawn(async move { fetch(&servers, &cache, &secret, implicit, &tokens).await });
    }

    /// No server answered: `down_policy`.
    fn servers_down(&self, stale: Option<Resolved>) -> Resolved {
        tracing::warn!(policy = ?self.down, "no server answered a token resolution; following acl.down_policy");
        let all = |policy| Ok(Arc::new(Caller::new("", Authorizer::default_only(policy), None)));
        match (self.down, stale) {
            (DownPolicy::Allow, _) => all(DefaultPolicy::Allow),
            (DownPolicy::Deny, _) => all(DefaultPolicy::Deny),
            (_, Some(stale)) => stale,
            (_, None) => {
                tracing::debug!(cached = false, "an uncached token is denied while servers are away");
                all(DefaultPolicy::Deny)
            }
        }
    }
}

/// Resolves again what a push superseded, until a newer push takes over.
async fn refresh(
    servers: Arc<ServerPool>,
    cache: Arc<Mutex<Cache>>,
    tokens: LocalTokens,
    acl_index: u64,
    superseded: Vec<(String, bool)>,
) {
    use futures::StreamExt;
    let current = || cache.lock().expect("acl cache lock").acl_index == acl_index;
    futures::stream::iter(superseded)
        .take_while(|_| std::future::ready(current()))
        .for_each_concurrent(REFRESH_CONCURRENCY, |(secret, implicit)| {
            let (servers, cache, tokens) = (&servers, &cache, &tokens);
            async move {
                fetch(servers, cache, &secret, implicit, tokens).await;
            }
        })
        .await;
}

/// Asks a server; caches and returns the answer, or None when no server
/// answered (the caller applies `down_policy`).
async fn fetch(
    servers: &ServerPool,
    cache: &Mutex<Cache>,
    secret: &str,
    implicit: bool,
    tokens: &LocalTokens,
) -> Option<Resolved> {
    let index_before = cache.lock().expect("acl cache lock").acl_index;
    let resolved = match servers.resolve_token(secret).await {
        Ok(answer) => caller_of(answer, tokens, implicit),
        Err(status) if status.code() == tonic::Code::NotFound => Err(AclError::NotFound),
        // Unreachable, timed out or failing: Consul's down_policy covers
        // every failed resolution, not only refused connections.
        Err(status) => {
            tracing::debug!(code = ?status.code(), error = %status.message(), "token resolution failed");
            return None;
        }
    };
    let mut cache = cache.lock().expect("acl cache lock");
    // A change pushed while asking may have made this answer old.
    if cache.acl_index == index_before && !matches!(resolved, Err(AclError::Failed(_))) {
        if cache.by_secret.len() >= MAX_CACHED {
            cache.by_secret.clear();
        }
        let entry = Entry { resolved: resolved.clone(), fetched: Instant::now(), implicit, superseded: false };
        cache.by_secret.insert(secret.to_string(), entry);
    }
    Some(resolved)
}

fn caller_of(answer: ResolveTokenResponse, tokens: &LocalTokens, implicit: bool) -> Resolved {
    let authorizer = compile(&answer.rules, tokens.default_policy)?;
    let expires_at = Some(answer.expiration_time).filter(|t| !t.is_empty()).as_deref().and_then(resolve::parse_time);
    let caller = Caller::new(answer.accessor_id, authorizer, expires_at);
    Ok(Arc::new(if implicit { caller.implicit() } else { caller }))
}

impl TokenResolver for RemoteResolver {
    fn resolve<'a>(&'a self, secret: Option<&'a str>) -> BoxFuture<'a, Resolved> {
        Box::pin(async move {
            if !self.tokens.enabled {
                return Ok(Caller::manage_all());
            }
            let (secret, implicit) = self.tokens.effective(secret);
            self.resolve_effective(&secret, implicit).await
        })
    }

    fn default_policy(&self) -> DefaultPolicy {
        self.tokens.default_policy
    }

    fn tokens(&self) -> Option<&LocalTokens> {
        self.tokens.enabled.then_some(&self.tokens)
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.tokens.enabled.then(|| self.changed.subscribe())
    }
}
