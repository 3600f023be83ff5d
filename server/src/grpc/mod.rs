//! The gRPC services: [`cluster`] (server to server: discovery, joining,
//! forwarded writes and reads, peer removal, leaf signing on the leader),
//! [`agent_api`] (client agents to servers: their HTTP and DNS calls, sync,
//! heartbeats, leaves, the WatchConnect stream) and [`proxy_api`] (local
//! sidecars to their agent). Every channel and listener is built in
//! [`crate::transport`].

pub mod agent_api;
pub mod cluster;
pub mod proxy_api;
