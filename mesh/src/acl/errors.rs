//! Consul's texts for refused requests (its `acl/errors.go`); any text
//! containing `Permission denied` or `ACL not found` is a 403.

use std::fmt;

use super::rules::Access;
use super::rules::Resource;

/// An unknown or expired secret.
pub const ACL_NOT_FOUND: &str = "ACL not found";

/// The prefix of every denial (what `IsErrPermissionDenied` looks for).
pub const PERMISSION_DENIED: &str = "Permission denied";

/// The built-in anonymous token's AccessorID.
pub const ANONYMOUS_TOKEN_ID: &str = "00000000-0000-0000-0000-000000000002";

/// A check that was denied, for the 403 body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermissionDenied {
    pub accessor_id: String,
    pub resource: Resource,
    pub access: Access,
    /// The resource's name; empty for resources without one.
    pub name: String,
}

impl PermissionDenied {
    pub fn new(accessor_id: &str, resource: Resource, access: Access, name: &str) -> PermissionDenied {
        PermissionDenied { accessor_id: accessor_id.to_string(), resource, access, name: name.to_string() }
    }
}

/// `Permission denied: token with AccessorID '<id>' lacks permission
/// 'service:write' on "web"`; without `on ...` when there is no name. The
/// anonymous token is named as such, with Consul's hint about it.
impl fmt::Display for PermissionDenied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let anonymous = self.accessor_id == ANONYMOUS_TOKEN_ID;
        if anonymous {
            write!(f, "{PERMISSION_DENIED}: anonymous token")?;
        } else {
            write!(f, "{PERMISSION_DENIED}: token with AccessorID '{}'", self.accessor_id)?;
        }
        write!(f, " lacks permission '{}:{}'", self.resource, self.access)?;
        if !self.name.is_empty() {
            write!(f, " on \"{}\"", self.name)?;
        }
        if anonymous {
            f.write_str(". The anonymous token is used implicitly when a request does not specify a token.")?;
        }
        Ok(())
    }
}

impl std::error::Error for PermissionDenied {}

/// The denial text for one check.
pub fn permission_denied(accessor_id: &str, resource: Resource, access: Access, name: &str) -> String {
    PermissionDenied::new(accessor_id, resource, access, name).to_string()
}

/// A denial with a cause only: `Permission denied: <cause>`.
pub fn permission_denied_because(cause: &str) -> String {
    format!("{PERMISSION_DENIED}: {cause}")
}
