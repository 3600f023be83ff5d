//! Consensus: the Raft node and everything that gets a write or a read to
//! the leader. [`raft`] carries openraft's RPCs between servers,
//! [`proposer`] batches writes into log entries, [`forward`] calls the
//! leader from a follower, [`observe`] follows Raft's state into the
//! metrics, [`discovery`] holds the servers this one knows
//! of, [`read_rounds`] lets concurrent read barriers share a round, [`server`] is the running node every layer above reaches the
//! replicated state through, and [`error`] maps its errors to gRPC and HTTP.

pub mod discovery;
pub mod error;
pub mod forward;
pub mod observe;
pub mod once;
pub mod proposer;
pub mod raft;
mod read_rounds;
pub mod server;

pub use error::Attempt;
pub use error::ServerError;
pub use server::Consistency;
pub use server::Server;
