//! Tessera's domain core: what the mesh is made of and how it decides, apart
//! from any wire or disk. The service catalog's vocabulary ([`catalog`]:
//! nodes, services, checks, definition files, sidecar expansion, durations)
//! and Connect's ([`connect`]: SPIFFE identities, intentions and their
//! evaluation, the CA's certificate work, a workload's key and CSR).
//! [`filter`] evaluates Consul's `?filter=` expressions over API answers' JSON;
//! [`agent_config`] decodes and merges Consul's agent config files;
//! [`acl`] parses Consul's ACL rules and decides what a token may do; [`api`]
//! is Consul's HTTP API answers as types, shared by the server that writes
//! them and the CLI and tests that read them.
//!
//! Pure data and pure functions: no sockets, no files, no clocks beyond what
//! a certificate needs. Servers, client agents, sidecars and the CLI all
//! decide with these same functions, so an answer never depends on which of
//! them was asked. Some types here are also stored formats (they sit inside
//! Raft log entries and table rows); each says so in its documentation.
#![forbid(unsafe_code)]

pub mod acl;
pub mod agent_config;
pub mod agent_tls;
pub mod api;
pub mod catalog;
pub mod connect;
pub mod decode;
pub mod filter;
pub mod hcl1;
