//! One token's authorizer: its policies merged, compiled into per-resource
//! tables, and chained to the agent's `default_policy`.

use std::collections::HashMap;

use super::identity::valid_in;
use super::identity::NodeIdentity;
use super::identity::ServiceIdentity;
use super::rules::Access;
use super::rules::Level;
use super::rules::NamedRule;
use super::rules::Resource;
use super::rules::Rules;
use super::rules::Section;
use super::table::NameTable;
use super::table::Verdict;

/// `acl.default_policy`: what is decided when no rule of the token speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DefaultPolicy {
    /// Consul's default.
    #[default]
    Allow,
    Deny,
}

impl DefaultPolicy {
    /// Reads the config value; other values get Consul's message.
    pub fn from_config(value: &str) -> Result<DefaultPolicy, String> {
        match value {
            "allow" => Ok(DefaultPolicy::Allow),
            "deny" => Ok(DefaultPolicy::Deny),
            other => Err(format!("Unsupported default ACL policy: {other}")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DefaultPolicy::Allow => "allow",
            DefaultPolicy::Deny => "deny",
        }
    }
}

/// The answer to one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// What decides when the token's rules do not: Consul's static
/// authorizers (manageAll, allowAll, denyAll). `Allow` still refuses ACL management (and snapshots,
/// which are `acl:write`): `default_policy = "allow"` never hands out the
/// ACL system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// Everything, ACL management included.
    Manage,
    /// Everything but ACL management.
    Allow,
    Deny,
}

impl Fallback {
    fn decide(self, resource: Resource) -> Decision {
        match (self, resource) {
            (Fallback::Manage, _) => Decision::Allow,
            (Fallback::Allow, Resource::Acl) => Decision::Deny,
            (Fallback::Allow, _) => Decision::Allow,
            (Fallback::Deny, _) => Decision::Deny,
        }
    }

    fn resolve(self, verdict: Verdict, resource: Resource) -> Decision {
        match verdict {
            Verdict::Allow => Decision::Allow,
            Verdict::Deny => Decision::Deny,
            Verdict::Default => self.decide(resource),
        }
    }
}

/// The compiled rules of one token, ready for checks: each check is a walk
/// of one name through one table, nothing is parsed or merged again. Build
/// it once per token (and policy set) and keep it.
///
/// Precedence, as Consul's policy authorizer:
/// 1. the token's policies (its own, its roles', its identities' synthetic
///    ones) are merged first: rules with the same resource, kind and name
///    keep the strongest level, deny > write > list > read (for service
///    rules `policy` and `intentions` separately);
/// 2. for a name, an exact rule wins over prefix rules, and the longest
///    matching prefix wins over shorter ones; only that rule decides
///    (a deny on `web-` beats a write on `""` for `web-1`);
/// 3. `mesh` and `peering` fall back to `operator` when unset;
/// 4. when no rule matches, `default_policy` decides, except that ACL
///    management is never granted by `allow`.
#[derive(Debug, Clone)]
pub struct Authorizer {
    tables: Tables,
    scalars: Scalars,
    fallback: Fallback,
}

#[derive(Debug, Clone, Default)]
struct Tables {
    agent: NameTable,
    event: NameTable,
    intention: NameTable,
    key: NameTable,
    node: NameTable,
    query: NameTable,
    service: NameTable,
    session: NameTable,
}

impl Tables {
    fn get(&self, resource: Resource) -> Option<&NameTable> {
        match resource {
            Resource::Agent => Some(&self.agent),
            Resource::Event => Some(&self.event),
            Resource::Intention => Some(&self.intention),
            Resource::Key => Some(&self.key),
            Resource::Node => Some(&self.node),
            Resource::Query => Some(&self.query),
            Resource::Service => Some(&self.service),
            Resource::Session => Some(&self.session),
            _ => None,
        }
    }

