//! The vocabulary of Consul's ACL rules: the levels a rule grants, the
//! access a request needs, the resources, and one parsed policy
//! ([`Rules`]). Plain data; [`super::parse`] builds it from text and
//! [`super::Authorizer`] compiles it for lookups.

use std::fmt;

/// What a rule grants (`policy = "..."`). `List` is valid on keys only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    Deny,
    Read,
    List,
    Write,
}

impl Level {
    /// The level a rules value names, any case (Consul lower-cases before
    /// comparing). `None` for anything else, `""` included.
    pub fn from_word(word: &str) -> Option<Level> {
        match word.to_ascii_lowercase().as_str() {
            "deny" => Some(Level::Deny),
            "read" => Some(Level::Read),
            "list" => Some(Level::List),
            "write" => Some(Level::Write),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Deny => "deny",
            Level::Read => "read",
            Level::List => "list",
            Level::Write => "write",
        }
    }

    /// Rank when several policies give a rule for the same key: the higher
    /// wins (Consul's `takesPrecedenceOver`: deny > write > list > read).
    /// A deny anywhere therefore survives the merge.
    pub(crate) fn merge_rank(self) -> u8 {
        match self {
            Level::Read => 1,
            Level::List => 2,
            Level::Write => 3,
            Level::Deny => 4,
        }
    }

    /// Whether this level grants `access`: write grants everything, list
    /// grants list and read, read only read, deny nothing.
    pub fn grants(self, access: Access) -> bool {
        match self {
            Level::Write => true,
            Level::List => matches!(access, Access::List | Access::Read),
            Level::Read => access == Access::Read,
            Level::Deny => false,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The access a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    Read,
    /// Listing keys under a prefix (`?keys`, `?recurse` with
    /// `enable_key_list_policy`); only key rules grant it specially.
    List,
    Write,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::List => "list",
            Access::Write => "write",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request touches, as Consul's denial texts name it.
/// `Intention` has no rules of its own: it is decided by the `intentions`
/// of service rules, on the intention's destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Acl,
    Agent,
    Event,
    Intention,
    Key,
    Keyring,
    Mesh,
    Node,
    Operator,
    Peering,
    Query,
    Service,
    Session,
}

impl Resource {
    pub const ALL: [Resource; 13] = [
        Resource::Acl,
        Resource::Agent,
        Resource::Event,
        Resource::Intention,
        Resource::Key,
        Resource::Keyring,
        Resource::Mesh,
        Resource::Node,
        Resource::Operator,
        Resource::Peering,
        Resource::Query,
        Resource::Service,
        Resource::Session,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Acl => "acl",
            Resource::Agent => "agent",
            Resource::Event => "event",
            Resource::Intention => "intention",
            Resource::Key => "key",
            Resource::Keyring => "keyring",
            Resource::Mesh => "mesh",
            Resource::Node => "node",
            Resource::Operator => "operator",
            Resource::Peering => "peering",
            Resource::Query => "query",
            Resource::Service => "service",
            Resource::Session => "session",
        }
    }

    /// Whether rules for this resource are per name (exact and prefix
    /// rules) rather than one value for the whole cluster.
    pub fn is_named(self) -> bool {
        !matches!(self, Resource::Acl | Resource::Keyring | Resource::Mesh | Resource::Operator | Resource::Peering)
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rules keyword for named rules: the resource and whether the name is
/// exact (`service "web"`) or a prefix (`service_prefix "web-"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    Agent,
    AgentPrefix,
    Key,
    KeyPrefix,
    Node,
    NodePrefix,
    Service,
    ServicePrefix,
    Session,
    SessionPrefix,
    Event,
    EventPrefix,
    Query,
    QueryPrefix,
}

impl Section {
    /// Every section, in the order Consul validates them (so the first
    /// error reported is the one Consul reports).
    pub const ALL: [Section; 14] = [
        Section::Agent,
        Section::AgentPrefix,
        Section::Key,
        Section::KeyPrefix,
        Section::Node,
        Section::NodePrefix,
        Section::Service,
        Section::ServicePrefix,
        Section::Session,
        Section::SessionPrefix,
        Section::Event,
        Section::EventPrefix,
        Section::Query,
        Section::QueryPrefix,
    ];

    pub fn keyword(self) -> &'static str {
        match self {
            Section::Agent => "agent",
            Section::AgentPrefix => "agent_prefix",
            Section::Key => "key",
            Section::KeyPrefix => "key_prefix",
            Section::Node => "node",
            Section::NodePrefix => "node_prefix",
            Section::Service => "service",
            Section::ServicePrefix => "service_prefix",
            Section::Session => "session",
            Section::SessionPrefix => "session_prefix",
            Section::Event => "event",
            Section::EventPrefix => "event_prefix",
            Section::Query => "query",
            Section::QueryPrefix => "query_prefix",
        }
    }

    pub fn from_keyword(word: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.keyword() == word)
    }

