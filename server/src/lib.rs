//! The Tessera agent process. In server mode it keeps the replicated state
//! (openraft on RocksDB) and serves the HTTP API and the server RPC port.
#![forbid(unsafe_code)]

pub mod command;
pub mod store;
pub mod types;