    fn get_mut(&mut self, resource: Resource) -> Option<&mut NameTable> {
        match resource {
            Resource::Agent => Some(&mut self.agent),
            Resource::Event => Some(&mut self.event),
            Resource::Intention => Some(&mut self.intention),
            Resource::Key => Some(&mut self.key),
            Resource::Node => Some(&mut self.node),
            Resource::Query => Some(&mut self.query),
            Resource::Service => Some(&mut self.service),
            Resource::Session => Some(&mut self.session),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Scalars {
    acl: Option<Level>,
    keyring: Option<Level>,
    operator: Option<Level>,
    mesh: Option<Level>,
    peering: Option<Level>,
}

impl Authorizer {
    /// A token's authorizer from its policies' rules (already filtered to
    /// those valid in this datacenter; see [`Authorizer::builder`]).
    pub fn new<'a>(policies: impl IntoIterator<Item = &'a Rules>, default: DefaultPolicy) -> Authorizer {
        let mut merger = Merger::default();
        policies.into_iter().for_each(|rules| merger.add(rules));
        merger.compile(default)
    }

    /// Collects a token's policies, roles' policies and identities for
    /// the datacenter `datacenter`, skipping those not valid there.
    pub fn builder(default: DefaultPolicy, datacenter: impl Into<String>) -> AuthorizerBuilder {
        AuthorizerBuilder { default, datacenter: datacenter.into(), merger: Merger::default() }
    }

    /// Allows everything, ACL management included: ACLs disabled.
    pub fn manage_all() -> Authorizer {
        Authorizer { tables: Tables::default(), scalars: Scalars::default(), fallback: Fallback::Manage }
    }

    /// A token with no rules: `default_policy` alone decides.
    pub fn default_only(default: DefaultPolicy) -> Authorizer {
        Authorizer::new([], default)
    }

    /// May this token have `access` to `name` of `resource`? `name` is
    /// ignored for resources without names (acl, keyring, operator, mesh,
    /// peering). For `Intention`, `name` is the destination service; the
    /// destination `*` needs the access on every intentions rule to write,
    /// on some rule to read (Consul's IntentionWrite/IntentionRead on `*`).
    pub fn allowed(&self, resource: Resource, name: &str, access: Access) -> Decision {
        self.fallback.resolve(self.verdict(resource, name, access), resource)
    }

    fn verdict(&self, resource: Resource, name: &str, access: Access) -> Verdict {
        match resource {
            Resource::Acl => scalar(self.scalars.acl, access),
            Resource::Keyring => scalar(self.scalars.keyring, access),
            Resource::Operator => scalar(self.scalars.operator, access),
            Resource::Mesh => scalar(self.scalars.mesh.or(self.scalars.operator), access),
            Resource::Peering => scalar(self.scalars.peering.or(self.scalars.operator), access),
            Resource::Intention if name == "*" => match access {
                Access::Write => self.tables.intention.all_allowed(access),
                _ => self.tables.intention.any_allowed(access),
            },
            named => {
                let table = self.tables.get(named).expect("named resources have tables");
                table.lookup(name).map_or(Verdict::Default, |level| Verdict::of(level, access))
            }
        }
    }

    /// May everything under the key prefix be written (`DELETE
    /// /v1/kv/<prefix>?recurse`, txn delete-tree)? Needs write from the
    /// longest prefix rule covering `prefix` and from every rule under it.
    pub fn key_write_prefix(&self, prefix: &str) -> Decision {
        self.fallback.resolve(self.tables.key.write_prefix(prefix), Resource::Key)
    }

    /// Service write on some name (Consul's ServiceWriteAny: a locally
    /// authenticated workload, which may read peered data).
    pub fn service_write_any(&self) -> Decision {
        self.fallback.resolve(self.tables.service.any_allowed(Access::Write), Resource::Service)
    }

    /// Service read on every name (Consul's ServiceReadAll).
    pub fn service_read_all(&self) -> Decision {
        self.fallback.resolve(self.tables.service.all_allowed(Access::Read), Resource::Service)
    }

    /// Node read on every name (Consul's NodeReadAll).
    pub fn node_read_all(&self) -> Decision {
        self.fallback.resolve(self.tables.node.all_allowed(Access::Read), Resource::Node)
    }
}

fn scalar(level: Option<Level>, access: Access) -> Verdict {
    level.map_or(Verdict::Default, |l| Verdict::of(l, access))
}

/// Gathers what a token carries, valid in one datacenter, then builds its
/// [`Authorizer`].
#[derive(Debug, Clone)]
pub struct AuthorizerBuilder {
    default: DefaultPolicy,
    datacenter: String,
    merger: Merger,
}

impl AuthorizerBuilder {
    /// A policy (the token's or a role's) valid in `datacenters` (all when
    /// empty).
    pub fn policy(mut self, rules: &Rules, datacenters: &[String]) -> AuthorizerBuilder {
        if valid_in(datacenters, &self.datacenter) {
            self.merger.add(rules);
        }
        self
    }

    /// A service identity's synthetic policy, if valid here.
    pub fn service_identity(mut self, identity: &ServiceIdentity) -> AuthorizerBuilder {
        if identity.valid_in(&self.datacenter) {
            self.merger.add(&identity.rules());
        }
        self
    }

    /// A node identity's synthetic policy, if its datacenter is this one.
    pub fn node_identity(mut self, identity: &NodeIdentity) -> AuthorizerBuilder {
        if identity.valid_in(&self.datacenter) {
            self.merger.add(&identity.rules());
        }
        self
    }

    pub fn build(self) -> Authorizer {
        self.merger.compile(self.default)
    }
}

/// Consul's policy merge: per (section, name) the strongest level, service
/// `intentions` merged on their own (an unset one loses to any set one).
#[derive(Debug, Clone, Default)]
struct Merger {
    scalars: Scalars,
    named: HashMap<(Section, String), Merged>,
}

#[derive(Debug, Clone, Copy)]
struct Merged {
    level: Level,
    intentions: Option<Level>,
}

fn stronger(a: Option<Level>, b: Option<Level>) -> Option<Level> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.merge_rank() > x.merge_rank() { y } else { x }),
        (x, y) => x.or(y),
    }
}

