//! A server's resolver: tokens read from its own store, compiled once and
//! kept until the ACL table changes, so a check is a map lookup and a
//! trie walk, not a read and a parse.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;

use futures::future::BoxFuture;
use tessera_mesh::acl::DefaultPolicy;
use tessera_store::Store;
use tessera_store::Table;
use time::OffsetDateTime;

use crate::acl::caller::AclError;
use crate::acl::caller::Caller;
use crate::acl::resolve;
use crate::acl::resolver::caller_of;
use crate::acl::resolver::LocalTokens;
use crate::acl::resolver::TokenResolver;
use crate::consensus::Server;
use crate::consensus::ServerError;

/// Beyond this many cached secrets the cache starts over: unknown secrets
/// are cached too, and a caller inventing them must not grow it without end.
const MAX_CACHED: usize = 4096;

pub struct StoreResolver {
    store: Arc<Store>,
    tokens: LocalTokens,
    cache: Mutex<Cache>,
    /// The server whose store this is, which [`TokenResolver::catch_up`]
    /// brings up to date (None: a store of its own, as in unit tests).
    server: Option<Arc<Server>>,
}

#[derive(Default)]
struct Cache {
    /// The ACL table's index the entries were resolved at.
    acl_index: u64,
    by_secret: HashMap<String, Result<Arc<Caller>, AclError>>,
}

impl StoreResolver {
    pub fn new(store: Arc<Store>, tokens: LocalTokens) -> StoreResolver {
        StoreResolver { store, tokens, cache: Mutex::new(Cache::default()), server: None }
    }

    /// The resolver of `server`, over its store.
    pub fn of_server(server: Arc<Server>, tokens: LocalTokens) -> StoreResolver {
        StoreResolver { server: Some(server.clone()), ..StoreResolver::new(server.store.clone(), tokens) }
    }

    fn cached(&self, secret: &str, acl_index: u64) -> Option<Result<Arc<Caller>, AclError>> {
        let mut cache = self.cache.lock().expect("acl cache lock");
        if cache.acl_index != acl_index {
            cache.by_secret.clear();
            cache.acl_index = acl_index;
        }
        let hit = cache.by_secret.get(secret)?.clone();
        match &hit {
            Ok(caller) if caller.expired(OffsetDateTime::now_utc()) => {
                cache.by_secret.remove(secret);
                None
            }
            _ => Some(hit),
        }
    }

    fn remember(&self, secret: &str, acl_index: u64, resolved: &Result<Arc<Caller>, AclError>) {
        if matches!(resolved, Err(AclError::Failed(_))) {
            return;
        }
        let mut cache = self.cache.lock().expect("acl cache lock");
        if cache.acl_index != acl_index {
            return;
        }
        if cache.by_secret.len() >= MAX_CACHED {
            cache.by_secret.clear();
        }
        cache.by_secret.insert(secret.to_string(), resolved.clone());
    }

    /// Reads and compiles the token, uncached.
    fn read(&self, secret: &str, implicit: bool) -> Result<Arc<Caller>, AclError> {
        let view = self.store.view();
        let failed = |e: tessera_store::StoreError| AclError::Failed(e.to_string());
        let token = resolve::token_for_secret(&view, secret).map_err(failed)?;
        let caller = match token {
            Some(token) => caller_of(&view, &token, &self.tokens)?,
            None if implicit && view.acl_meta().map_err(failed)?.hash_key.is_empty() => {
                return Ok(Arc::new(self.tokens.unbootstrapped_anonymous()));
            }
            None => return Err(AclError::NotFound),
        };
        Ok(Arc::new(if implicit { caller.implicit() } else { caller }))
    }

    pub fn local_tokens(&self) -> &LocalTokens {
        &self.tokens
    }

    pub fn resolve_now(&self, secret: Option<&str>) -> Result<Arc<Caller>, AclError> {
        if !self.tokens.enabled {
            return Ok(Caller::manage_all());
        }
        let (secret, implicit) = self.tokens.effective(secret);
        let secret = secret.as_str();
        if let Some(recovery) = self.tokens.recovery(secret) {
            return Ok(Arc::new(recovery));
        }
        // Read before the lookup: an entry resolved at an older index is
        // then dropped, never served after the change it missed.
        let acl_index = self.store.table_index(Table::Acl);
        if let Some(hit) = self.cached(secret, acl_index) {
            return hit;
        }
        let resolved = self.read(secret, implicit);
        self.remember(secret, acl_index, &resolved);
        resolved
    }
}

impl TokenResolver for StoreResolver {
    fn resolve<'a>(&'a self, secret: Option<&'a str>) -> BoxFuture<'a, Result<Arc<Caller>, AclError>> {
        Box::pin(std::future::ready(self.resolve_now(secret)))
    }

    fn default_policy(&self) -> DefaultPolicy {
        self.tokens.default_policy
    }

    fn tokens(&self) -> Option<&LocalTokens> {
        self.tokens.enabled.then_some(&self.tokens)
    }

    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        self.tokens.enabled.then(|| self.store.subscribe(Table::Acl))
    }

    fn catch_up(&self) -> BoxFuture<'_, Result<(), ServerError>> {
        Box::pin(async move {
            match &self.server {
                Some(server) => server.catch_up().await,
                None => Ok(()),
            }
        })
    }
}
