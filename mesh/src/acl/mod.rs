//! Consul's ACL rules and the decision they make, pure: the rules language
//! ([`parse`] into [`Rules`]), service and node identities' synthetic
//! policies ([`identity`]), one token's [`Authorizer`], and Consul's
//! denial texts ([`errors`]). Storing tokens, policies and roles, and
//! resolving a request's token to its policies, are the server's; here a
//! token is the set of [`Rules`] it carries.
//!
//! # What is decided
//!
//! [`Authorizer::allowed`]`(resource, name, access)` answers Allow or Deny
//! for one request on one resource: `service:write` on `"web"`,
//! `key:list` on `"app/"`, `operator:read`, `intention:write` on the
//! destination `"db"`. Also [`Authorizer::key_write_prefix`] (a recursive
//! KV delete needs write on everything under the prefix) and the
//! any/all checks Consul uses for peered data.
//!
//! # Precedence
//!
//! 1. **Merge.** All policies of a token (its own, its roles', the
//!    synthetic ones of its service and node identities, each only where
//!    its datacenters allow) merge first. Rules on the same resource, the
//!    same kind (exact or prefix) and the same name keep the strongest
//!    level: **deny > write > list > read**. So a deny given by any
//!    attached policy on that name wins; rules on different names never
//!    merge. Service `intentions` merge separately from `policy`.
//! 2. **Match.** For a name, its exact rule decides; without one, the
//!    longest prefix rule covering it; `""` covers every name. Only that
//!    one rule is consulted: `service_prefix "web-" { policy = "deny" }`
//!    beats `service_prefix "" { policy = "write" }` for `web-1`, and
//!    `service "web-1" { policy = "read" }` beats both.
//! 3. **Levels.** write grants read, list and write; list (keys only)
//!    grants read and list; read grants read; deny grants nothing.
//! 4. **Intentions** are decided by service rules on the destination:
//!    their `intentions` level, or read when the service rule is read or
//!    write and deny when it is deny. Writing intentions on destination
//!    `*` needs write from every such rule; reading needs one.
//! 5. **Fallbacks.** `mesh` and `peering` use `operator` when unset. When
//!    no rule matches, `acl.default_policy` decides ([`DefaultPolicy`]),
//!    but `allow` never grants `acl` (ACL management, snapshots).
//!    [`Authorizer::manage_all`] (ACLs disabled) allows everything.
//!
//! The builtin `global-management` policy ([`Rules::global_management`])
//! is ordinary rules granting write on everything, so a token holding it
//! is allowed everything, unless another of its policies denies a name.
//!
//! Checks are lookups: [`Authorizer`] compiles the merged rules into one
//! byte trie per resource once, and a check walks the name through it.

mod authorizer;
pub mod errors;
pub mod identity;
pub mod names;
mod parse;
mod rules;
pub mod secret;
mod table;

pub use authorizer::Authorizer;
pub use authorizer::AuthorizerBuilder;
pub use authorizer::Decision;
pub use authorizer::DefaultPolicy;
pub use errors::permission_denied;
pub use errors::PermissionDenied;
pub use errors::ACL_NOT_FOUND;
pub use errors::ANONYMOUS_TOKEN_ID;
pub use identity::NodeIdentity;
pub use identity::ServiceIdentity;
pub use identity::SyntheticPolicy;
pub use parse::parse;
pub use parse::RulesError;
pub use rules::Access;
pub use rules::Level;
pub use rules::NamedRule;
pub use rules::Resource;
pub use rules::Rules;
pub use rules::Section;
pub use rules::GLOBAL_MANAGEMENT_POLICY_ID;
pub use rules::GLOBAL_MANAGEMENT_RULES;

#[cfg(test)]
mod tests;