impl Merger {
    fn add(&mut self, rules: &Rules) {
        let s = &mut self.scalars;
        s.acl = stronger(s.acl, rules.acl);
        s.keyring = stronger(s.keyring, rules.keyring);
        s.operator = stronger(s.operator, rules.operator);
        s.mesh = stronger(s.mesh, rules.mesh);
        s.peering = stronger(s.peering, rules.peering);
        rules.named.iter().for_each(|rule| self.add_named(rule));
    }

    fn add_named(&mut self, rule: &NamedRule) {
        let key = (rule.section, rule.name.clone());
        let merged = self.named.entry(key).or_insert(Merged { level: rule.level, intentions: None });
        merged.level = stronger(Some(merged.level), Some(rule.level)).unwrap_or(rule.level);
        merged.intentions = stronger(merged.intentions, rule.intentions);
    }

    fn compile(self, default: DefaultPolicy) -> Authorizer {
        let mut tables = Tables::default();
        for ((section, name), merged) in &self.named {
            let prefix = section.is_prefix();
            let resource = section.resource();
            if let Some(table) = tables.get_mut(resource) {
                table.insert(name, prefix, merged.level);
            }
            if resource == Resource::Service {
                let intentions = merged.intentions.unwrap_or_else(|| derived_intentions(merged.level));
                tables.intention.insert(name, prefix, intentions);
            }
        }
        let fallback = match default {
            DefaultPolicy::Allow => Fallback::Allow,
            DefaultPolicy::Deny => Fallback::Deny,
        };
        Authorizer { tables, scalars: self.scalars, fallback }
    }
}

/// A service rule without `intentions`: read or write on the service
/// reads its intentions; deny denies them.
pub(crate) fn derived_intentions(service: Level) -> Level {
    match service {
        Level::Read | Level::Write => Level::Read,
        Level::Deny | Level::List => Level::Deny,
    }
}

impl Authorizer {
    /// [`Authorizer::allowed`] as a result carrying Consul's denial for
    /// the token `accessor_id` (the name is left out of the text for
    /// resources without names).
    pub fn check(
        &self,
        accessor_id: &str,
        resource: Resource,
        name: &str,
        access: Access,
    ) -> Result<(), super::errors::PermissionDenied> {
        match self.allowed(resource, name, access) {
            Decision::Allow => Ok(()),
            Decision::Deny => {
                let shown = if resource.is_named() { name } else { "" };
                Err(super::errors::PermissionDenied::new(accessor_id, resource, access, shown))
            }
        }
    }
}
