//! From a request's secret to its [`Caller`]: the trait both kinds of
//! agent implement (a server reads its own store, [`super::local`]; a
//! client agent asks a server and caches, `client_agent::acl`), and what
//! they share: which rules a token carries, compiled into one authorizer.

use std::sync::Arc;

use futures::future::BoxFuture;
use tessera_mesh::acl::identity::valid_in;
use tessera_mesh::acl::Authorizer;
use tessera_mesh::acl::DefaultPolicy;
use tessera_mesh::acl::NodeIdentity;
use tessera_mesh::acl::ServiceIdentity;
use tessera_mesh::acl::ANONYMOUS_TOKEN_ID;
use tessera_store::acl::AclToken;
use tessera_store::acl::NodeIdentityRow;
use tessera_store::acl::ServiceIdentityRow;
use tessera_store::StoreError;
use tessera_store::View;

use crate::acl::caller::AclError;
use crate::acl::caller::Caller;
use crate::acl::resolve;
use crate::config::AclConfig;
use crate::consensus::ServerError;

pub use crate::acl::tokens::LocalTokens;
pub use crate::acl::tokens::ANONYMOUS_SECRET;

pub trait TokenResolver: Send + Sync + 'static {
    /// The caller presenting `secret`; `None` when the request carried
    /// none (the agent's default token, then anonymous, stand in).
    fn resolve<'a>(&'a self, secret: Option<&'a str>) -> BoxFuture<'a, Result<Arc<Caller>, AclError>>;

    /// `acl.default_policy`, for `X-Consul-Default-ACL-Policy`.
    fn default_policy(&self) -> DefaultPolicy;

    /// The agent's own tokens; None with ACLs disabled.
    fn tokens(&self) -> Option<&LocalTokens> {
        None
    }

    /// Changes with every change of tokens, policies or roles this agent
    /// learns of (None: never, ACLs off): long-lived callers (a proxy's
    /// stream) check their token again on it.
    fn changes(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// False when ACLs are off (no tokens of its own): every caller may do
    /// everything, and the edge may skip resolving.
    fn enforcing(&self) -> bool {
        self.tokens().is_some()
    }

    /// Brings what this agent resolves from up to every ACL change the
    /// cluster acknowledged before the call; `resolve` after it sees a
    /// deleted token as deleted. The HTTP edge calls it before checking a
    /// call on the replicated state (`http::authz`); gRPC callers resolve
    /// as of what this server has applied (a proxy's stream is checked
    /// again when the deletion applies). A client agent has nothing to do:
    /// the servers it forwards data calls to decide them, and its own
    /// cache is superseded by the change pushed to it.
    fn catch_up(&self) -> BoxFuture<'_, Result<(), ServerError>> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The rules a token carries in `datacenter`, as texts: its policies and
/// its roles' policies valid there, and its and its roles' identities'
/// synthetic policies. A link to a deleted policy or role gives nothing,
/// as in Consul.
pub fn token_rules(view: &View<'_>, token: &AclToken, datacenter: &str) -> Result<Vec<String>, StoreError> {
    let mut texts = Vec::new();
    let mut policies = token.policies.clone();
    let mut services: Vec<&ServiceIdentityRow> = token.service_identities.iter().collect();
    let mut nodes: Vec<&NodeIdentityRow> = token.node_identities.iter().collect();
    let roles: Vec<_> = token.roles.iter().filter_map(|id| view.acl_role(id).transpose()).collect::<Result<_, _>>()?;
    for role in &roles {
        policies.extend(role.policies.iter().cloned());
        services.extend(role.service_identities.iter());
        nodes.extend(role.node_identities.iter());
    }
    policies.sort();
    policies.dedup();
    for id in &policies {
        if let Some(policy) = view.acl_policy(id)? {
            if valid_in(&policy.datacenters, datacenter) {
                texts.push(policy.rules);
            }
        }
    }
    for row in services {
        let identity = ServiceIdentity { service_name: row.service_name.clone(), datacenters: row.datacenters.clone() };
        if identity.valid_in(datacenter) {
            texts.push(identity.rules_text());
        }
    }
    for row in nodes {
        let identity = NodeIdentity::new(row.node_name.clone(), row.datacenter.clone());
        if identity.valid_in(datacenter) {
            texts.push(identity.rules_text());
        }
    }
    Ok(texts)
}

/// One authorizer from rules texts. A text that does not parse fails the
/// whole resolution: skipping it could drop a deny.
pub fn compile(texts: &[String], default: DefaultPolicy) -> Result<Authorizer, AclError> {
    let rules = texts
        .iter()
        .map(|text| tessera_mesh::acl::parse(text).map_err(|e| AclError::Failed(format!("a stored policy: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Authorizer::new(rules.iter(), default))
}

/// A stored token's caller, read from one view.
pub fn caller_of(view: &View<'_>, token: &AclToken, tokens: &LocalTokens) -> Result<Caller, AclError> {
    let texts = token_rules(view, token, &tokens.datacenter).map_err(|e| AclError::Failed(e.to_string()))?;
    let authorizer = compile(&texts, tokens.default_policy)?;
    let expires_at = token.expiration_time.as_deref().and_then(resolve::parse_time);
    Ok(Caller::new(token.accessor_id.clone(), authorizer, expires_at))
}

/// ACLs disabled: every caller may do everything.
pub struct Disabled(pub DefaultPolicy);

impl TokenResolver for Disabled {
    fn resolve<'a>(&'a self, _secret: Option<&'a str>) -> BoxFuture<'a, Result<Arc<Caller>, AclError>> {
        Box::pin(std::future::ready(Ok(Caller::manage_all())))
    }

    fn default_policy(&self) -> DefaultPolicy {
        self.0
    }
}

/// ACLs enabled but no resolver given to the agent: fails closed.
pub struct Unconfigured(pub DefaultPolicy);

impl TokenResolver for Unconfigured {
    fn resolve<'a>(&'a self, _secret: Option<&'a str>) -> BoxFuture<'a, Result<Arc<Caller>, AclError>> {
        Box::pin(std::future::ready(Err(AclError::Failed("this agent has no token resolver".into()))))
    }

    /// Fails closed: every request is resolved, and refused.
    fn enforcing(&self) -> bool {
        true
    }

    fn default_policy(&self) -> DefaultPolicy {
        self.0
    }
}

/// What an agent resolves with until its mode gives it a real resolver.
pub fn initial(acl: &AclConfig) -> Arc<dyn TokenResolver> {
    match acl.enabled {
        false => Arc::new(Disabled(acl.default_policy)),
        true => Arc::new(Unconfigured(acl.default_policy)),
    }
}

/// What a server tells a client agent about a secret (`AgentApi.ResolveToken`):
/// the token and its rules texts; `None` when the secret resolves to
/// nothing. Anonymous before bootstrap has no rules.
pub fn rules_for_secret(
    view: &View<'_>,
    secret: &str,
    datacenter: &str,
) -> Result<Option<(AclToken, Vec<String>)>, StoreError> {
    match resolve::token_for_secret(view, secret)? {
        Some(token) => {
            let rules = token_rules(view, &token, datacenter)?;
            Ok(Some((token, rules)))
        }
        None if secret == ANONYMOUS_SECRET && view.acl_meta()?.hash_key.is_empty() => {
            let anonymous = AclToken { accessor_id: ANONYMOUS_TOKEN_ID.to_string(), ..AclToken::default() };
            Ok(Some((anonymous, Vec::new())))
        }
        None => Ok(None),
    }
}
