//! The tokens an agent holds itself: `acl.tokens.default` (for requests
//! and DNS lookups that carry none), `agent` (its own calls to servers)
//! and `agent_recovery` (resolved here, without any server). Shared by
//! both resolvers so they choose alike; `PUT /v1/agent/token/:type`
//! changes them while the agent runs, and with
//! `acl.enable_token_persistence` they are kept in the data dir.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::RwLock;

use serde::Deserialize;
use serde::Serialize;
use tessera_mesh::acl::Authorizer;
use tessera_mesh::acl::DefaultPolicy;
use tessera_mesh::acl::ANONYMOUS_TOKEN_ID;

use crate::acl::caller::Caller;
use crate::config::AclConfig;

/// The secret of the built-in anonymous token.
pub const ANONYMOUS_SECRET: &str = tessera_store::acl::ANONYMOUS_SECRET;

/// The accessor a recovery-token caller is named by in denials.
pub const AGENT_RECOVERY_ACCESSOR: &str = "agent-recovery";

/// Where persisted tokens are kept (Consul's file name).
pub const PERSISTED_FILE: &str = "acl-tokens.json";

/// Which of the agent's tokens `/v1/agent/token/:type` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Default,
    Agent,
    AgentRecovery,
    /// Accepted and kept: Tessera has no replication or config-file token uses.
    Replication,
    ConfigFileServiceRegistration,
    Dns,
}

