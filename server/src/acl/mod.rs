//! The ACL system: tokens, policies and roles as the HTTP API writes and
//! reads them, and the resolution every check starts from.
//!
//! - [`resolver`]: the [`resolver::TokenResolver`] every agent holds (a
//!   request's secret, or the default token, or anonymous, to a
//!   [`caller::Caller`]), and which rules a token carries; [`local`] is a
//!   server's, over its store, cached until the ACL table changes.
//! - [`caller`]: a resolved token, asked per resource by the APIs.
//! - [`resolve`]: a presented secret to its token (hash under the state's
//!   key, one index read), expiry, and whether a token manages everything.
//! - [`input`]: what a write asks for (links by ID or name, identities,
//!   expiry), checked against the state and turned into stored rows.
//! - [`writes`]: bootstrap, token, policy and role writes: the Commands
//!   proposed and their refusals as errors.
//!
//! Secrets are generated and hashed here, on the server that proposes the
//! write, so no Raft entry, snapshot or backup ever holds one.

pub mod caller;
pub mod input;
pub mod local;
pub mod resolve;
pub mod resolver;
pub mod tokens;
pub mod writes;

/// The file in the data dir that allows one more bootstrap (Consul's).
pub const BOOTSTRAP_RESET_FILE: &str = "acl-bootstrap-reset";
