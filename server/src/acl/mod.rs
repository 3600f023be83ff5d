//! The ACL system on a server: tokens, policies and roles as the HTTP API
//! writes and reads them. Not enforcement: nothing outside `/v1/acl/*`
//! checks a token yet (the next step builds a `tessera_mesh::acl::Authorizer`
//! from [`resolve::token_for_secret`]'s token).
//!
//! - [`resolve`]: a presented secret to its token (hash under the state's
//!   key, one index read), expiry, and whether a token manages everything.
//! - [`input`]: what a write asks for (links by ID or name, identities,
//!   expiry), checked against the state and turned into stored rows.
//! - [`writes`]: bootstrap, token, policy and role writes: the Commands
//!   proposed and their refusals as errors.
//!
//! Secrets are generated and hashed here, on the server that proposes the
//! write, so no Raft entry, snapshot or backup ever holds one.

pub mod input;
pub mod resolve;
pub mod writes;

/// The file in the data dir that allows one more bootstrap (Consul's).
pub const BOOTSTRAP_RESET_FILE: &str = "acl-bootstrap-reset";