impl TokenKind {
    /// Consul's names, the legacy ones included; None: `Token "<t>" is unknown`.
    pub fn from_path(name: &str) -> Option<TokenKind> {
        Some(match name {
            "default" | "acl_token" => TokenKind::Default,
            "agent" | "acl_agent_token" => TokenKind::Agent,
            "agent_recovery" | "agent_master" | "acl_agent_master_token" => TokenKind::AgentRecovery,
            "replication" | "acl_replication_token" => TokenKind::Replication,
            "config_file_service_registration" => TokenKind::ConfigFileServiceRegistration,
            "dns" => TokenKind::Dns,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct TokenSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    agent_recovery: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replication: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    config_file_service_registration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dns: Option<String>,
}

impl TokenSet {
    fn slot(&mut self, kind: TokenKind) -> &mut Option<String> {
        match kind {
            TokenKind::Default => &mut self.default,
            TokenKind::Agent => &mut self.agent,
            TokenKind::AgentRecovery => &mut self.agent_recovery,
            TokenKind::Replication => &mut self.replication,
            TokenKind::ConfigFileServiceRegistration => &mut self.config_file_service_registration,
            TokenKind::Dns => &mut self.dns,
        }
    }
}

#[derive(Debug, Clone)]
pub struct LocalTokens {
    pub enabled: bool,
    pub default_policy: DefaultPolicy,
    pub datacenter: String,
    node_name: String,
    set: Arc<RwLock<TokenSet>>,
    /// With `enable_token_persistence`: the file tokens set through the
    /// API are written to.
    persist_to: Option<PathBuf>,
}

fn given(token: &Option<String>) -> Option<String> {
    token.clone().filter(|t| !t.is_empty())
}

impl LocalTokens {
    pub fn new(acl: &AclConfig, datacenter: &str, node_name: &str) -> LocalTokens {
        let set = TokenSet {
            default: given(&acl.tokens.default),
            agent: given(&acl.tokens.agent),
            agent_recovery: given(&acl.tokens.agent_recovery),
            ..TokenSet::default()
        };
        LocalTokens {
            enabled: acl.enabled,
            default_policy: acl.default_policy,
            datacenter: datacenter.to_string(),
            node_name: node_name.to_string(),
            set: Arc::new(RwLock::new(set)),
            persist_to: None,
        }
    }

    /// Keeps API-set tokens in `data_dir` and loads those kept before,
    /// which win over the config's (Consul's order).
    pub fn persisted_in(mut self, data_dir: &std::path::Path) -> LocalTokens {
        let path = data_dir.join(PERSISTED_FILE);
        if let Ok(text) = std::fs::read_to_string(&path) {
            match serde_json::from_str::<TokenSet>(&text) {
                Ok(kept) => self.adopt(kept),
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "ignoring unreadable persisted ACL tokens")
                }
            }
        }
        self.persist_to = Some(path);
        self
    }

    fn adopt(&self, kept: TokenSet) {
        let mut set = self.set.write().expect("agent tokens lock");
        for kind in [TokenKind::Default, TokenKind::Agent, TokenKind::AgentRecovery, TokenKind::Dns] {
            if let Some(token) = kept.clone().slot(kind).clone().filter(|t| !t.is_empty()) {
                *set.slot(kind) = Some(token);
            }
        }
    }

    /// Sets one token; written to the data dir when persistence is on.
    pub fn set(&self, kind: TokenKind, token: Option<String>) -> std::io::Result<()> {
        let snapshot = {
            let mut set = self.set.write().expect("agent tokens lock");
            *set.slot(kind) = token.filter(|t| !t.is_empty());
            set.clone()
        };
        let Some(path) = &self.persist_to else { return Ok(()) };
        let text = serde_json::to_vec(&snapshot).map_err(std::io::Error::other)?;
        let temp = path.with_extension("json.tmp");
        std::fs::write(&temp, text)?;
        std::fs::rename(&temp, path)
    }

    /// `agent`, else `default`: what this agent presents on its own calls.
    pub fn agent_token(&self) -> Option<String> {
        let set = self.set.read().expect("agent tokens lock");
        set.agent.clone().or_else(|| set.default.clone())
    }

    /// The token a client agent sends with a call it forwards for a
    /// caller who gave none: its own default, else anonymous by name.
    pub fn forwarded(&self, secret: Option<String>) -> String {
        secret.or_else(|| self.default_token()).unwrap_or_else(|| ANONYMOUS_SECRET.to_string())
    }

    /// `dns`, else `default`: what DNS lookups run as.
    pub fn dns_token(&self) -> Option<String> {
        let set = self.set.read().expect("agent tokens lock");
        set.dns.clone().or_else(|| set.default.clone())
    }

    pub fn default_token(&self) -> Option<String> {
        self.set.read().expect("agent tokens lock").default.clone()
    }

    /// The secret to resolve and whether the caller chose it (`anonymous`
    /// given by name is the same as none: a client agent forwarding a
    /// call without a token names it, so the server's default token does
    /// not stand in for the client's).
    pub fn effective(&self, secret: Option<&str>) -> (String, bool) {
        match secret.filter(|s| !s.is_empty()) {
            Some(ANONYMOUS_SECRET) => (ANONYMOUS_SECRET.to_string(), true),
            Some(secret) => (secret.to_string(), false),
            None => (self.default_token().unwrap_or_else(|| ANONYMOUS_SECRET.to_string()), true),
        }
    }

    /// Consul's agent recovery token: write on this agent, read on every
    /// node, checked before any server is asked.
    pub fn recovery(&self, secret: &str) -> Option<Caller> {
        let is_recovery = self.set.read().expect("agent tokens lock").agent_recovery.as_deref() == Some(secret);
        if !is_recovery {
            return None;
        }
        let text = format!(
            "agent \"{}\" {{ policy = \"write\" }}\nnode_prefix \"\" {{ policy = \"read\" }}\n",
            self.node_name
        );
        let rules = tessera_mesh::acl::parse(&text).ok()?;
        Some(Caller::new(AGENT_RECOVERY_ACCESSOR, Authorizer::new([&rules], self.default_policy), None))
    }

    /// The anonymous caller before bootstrap (no token exists yet): the
    /// default policy alone decides.
    pub fn unbootstrapped_anonymous(&self) -> Caller {
        Caller::new(ANONYMOUS_TOKEN_ID, Authorizer::default_only(self.default_policy), None).implicit()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(dir: &std::path::Path) -> LocalTokens {
        let mut acl = AclConfig { enabled: true, default_policy: DefaultPolicy::Deny, ..AclConfig::default() };
        acl.tokens.default = Some("from-config".into());
        LocalTokens::new(&acl, "dc1", "n1").persisted_in(dir)
    }

    #[test]
    fn api_set_tokens_are_kept_and_win_over_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let first = tokens(dir.path());
        assert_eq!(first.effective(None), ("from-config".to_string(), true));
        first.set(TokenKind::Default, Some("from-api".into())).unwrap();
        first.set(TokenKind::Agent, Some("agent-secret".into())).unwrap();
        let again = tokens(dir.path());
        assert_eq!(again.effective(None).0, "from-api");
        assert_eq!(again.agent_token().as_deref(), Some("agent-secret"));
        assert_eq!(again.effective(Some("mine")), ("mine".to_string(), false));
    }

    #[test]
    fn the_recovery_token_writes_only_this_agent() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = tokens(dir.path());
        tokens.set(TokenKind::AgentRecovery, Some("rescue".into())).unwrap();
        let caller = tokens.recovery("rescue").expect("the recovery token resolves locally");
        use tessera_mesh::acl::Access;
        use tessera_mesh::acl::Resource;
        assert!(caller.allowed(Resource::Agent, "n1", Access::Write));
        assert!(!caller.allowed(Resource::Agent, "n2", Access::Write));
        assert!(caller.allowed(Resource::Node, "n2", Access::Read));
        assert!(tokens.recovery("other").is_none());
    }
}
