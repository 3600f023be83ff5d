//! The Tessera agent process, in layers that depend only downwards
//! (`scripts/check-layers.py` checks there is no import cycle):
//!
//! - foundations: [`config`], [`data_dir`], [`transport`] (every gRPC channel
//!   and listener), [`health`] (instances with their checks, from a store
//!   view), [`tasks`] (the one tracker of long-lived tasks), [`metrics`] (the
//!   agent's series, which every layer records into), [`monitor`] (log lines
//!   for `/v1/agent/monitor`), [`version`], [`limits`] (the listeners'
//!   per-address counters), [`fd_limit`];
//! - [`consensus`]: the Raft node, write batching, forwarding to the leader;
//! - [`cluster`]: bootstrap and joining, membership, the cluster id, liveness;
//! - [`connect`]: the CA, roots, intentions, what WatchConnect sends;
//! - [`agent`]: this host's services, checks, anti-entropy and leaf cache,
//!   reaching the catalog and the CA only through its own traits
//!   (`CatalogSink`, `LeafSigner`);
//! - the modes that implement them: [`server_mode`] (in-process, through the
//!   local server) and [`client_agent`] (over gRPC to the servers);
//! - the APIs: [`http`], [`dns`], [`grpc`];
//! - [`start`]: the wiring that binds listeners and runs it all.
//!
//! The durable state is the `tessera-store` crate, the domain types
//! `tessera-mesh`, the wire `tessera-proto`.
#![forbid(unsafe_code)]

pub mod acl;
pub mod agent;
pub mod client_agent;
pub mod cluster;
pub mod config;
pub mod connect;
pub mod consensus;
pub mod data_dir;
pub mod disk;
pub mod dns;
pub mod fd_limit;
pub mod grpc;
pub mod health;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod monitor;
pub mod server_mode;
pub mod start;
pub mod tasks;
pub mod version;
/// gRPC channels and listeners (shared with sidecars; TLS goes there).
pub mod transport {
    pub use tessera_proto::transport::*;
}

pub use start::run;
pub use start::AgentError;
