//! Who a request comes from, as the ACL checks see it: a token's accessor
//! and its compiled [`Authorizer`], resolved once per request (and cached
//! by the resolvers), then asked per resource.

use std::sync::Arc;
use std::sync::LazyLock;

use tessera_mesh::acl::Access;
use tessera_mesh::acl::Authorizer;
use tessera_mesh::acl::PermissionDenied;
use tessera_mesh::acl::Resource;
use tessera_mesh::acl::ACL_NOT_FOUND;
use time::OffsetDateTime;

/// A resolved token.
#[derive(Debug)]
pub struct Caller {
    accessor_id: String,
    authorizer: Authorizer,
    /// The token's expiration: past it, a cached caller is resolved again
    /// (and then is not found).
    expires_at: Option<OffsetDateTime>,
    /// Whether the request presented no secret of its own (anonymous or
    /// the agent's default token): such callers are not told that
    /// results were filtered (Consul's `maskResultsFilteredByACLs`).
    implicit: bool,
}

/// Why a token gives nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    /// An unknown, deleted or expired secret: Consul's 403 `ACL not found`.
    #[error("{ACL_NOT_FOUND}")]
    NotFound,
    #[error("{0}")]
    Denied(PermissionDenied),
    /// The token could not be resolved (the state could not be read, a
    /// stored policy did not parse, no server answered under
    /// `down_policy = deny`). Fails closed.
    #[error("ACL resolution failed: {0}")]
    Failed(String),
}

static MANAGE_ALL: LazyLock<Arc<Caller>> = LazyLock::new(|| {
    Arc::new(Caller {
        accessor_id: String::new(),
        authorizer: Authorizer::manage_all(),
        expires_at: None,
        implicit: true,
    })
});

impl Caller {
    pub fn new(accessor_id: impl Into<String>, authorizer: Authorizer, expires_at: Option<OffsetDateTime>) -> Caller {
        Caller { accessor_id: accessor_id.into(), authorizer, expires_at, implicit: false }
    }

    /// ACLs disabled: everything is allowed.
    pub fn manage_all() -> Arc<Caller> {
        MANAGE_ALL.clone()
    }

    /// The same caller marked as one that presented no secret.
    pub fn implicit(mut self) -> Caller {
        self.implicit = true;
        self
    }

    pub fn accessor_id(&self) -> &str {
        &self.accessor_id
    }

    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    pub fn is_implicit(&self) -> bool {
        self.implicit
    }

    pub fn expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }

    pub fn allowed(&self, resource: Resource, name: &str, access: Access) -> bool {
        self.authorizer.allowed(resource, name, access).is_allowed()
    }

    /// Allowed, or Consul's denial naming this token, the permission and the name.
    pub fn require(&self, resource: Resource, name: &str, access: Access) -> Result<(), AclError> {
        self.authorizer.check(&self.accessor_id, resource, name, access).map_err(AclError::Denied)
    }

    pub fn require_key_write_prefix(&self, prefix: &str) -> Result<(), AclError> {
        match self.authorizer.key_write_prefix(prefix).is_allowed() {
            true => Ok(()),
            false => {
                Err(AclError::Denied(PermissionDenied::new(&self.accessor_id, Resource::Key, Access::Write, prefix)))
            }
        }
    }

    pub fn service_read(&self, name: &str) -> bool {
        self.allowed(Resource::Service, name, Access::Read)
    }

    pub fn node_read(&self, name: &str) -> bool {
        self.allowed(Resource::Node, name, Access::Read)
    }
}