    pub fn resource(self) -> Resource {
        match self {
            Section::Agent | Section::AgentPrefix => Resource::Agent,
            Section::Key | Section::KeyPrefix => Resource::Key,
            Section::Node | Section::NodePrefix => Resource::Node,
            Section::Service | Section::ServicePrefix => Resource::Service,
            Section::Session | Section::SessionPrefix => Resource::Session,
            Section::Event | Section::EventPrefix => Resource::Event,
            Section::Query | Section::QueryPrefix => Resource::Query,
        }
    }

    pub fn is_prefix(self) -> bool {
        matches!(
            self,
            Section::AgentPrefix
                | Section::KeyPrefix
                | Section::NodePrefix
                | Section::ServicePrefix
                | Section::SessionPrefix
                | Section::EventPrefix
                | Section::QueryPrefix
        )
    }

    /// The section for a resource and match kind; `None` for resources
    /// without named rules (and for `Intention`, which lives in service
    /// rules).
    pub fn of(resource: Resource, prefix: bool) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.resource() == resource && s.is_prefix() == prefix)
    }
}

/// One named rule: `service_prefix "web-" { policy = "write" intentions = "read" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRule {
    pub section: Section,
    /// The exact name, or the prefix (`""` matches every name).
    pub name: String,
    pub level: Level,
    /// Service rules only: the level on intentions whose destination this
    /// rule covers. `None` derives it from `level` when compiled.
    pub intentions: Option<Level>,
}

impl NamedRule {
    pub fn new(section: Section, name: impl Into<String>, level: Level) -> NamedRule {
        NamedRule { section, name: name.into(), level, intentions: None }
    }

    pub fn with_intentions(mut self, level: Level) -> NamedRule {
        self.intentions = Some(level);
        self
    }
}

/// One policy's rules, as parsed. Scalars are `None` when not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub acl: Option<Level>,
    pub keyring: Option<Level>,
    pub operator: Option<Level>,
    /// Falls back to `operator` when unset (Consul's MeshRead/MeshWrite).
    pub mesh: Option<Level>,
    /// Falls back to `operator` when unset.
    pub peering: Option<Level>,
    /// Named rules, in the decoder's order (by keyword, then name; a
    /// repeated block after the first). Order never changes a decision.
    pub named: Vec<NamedRule>,
}

impl Rules {
    /// The scalar rule for a resource without names; `None` for named
    /// resources or when unset.
    pub fn scalar(&self, resource: Resource) -> Option<Level> {
        match resource {
            Resource::Acl => self.acl,
            Resource::Keyring => self.keyring,
            Resource::Operator => self.operator,
            Resource::Mesh => self.mesh,
            Resource::Peering => self.peering,
            _ => None,
        }
    }

    pub(crate) fn scalar_mut(&mut self, resource: Resource) -> Option<&mut Option<Level>> {
        match resource {
            Resource::Acl => Some(&mut self.acl),
            Resource::Keyring => Some(&mut self.keyring),
            Resource::Operator => Some(&mut self.operator),
            Resource::Mesh => Some(&mut self.mesh),
            Resource::Peering => Some(&mut self.peering),
            _ => None,
        }
    }

    /// The builtin `global-management` policy's rules: write on everything,
    /// intentions included.
    pub fn global_management() -> Rules {
        super::parse(GLOBAL_MANAGEMENT_RULES).expect("the global-management rules parse")
    }
}

/// The ID of the builtin `global-management` policy.
pub const GLOBAL_MANAGEMENT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000001";

/// The rules text of the builtin `global-management` policy, as Consul
/// stores it (its rules cannot be changed).
pub const GLOBAL_MANAGEMENT_RULES: &str = r#"
acl = "write"
agent_prefix "" {
  policy = "write"
}
event_prefix "" {
  policy = "write"
}
key_prefix "" {
  policy = "write"
}
keyring = "write"
node_prefix "" {
  policy = "write"
}
operator = "write"
mesh = "write"
peering = "write"
query_prefix "" {
  policy = "write"
}
service_prefix "" {
  policy = "write"
  intentions = "write"
}
session_prefix "" {
  policy = "write"
}"#;
